#!/usr/bin/python3
"""Holdout workload: OGR queries a parcel shapefile as a GIS desktop or a tile service would.

The layer's extent and feature count (headers; OGR reads the .shx offsets whole when it opens the layer),
three map windows by spatial filter (the .qix quadtree, then each match's geometry in .shp and attributes
in .dbf), 60 parcels fetched by id in seeded-random order, then an attribute filter (OGR reads every
record of both files).

Usage: read_shapefile.py FILE.shp
"""
import random
import sys

from osgeo import ogr


def main() -> None:
    ogr.UseExceptions()
    rng = random.Random(29)
    ds = ogr.Open(sys.argv[1])
    layer = ds.GetLayer(0)
    total = layer.GetFeatureCount()
    minx, maxx, miny, maxy = layer.GetExtent()
    for fx, fy, size in ((0.20, 0.30, 1500), (0.70, 0.55, 3000), (0.45, 0.90, 800)):
        x = minx + fx * (maxx - minx)
        y = miny + fy * (maxy - miny)
        layer.SetSpatialFilterRect(x, y, x + size, y + size)
        for feature in layer:
            total += int(feature.GetGeometryRef().GetArea()) + feature.GetField("year")
    layer.SetSpatialFilter(None)
    for _ in range(60):
        feature = layer.GetFeature(rng.randrange(layer.GetFeatureCount()))
        total += feature.GetGeometryRef().GetPointCount() if feature.GetGeometryRef() else 0
        total += len(feature.GetField("owner"))
    layer.SetAttributeFilter("zone = 'water' AND year < 1952")
    for feature in layer:
        total += int(feature.GetGeometryRef().GetArea())
    layer.SetAttributeFilter(None)
    print(total)


if __name__ == "__main__":
    main()
