#!/usr/bin/python3
"""Holdout data: a GeoPackage (SQLite with an R-tree spatial index), the OGC format cloud-native GIS
tools read from buckets.

150,000 land parcels (polygons of 5-40 vertices around seeded-random centres over 20 x 10 degrees,
an owner and a value each), written by GDAL/OGR's GPKG driver in one transaction, with its spatial
index.

Usage: gen_gpkg.py OUT.gpkg   (needs python3-gdal)
"""
import math
import os
import random
import sys

from osgeo import ogr, osr

PARCELS = 150_000


def main() -> None:
    out = os.path.abspath(sys.argv[1])
    rng = random.Random(73)
    if os.path.exists(out):
        os.remove(out)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(out)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    layer = ds.CreateLayer("parcels", srs, ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("owner", ogr.OFTString))
    layer.CreateField(ogr.FieldDefn("value", ogr.OFTReal))
    layer.StartTransaction()
    for _ in range(PARCELS):
        x, y, n = rng.uniform(-10, 10), rng.uniform(40, 50), rng.randint(5, 40)
        ring = ogr.Geometry(ogr.wkbLinearRing)
        for k in range(n):
            a, r = 2 * math.pi * k / n, 0.001 * rng.uniform(0.5, 1.5)
            ring.AddPoint_2D(x + r * math.cos(a), y + r * math.sin(a))
        ring.CloseRings()
        polygon = ogr.Geometry(ogr.wkbPolygon)
        polygon.AddGeometry(ring)
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetGeometry(polygon)
        feature.SetField("owner", "o%06d" % rng.randrange(100000))
        feature.SetField("value", rng.random() * 1e6)
        layer.CreateFeature(feature)
    layer.CommitTransaction()
    ds = None


if __name__ == "__main__":
    main()
