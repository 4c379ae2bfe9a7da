#!/usr/bin/python3
"""Holdout workload: a web map reading building footprints from a FlatGeobuf file by bounding box
through GDAL/OGR, as a map viewer does when a user looks buildings up: the header, then 60 times a
building by id (its offset from the index) and the view around it at one of three zoom levels (0.005,
0.02 and 0.08 degrees across): the packed R-tree's nodes down to the features in the box, then those
features (contiguous along the Hilbert curve, so read in runs).

Usage: read_fgb.py FILE.fgb   (needs python3-gdal)
"""
import random
import sys

from osgeo import ogr


def main() -> None:
    rng = random.Random(89)
    ds = ogr.Open(sys.argv[1])
    layer = ds.GetLayer(0)
    count = layer.GetFeatureCount()
    found = 0
    for _ in range(60):
        layer.SetSpatialFilter(None)
        building = layer.GetFeature(rng.randrange(count))
        x, y, _ = building.GetGeometryRef().Centroid().GetPoint()
        size = rng.choice([0.005, 0.02, 0.08])
        layer.SetSpatialFilterRect(x - size / 2, y - size / 2, x + size / 2, y + size / 2)
        for feature in layer:
            found += feature.GetFieldAsDouble("height") > 0
    print(f"fgb found {found}")


if __name__ == "__main__":
    main()
