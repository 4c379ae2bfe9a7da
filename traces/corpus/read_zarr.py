#!/usr/bin/python3
"""The zarr workload: slices of a chunked array through zarr v2, from a directory store opened with
consolidated metadata, or from a zip store.

Usage: read_zarr.py dir STORE.zarr | read_zarr.py zip STORE.zip

The selections are those of read_hdf5.py (row band, column band, small box, strided, the row band
again), so the two formats can be compared. zarr keeps no chunk cache: every selection reads its chunks.
"""
import sys

import zarr


def main() -> None:
    kind, path = sys.argv[1], sys.argv[2]
    store = zarr.DirectoryStore(path) if kind == "dir" else zarr.ZipStore(path, mode="r")
    root = zarr.open_consolidated(store, mode="r")
    d = root["temperature"]
    total = float(root["lat"][:].sum()) + float(root["lon"][:].sum())
    total += float(d[1000:1200, :].sum())
    total += float(d[:, 2048:2100].sum())
    total += float(d[3000:3100, 700:900].sum())
    total += float(d[::1024, ::1024].sum())
    total += float(d[1000:1200, :].sum())
    print(f"zarr {kind} checksum {total:.3f}")
    if kind == "zip":
        store.close()


if __name__ == "__main__":
    main()
