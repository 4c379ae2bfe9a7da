#!/usr/bin/python3
"""Holdout data: a FlatGeobuf file, the cloud-optimized vector format read by bounding box over HTTP
range requests (building footprints, as the large open footprint datasets publish them).

1,200,000 building footprints (rectangles of 8-40 m a side, turned by a seeded-random angle, with a
height and a use class) in 60 towns of seeded-random size scattered over 4 x 3 degrees, written by
GDAL/OGR's FlatGeobuf driver with its packed Hilbert R-tree (the features sorted along the curve, the
index between the header and the features).

Usage: gen_fgb.py OUT.fgb   (needs python3-gdal)
"""
import math
import os
import random
import sys

from osgeo import ogr, osr

BUILDINGS = 1_200_000
TOWNS = 60


def main() -> None:
    out = os.path.abspath(sys.argv[1])
    rng = random.Random(83)
    if os.path.exists(out):
        os.remove(out)
    towns = [(rng.uniform(6, 10), rng.uniform(45, 48), rng.uniform(0.005, 0.08)) for _ in range(TOWNS)]
    weights = [spread ** 2 for _, _, spread in towns]
    ds = ogr.GetDriverByName("FlatGeobuf").CreateDataSource(out)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    layer = ds.CreateLayer("buildings", srs, ogr.wkbPolygon, options=["SPATIAL_INDEX=YES"])
    layer.CreateField(ogr.FieldDefn("height", ogr.OFTReal))
    layer.CreateField(ogr.FieldDefn("use", ogr.OFTString))
    for _ in range(BUILDINGS):
        cx, cy, spread = rng.choices(towns, weights)[0]
        x, y = rng.gauss(cx, spread), rng.gauss(cy, spread)
        w, h, a = rng.uniform(8, 40) / 111e3, rng.uniform(8, 40) / 111e3, rng.uniform(0, math.pi)
        ring = ogr.Geometry(ogr.wkbLinearRing)
        for dx, dy in ((-w, -h), (w, -h), (w, h), (-w, h), (-w, -h)):
            ring.AddPoint_2D(x + (dx * math.cos(a) - dy * math.sin(a)) / 2,
                             y + (dx * math.sin(a) + dy * math.cos(a)) / 2)
        polygon = ogr.Geometry(ogr.wkbPolygon)
        polygon.AddGeometry(ring)
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetGeometry(polygon)
        feature.SetField("height", round(rng.uniform(3, 40), 1))
        feature.SetField("use", rng.choice(["residential", "commercial", "industrial", "public", "farm"]))
        layer.CreateFeature(feature)
    ds = None


if __name__ == "__main__":
    main()
