#!/usr/bin/python3
"""Writes the zip and tar archives of the corpus: the same 1,000 member files in both.

Usage: gen_archives.py OUT.zip OUT.tar

Members are data/part-0000.log ... data/part-0999.log, 4 KiB to 160 KiB each (seeded), made of log
lines, so deflate compresses them about 4:1 as it would real logs. The zip is deflated (level 6); the
tar is uncompressed (GNU format). Dates, owners and order are fixed, so both files are the same on
every run.
"""
import io
import random
import sys
import tarfile
import zipfile

MEMBERS = 1000
DATE = (2026, 1, 2, 3, 4, 6)
MTIME = 1767323046  # 2026-01-02 03:04:06 UTC

LEVELS = ["INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"]
PATHS = ["/api/v1/items", "/api/v1/orders", "/healthz", "/static/app.js", "/login", "/api/v2/search"]


def member(rng: random.Random, i: int) -> bytes:
    size = rng.randrange(4 << 10, 160 << 10)
    out, t = io.StringIO(), 1767323046 + i * 3600
    while out.tell() < size:
        t += rng.randrange(1, 900)
        out.write(f"{t}.{rng.randrange(1000):03d} {rng.choice(LEVELS)} host-{i % 37:02d} "
                  f"GET {rng.choice(PATHS)}?id={rng.randrange(10**6)} {rng.choice((200, 200, 200, 404, 500))} "
                  f"{rng.randrange(50, 50_000)}B {rng.random() * 250:.1f}ms\n")
    return out.getvalue().encode()[:size]


def main() -> None:
    out_zip, out_tar = sys.argv[1], sys.argv[2]
    rng = random.Random(20261130)
    files = [(f"data/part-{i:04d}.log", member(rng, i)) for i in range(MEMBERS)]
    with zipfile.ZipFile(out_zip, "w") as z:
        for name, data in files:
            info = zipfile.ZipInfo(name, DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, data, compresslevel=6)
    with tarfile.open(out_tar, "w", format=tarfile.GNU_FORMAT) as t:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), MTIME, 0o644
            info.uname = info.gname = "pflab"
            t.addfile(info, io.BytesIO(data))


if __name__ == "__main__":
    main()
