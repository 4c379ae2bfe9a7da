#!/usr/bin/python3
"""Writes the zarr v2 stores of the corpus: the same chunked array in a directory store with
consolidated metadata, and in a zip store.

Usage: gen_zarr.py OUT_DIR.zarr OUT.zip

A 2-D float32 array of 8192 x 8192 in 512 x 512 chunks (1 MiB raw), compressed with zarr's default
Blosc/LZ4 codec. The values are a smooth field plus seeded noise quantised to 1/64, as in gen_hdf5.py.
The zip store keeps members uncompressed (ZipStore's default), as zarr recommends, so each chunk is
one contiguous byte range of the zip file.
"""
import shutil
import sys

import numpy as np
import zarr

ROWS, COLS = 8192, 8192
CHUNK = (512, 512)


def field() -> np.ndarray:
    rng = np.random.default_rng(20261126)
    y = np.linspace(0, 8 * np.pi, ROWS, dtype=np.float32)[:, None]
    x = np.linspace(0, 6 * np.pi, COLS, dtype=np.float32)[None, :]
    f = np.sin(y) * np.cos(x) + 0.5 * np.sin(0.3 * x + 0.7 * y)
    f += rng.normal(0, 0.05, size=(ROWS, COLS)).astype(np.float32)
    return (np.round(f * 64) / 64).astype(np.float32)


def write(store, data: np.ndarray) -> None:
    root = zarr.group(store=store, overwrite=True)
    a = root.create_dataset("temperature", shape=data.shape, chunks=CHUNK, dtype="f4")
    a[:] = data
    a.attrs["units"] = "K"
    root.create_dataset("lat", data=np.linspace(-90, 90, ROWS), chunks=(ROWS,))
    root.create_dataset("lon", data=np.linspace(-180, 180, COLS), chunks=(COLS,))
    zarr.consolidate_metadata(store)


def main() -> None:
    out_dir, out_zip = sys.argv[1], sys.argv[2]
    data = field()
    shutil.rmtree(out_dir, ignore_errors=True)
    write(zarr.DirectoryStore(out_dir), data)
    zs = zarr.ZipStore(out_zip, mode="w")
    write(zs, data)
    zs.close()


if __name__ == "__main__":
    main()
