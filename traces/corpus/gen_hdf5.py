#!/usr/bin/python3
"""Writes the HDF5 file of the corpus: one chunked, gzip-compressed 2-D float32 dataset.

Usage: gen_hdf5.py OUT.h5

The field is smooth (a few sine waves) plus seeded noise quantised to 1/64, so gzip gets a realistic
ratio instead of the useless one of pure noise. Chunks are 512 x 512 (1 MiB raw, the order of size
HDF5's chunking guide suggests), so a hyperslab touches several of them.
"""
import sys

import h5py
import numpy as np

ROWS, COLS = 8192, 8192
CHUNK = (512, 512)


def main() -> None:
    out = sys.argv[1]
    rng = np.random.default_rng(20261125)
    y = np.linspace(0, 8 * np.pi, ROWS, dtype=np.float32)[:, None]
    x = np.linspace(0, 6 * np.pi, COLS, dtype=np.float32)[None, :]
    field = np.sin(y) * np.cos(x) + 0.5 * np.sin(0.3 * x + 0.7 * y)
    field += rng.normal(0, 0.05, size=(ROWS, COLS)).astype(np.float32)
    field = np.round(field * 64) / 64
    # track_times=False keeps the file byte-identical between runs.
    with h5py.File(out, "w", libver="latest") as f:
        d = f.create_dataset("temperature", data=field.astype(np.float32), chunks=CHUNK,
                             compression="gzip", compression_opts=4, shuffle=True, track_times=False)
        d.attrs["units"] = "K"
        f.create_dataset("lat", data=np.linspace(-90, 90, ROWS), track_times=False)
        f.create_dataset("lon", data=np.linspace(-180, 180, COLS), track_times=False)


if __name__ == "__main__":
    main()
