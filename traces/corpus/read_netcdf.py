#!/usr/bin/python3
"""The netCDF-4 workload: a climate analysis reading a variable by slices.

Usage: read_netcdf.py FILE.nc

Reads the coordinates, one day's global map, one-year time series at eight stations (each a column
through 13 chunks of time), a regional box over one season, and the zonal mean of one month (every
longitude of a latitude band). netCDF-C's per-variable chunk cache (a few MiB) holds only a couple of
these chunks (1.9 MiB each uncompressed), so most selections read their chunks from the file.
"""
import sys

import netCDF4

# (lat, lon) grid indices of the stations whose time series are extracted.
STATIONS = [(100, 400), (101, 402), (250, 30), (40, 700), (180, 360), (300, 100), (120, 650), (100, 410)]


def main() -> None:
    with netCDF4.Dataset(sys.argv[1], "r") as ds:
        tas = ds["tas"]
        total = float(ds["lat"][:].sum()) + float(ds["lon"][:].sum()) + float(ds["time"][:].sum())
        total += float(tas[200, :, :].sum())              # one day's map: 16 chunks
        for lat, lon in STATIONS:                       # a year at each station: 13 chunks each
            total += float(tas[0:365, lat, lon].sum())
        total += float(tas[400:490, 200:260, 500:600].sum())  # a season over a region
        total += float(tas[60:90, 150:210, :].mean(axis=2).sum())  # a month's zonal mean of a band
        print(f"netcdf checksum {total:.3f}")


if __name__ == "__main__":
    main()
