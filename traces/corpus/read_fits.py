#!/usr/bin/python3
"""Holdout workload: astropy reads parts of a multi-extension FITS file as a cutout service would.

Every extension's header (the HDU list), two 512 x 512 cutouts from different CCDs, one column across
a whole CCD (a profile), then the catalog table whole. memmap=False: astropy reads with file reads and
seeks (its default maps the file, which no read hook sees).

Usage: read_fits.py FILE.fits
"""
import sys

from astropy.io import fits


def main() -> None:
    total = 0.0
    with fits.open(sys.argv[1], memmap=False, lazy_load_hdus=True) as hdul:
        total += len(hdul)
        total += float(hdul["CCD2"].section[1000:1512, 1500:2012].sum())
        total += float(hdul["CCD3"].section[3000:3512, 200:712].sum())
        total += float(hdul["CCD1"].section[:, 1234].sum())
        total += float(hdul["CATALOG"].data["flux"].sum())
    print(total)


if __name__ == "__main__":
    main()
