#!/usr/bin/python3
"""Holdout workload: a map service answering requests from a GeoPackage through GDAL/OGR: 40 map
windows of 0.2 x 0.2 degrees (the R-tree index, then each parcel found), then 100 parcels by id.

Usage: read_gpkg.py FILE.gpkg   (needs python3-gdal)
"""
import random
import sys

from osgeo import ogr


def main() -> None:
    rng = random.Random(79)
    ds = ogr.Open(sys.argv[1])
    layer = ds.GetLayer(0)
    found = 0
    for _ in range(40):
        x, y = rng.uniform(-10, 9.8), rng.uniform(40, 49.8)
        layer.SetSpatialFilterRect(x, y, x + 0.2, y + 0.2)
        for _ in layer:
            found += 1
    layer.SetSpatialFilter(None)
    for fid in [rng.randrange(1, 150_000) for _ in range(100)]:
        found += layer.GetFeature(fid) is not None
    print(f"gpkg found {found}")


if __name__ == "__main__":
    main()
