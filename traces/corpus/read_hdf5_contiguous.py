#!/usr/bin/python3
"""Holdout workload: h5py reads a contiguous dataset by columns, a row band and scattered points.

Usage: read_hdf5_contiguous.py FILE.h5
"""
import random
import sys

import h5py


def main() -> None:
    rng = random.Random(17)
    total = 0.0
    with h5py.File(sys.argv[1], "r") as f:
        g = f["grid"]
        total += float(f["lat"][:].sum())
        for j in (0, 1000, 2047, 3000):
            total += float(g[:, j].sum())
        total += float(g[1024:1280, :].sum())
        for _ in range(50):
            total += float(g[rng.randrange(4096), rng.randrange(4096)])
    print(total)


if __name__ == "__main__":
    main()
