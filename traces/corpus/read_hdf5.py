#!/usr/bin/python3
"""The HDF5 workload: h5py hyperslab reads of a chunked, compressed dataset.

Usage: read_hdf5.py FILE.h5

Reads what an analysis script would: the coordinate vectors, a band of rows, a band of columns (which
touches one chunk per chunk-row, far apart in the file), a small box, and a strided sub-sampling.
HDF5's default chunk cache is 1 MiB and does not keep chunks that do not fit in it (ours are 1 MiB
uncompressed), so every selection reads its chunks from the file again.
"""
import sys

import h5py


def main() -> None:
    with h5py.File(sys.argv[1], "r") as f:
        d = f["temperature"]
        total = float(f["lat"][:].sum()) + float(f["lon"][:].sum())
        total += float(d[1000:1200, :].sum())        # a band of rows: two chunk rows, 32 chunks
        total += float(d[:, 2048:2100].sum())         # a band of columns: 16 chunks, one per chunk row
        total += float(d[3000:3100, 700:900].sum())   # a small box: 1 chunk
        total += float(d[::1024, ::1024].sum())       # strided: every other chunk row and column, 64 chunks
        total += float(d[1000:1200, :].sum())         # the first band again: read again
        print(f"hdf5 checksum {total:.3f}")


if __name__ == "__main__":
    main()
