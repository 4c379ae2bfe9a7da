#!/usr/bin/python3
"""Holdout workload: an analysis of a classic-format (netCDF-3) file through netCDF4-python, whose
netCDF-C library reads such files in blocks of its own.

Usage: read_netcdf3.py FILE.nc

Reads the coordinates (the time coordinate is a record variable: one value per record), the
orography, one time step's map of each variable, the 2 m temperature's time series at twelve
stations (each value one record apart: strided through the whole file), and the sea-level pressure
over a region for two days (rows of a box in eight consecutive records).
"""
import sys

import netCDF4

# (lat, lon) grid indices of the stations whose time series are extracted.
STATIONS = [(180, 40), (180, 48), (480, 1200), (80, 800), (360, 720), (600, 200), (240, 1320), (180, 56),
            (400, 400), (520, 1040), (280, 280), (40, 1400)]


def main() -> None:
    with netCDF4.Dataset(sys.argv[1], "r") as ds:
        total = float(ds["lat"][:].sum()) + float(ds["lon"][:].sum()) + float(ds["time"][:].sum())
        total += float(ds["orog"][:].sum())
        for name in ("t2m", "rh", "psl"):
            total += float(ds[name][60, :, :].sum())
        for lat, lon in STATIONS:
            total += float(ds["t2m"][:, lat, lon].sum())
        total += float(ds["psl"][100:108, 160:280, 400:640].sum())
        print(f"netcdf3 checksum {total:.3f}")


if __name__ == "__main__":
    main()
