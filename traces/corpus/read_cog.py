#!/usr/bin/python3
"""Holdout workload: GDAL reads a Cloud-Optimized GeoTIFF as a map viewer and an analysis would.

A thumbnail from the smallest overview, a map view at a middle overview, a 2048 x 2048 full-resolution
window, a transect across the whole width, then 40 seeded-random point queries. GDAL's own block cache
stays at its default, so blocks read before come from memory.

Usage: read_cog.py FILE.tif
"""
import random
import sys

from osgeo import gdal


def main() -> None:
    gdal.UseExceptions()
    rng = random.Random(23)
    total = 0
    ds = gdal.Open(sys.argv[1])
    band = ds.GetRasterBand(1)
    thumb = band.GetOverview(band.GetOverviewCount() - 1)
    total += int(thumb.ReadAsArray().sum())
    mid = band.GetOverview(2)  # 1536 x 1536
    total += int(mid.ReadAsArray(600, 400, 512, 512).sum())
    total += int(band.ReadAsArray(5000, 7000, 2048, 2048).sum())
    total += int(band.ReadAsArray(0, 3333, ds.RasterXSize, 1).sum())
    for _ in range(40):
        total += int(band.ReadAsArray(rng.randrange(ds.RasterXSize), rng.randrange(ds.RasterYSize), 1, 1)[0, 0])
    print(total)


if __name__ == "__main__":
    main()
