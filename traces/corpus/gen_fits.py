#!/usr/bin/python3
"""Holdout data: a multi-extension FITS file as a survey camera writes one exposure.

An empty primary HDU, four CCD images (float32, 4096 rows x 2048 columns each: sky, seeded noise and
stars) and a binary-table catalog (100,000 rows of ra, dec, flux, flags). About 130 MiB.

Usage: gen_fits.py OUT.fits
"""
import sys

import numpy as np
from astropy.io import fits


def main() -> None:
    rng = np.random.default_rng(29)
    hdus = [fits.PrimaryHDU(header=fits.Header([("TELESCOP", "PFLAB"), ("EXPTIME", 90.0)]))]
    for ccd in range(1, 5):
        image = rng.normal(1000.0, 12.0, size=(4096, 2048)).astype(np.float32)
        ys, xs = rng.integers(0, 4096, 300), rng.integers(0, 2048, 300)
        image[ys, xs] += rng.uniform(500, 50000, 300).astype(np.float32)
        hdus.append(fits.ImageHDU(image, name=f"CCD{ccd}"))
    n = 100_000
    catalog = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="ra", format="D", array=rng.uniform(150, 151, n)),
            fits.Column(name="dec", format="D", array=rng.uniform(2, 3, n)),
            fits.Column(name="flux", format="E", array=rng.lognormal(6, 1, n).astype(np.float32)),
            fits.Column(name="flags", format="J", array=rng.integers(0, 16, n).astype(np.int32)),
        ],
        name="CATALOG",
    )
    hdus.append(catalog)
    fits.HDUList(hdus).writeto(sys.argv[1], overwrite=True)


if __name__ == "__main__":
    main()
