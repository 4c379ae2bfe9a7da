#!/usr/bin/python3
"""Holdout data: an HDF5 file with a 4096 x 4096 float32 dataset in contiguous layout (no chunks).

Usage: gen_hdf5_contiguous.py OUT.h5
"""
import sys

import h5py
import numpy as np


def main() -> None:
    rng = np.random.default_rng(5)
    with h5py.File(sys.argv[1], "w") as f:
        f.create_dataset("grid", data=rng.standard_normal((4096, 4096), dtype=np.float32))
        f.create_dataset("lat", data=np.linspace(-90, 90, 4096, dtype=np.float32))


if __name__ == "__main__":
    main()
