#!/usr/bin/python3
"""Holdout data: a classic-format netCDF file (netCDF-3, 64-bit offsets), as many model outputs and
archives of observations still are: no chunks and no compression, and the record variables of one time
step stored together, so a variable's values at one place over time lie one record apart.

Usage: gen_netcdf3.py OUT.nc

A month of a reanalysis-like product on a quarter-degree grid: time (unlimited, 124 six-hourly steps)
x lat (721) x lon (1440); record variables "t2m", "rh" and "psl" (float32), a fixed "orog" (lat x
lon) and the coordinates. One record (the three variables at one time) is 12,458,880 bytes; the file
is about 1.45 GiB, several times a prefetcher's memory budget. The values are smooth fields plus
seeded noise, written one time step at a time as a model run would.
"""
import sys

import netCDF4
import numpy as np

NT, NLAT, NLON = 124, 721, 1440


def main() -> None:
    rng = np.random.default_rng(20261206)
    with netCDF4.Dataset(sys.argv[1], "w", format="NETCDF3_64BIT_OFFSET") as ds:
        ds.createDimension("time", None)
        ds.createDimension("lat", NLAT)
        ds.createDimension("lon", NLON)
        t = ds.createVariable("time", "f8", ("time",))
        t.units = "hours since 2020-01-01"
        lat = ds.createVariable("lat", "f4", ("lat",))
        lon = ds.createVariable("lon", "f4", ("lon",))
        lat[:] = np.linspace(-90, 90, NLAT)
        lon[:] = np.linspace(0, 359.75, NLON)
        orog = ds.createVariable("orog", "f4", ("lat", "lon"))
        orog[:] = np.abs(rng.normal(0, 800, (NLAT, NLON))).astype("f4")
        fields = {name: ds.createVariable(name, "f4", ("time", "lat", "lon")) for name in ("t2m", "rh", "psl")}
        base = np.cos(np.radians(lat[:]))[:, None] * np.ones((1, NLON), "f4")
        for step in range(NT):
            t[step] = 6.0 * step
            season = np.sin(2 * np.pi * step / 124.0)
            fields["t2m"][step] = (250 + 40 * base + 5 * season + rng.normal(0, 1, (NLAT, NLON))).astype("f4")
            fields["rh"][step] = (60 + 20 * base * season + rng.normal(0, 5, (NLAT, NLON))).astype("f4")
            fields["psl"][step] = (101325 + 500 * season * base + rng.normal(0, 100, (NLAT, NLON))).astype("f4")


if __name__ == "__main__":
    main()
