#!/usr/bin/python3
"""Holdout data: a 400-page report as PDF (ReportLab): text on every page, a full-width raster figure
(seeded noise over a gradient, Flate-compressed) on every eighth page. About 105 MiB, not linearized:
the cross-reference table at the end, as most writers leave it.

Usage: gen_pdf.py OUT.pdf
"""
import random
import sys

from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas

PAGES = 400
WORDS = ("object storage prefetch latency bandwidth range request window stream cache block read "
         "trace policy simulator network profile tail median part part-size bucket fetch").split()


def figure(rng: random.Random, width: int, height: int) -> ImageReader:
    from io import BytesIO

    import numpy as np
    from PIL import Image  # reportlab's own dependency

    gen = np.random.default_rng(rng.randrange(1 << 30))
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
    img = (0.5 * x + 0.5 * y + gen.normal(0, 6, size=(height, width, 3))).clip(0, 255).astype(np.uint8)
    buf = BytesIO()
    Image.fromarray(img, "RGB").save(buf, format="PNG")
    buf.seek(0)
    return ImageReader(buf)


def main() -> None:
    rng = random.Random(31)
    c = canvas.Canvas(sys.argv[1], pagesize=A4, invariant=1, pageCompression=1)
    width, height = A4
    for page in range(1, PAGES + 1):
        c.setFont("Helvetica-Bold", 14)
        c.drawString(60, height - 60, f"Section {page}: measurements")
        c.setFont("Helvetica", 9)
        text = c.beginText(60, height - 90)
        for _ in range(70):
            text.textLine(" ".join(rng.choice(WORDS) for _ in range(14)))
        c.drawText(text)
        if page % 8 == 0:
            c.drawImage(figure(rng, 1000, 667), 60, 60, width=width - 120, height=(width - 120) * 2 / 3)
        c.showPage()
    c.save()


if __name__ == "__main__":
    main()
