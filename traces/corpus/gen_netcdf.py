#!/usr/bin/python3
"""Writes the netCDF-4 file of the corpus: a daily gridded climate variable, chunked and compressed.

Usage: gen_netcdf.py OUT.nc

Dimensions time (unlimited, 730 days) x lat (360) x lon (720), variable "tas" float32 in chunks of
(30, 90, 180) (about 1.9 MiB raw) with zlib level 4 and shuffle, plus the coordinate variables. The
values are a seasonal cycle over a latitude gradient plus seeded noise quantised to 1/32 K, written one
month (one chunk of time) at a time as a model run would.
"""
import sys

import netCDF4
import numpy as np

NT, NLAT, NLON = 730, 360, 720
CHUNKS = (30, 90, 180)


def main() -> None:
    rng = np.random.default_rng(20261127)
    with netCDF4.Dataset(sys.argv[1], "w", format="NETCDF4") as ds:
        ds.createDimension("time", None)
        ds.createDimension("lat", NLAT)
        ds.createDimension("lon", NLON)
        t = ds.createVariable("time", "f8", ("time",))
        t.units = "days since 2000-01-01"
        lat = ds.createVariable("lat", "f4", ("lat",))
        lon = ds.createVariable("lon", "f4", ("lon",))
        lat[:] = np.linspace(-89.75, 89.75, NLAT)
        lon[:] = np.linspace(-179.75, 179.75, NLON)
        tas = ds.createVariable("tas", "f4", ("time", "lat", "lon"), zlib=True, complevel=4,
                                shuffle=True, chunksizes=CHUNKS)
        tas.units = "K"
        base = 288 - 30 * np.abs(np.sin(np.deg2rad(lat[:])))[:, None] + 2 * np.cos(np.deg2rad(lon[:]))[None, :]
        for start in range(0, NT, CHUNKS[0]):
            days = np.arange(start, min(start + CHUNKS[0], NT))
            season = 10 * np.sin(2 * np.pi * days / 365.0)[:, None, None] * np.sin(np.deg2rad(lat[:]))[None, :, None]
            block = base[None, :, :] + season + rng.normal(0, 0.3, size=(len(days), NLAT, NLON))
            tas[start:start + len(days), :, :] = np.round(block * 32) / 32
            t[start:start + len(days)] = days


if __name__ == "__main__":
    main()
