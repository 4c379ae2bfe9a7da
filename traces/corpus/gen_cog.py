#!/usr/bin/python3
"""Holdout data: a Cloud-Optimized GeoTIFF elevation model, 12288 x 12288 int16, 512 x 512 tiles.

DEFLATE with the horizontal predictor and internal overviews (GDAL's COG driver), the layout tile
servers and rasterio/GDAL readers fetch by range from buckets. The field is smooth terrain (a sum of
seeded sine waves) plus seeded noise, so tiles compress to different sizes as real ones do.

Usage: gen_cog.py OUT.tif
"""
import sys

import numpy as np
from osgeo import gdal

SIZE = 12288


def main() -> None:
    out = sys.argv[1]
    rng = np.random.default_rng(11)
    mem = gdal.GetDriverByName("MEM").Create("", SIZE, SIZE, 1, gdal.GDT_Int16)
    mem.SetGeoTransform((-10.0, 20.0 / SIZE, 0.0, 50.0, 0.0, -20.0 / SIZE))
    band = mem.GetRasterBand(1)
    band.SetNoDataValue(-32768)
    x = np.linspace(0, 1, SIZE, dtype=np.float32)
    waves = [(rng.uniform(1, 12), rng.uniform(1, 12), rng.uniform(0, 6.3), rng.uniform(100, 600)) for _ in range(6)]
    rows = 1024  # written in bands of rows to bound memory
    for y0 in range(0, SIZE, rows):
        y = np.linspace(y0 / SIZE, (y0 + rows - 1) / SIZE, rows, dtype=np.float32)[:, None]
        field = np.zeros((rows, SIZE), dtype=np.float32)
        for fx, fy, phase, amp in waves:
            field += amp * np.sin(2 * np.pi * (fx * x[None, :] + fy * y) + phase)
        field += rng.normal(0, 8, size=field.shape).astype(np.float32)
        band.WriteArray(np.clip(field + 1500, 0, 9000).astype(np.int16), 0, y0)
    gdal.GetDriverByName("COG").CreateCopy(
        out, mem, options=["COMPRESS=DEFLATE", "PREDICTOR=2", "BLOCKSIZE=512", "OVERVIEWS=AUTO", "NUM_THREADS=1"]
    )


if __name__ == "__main__":
    main()
