#!/usr/bin/python3
"""Holdout data: a land-parcel shapefile (.shp, .shx, .dbf) with a spatial index (.qix).

60,000 parcels, each a polygon of 5 to 40 vertices on a seeded jittered grid, with five attributes
(id, zone, area, owner, year), written by GDAL's ESRI Shapefile driver in a seeded-random order (a layer
appended to over time is not stored in the order of place); the .qix quadtree is built by OGR's `CREATE
SPATIAL INDEX`, and a .prj is written beside them. Five files that a reader opens together: one stream
reads several objects, interleaved.

Usage: gen_shapefile.py OUT.shp
"""
import math
import random
import sys

from osgeo import ogr, osr

COUNT = 60_000
GRID = 300  # parcels on a GRID x (COUNT / GRID) lattice, 100 m apart
ZONES = ["residential", "commercial", "industrial", "agricultural", "forest", "water", "public"]


def main() -> None:
    out = sys.argv[1]
    rng = random.Random(17)
    driver = ogr.GetDriverByName("ESRI Shapefile")
    ds = driver.CreateDataSource(out)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    layer = ds.CreateLayer("parcels", srs, ogr.wkbPolygon)
    for name, kind, width in (("parcel_id", ogr.OFTInteger, 9), ("zone", ogr.OFTString, 14),
                              ("area_m2", ogr.OFTReal, 12), ("owner", ogr.OFTString, 40),
                              ("year", ogr.OFTInteger, 4)):
        field = ogr.FieldDefn(name, kind)
        field.SetWidth(width)
        layer.CreateField(field)
    order = list(range(COUNT))
    rng.shuffle(order)
    defn = layer.GetLayerDefn()
    for cell in order:
        cx = 400_000 + (cell % GRID) * 100 + 50
        cy = 5_000_000 + (cell // GRID) * 100 + 50
        n = rng.randint(5, 40)
        ring = ogr.Geometry(ogr.wkbLinearRing)
        angles = sorted(rng.uniform(0, 2 * math.pi) for _ in range(n))
        points = [(cx + r * math.cos(a), cy + r * math.sin(a)) for a, r in ((a, rng.uniform(30, 49)) for a in angles)]
        for x, y in points + points[:1]:
            ring.AddPoint_2D(x, y)
        poly = ogr.Geometry(ogr.wkbPolygon)
        poly.AddGeometry(ring)
        feature = ogr.Feature(defn)
        feature.SetGeometry(poly)
        feature.SetField("parcel_id", cell)
        feature.SetField("zone", ZONES[rng.randrange(len(ZONES))])
        feature.SetField("area_m2", round(poly.GetArea(), 2))
        feature.SetField("owner", "owner-%06d" % rng.randrange(100_000))
        feature.SetField("year", rng.randint(1950, 2024))
        layer.CreateFeature(feature)
    ds.ExecuteSQL("CREATE SPATIAL INDEX ON parcels")
    ds = None


if __name__ == "__main__":
    main()
