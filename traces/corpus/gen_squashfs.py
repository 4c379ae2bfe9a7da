#!/usr/bin/python3
"""Holdout data: a SquashFS image of a software environment, as container runtimes mount from buckets.

A seeded tree like an installed Python environment (Apptainer/Singularity images are SquashFS; so are
many read-only datasets): 24 packages of 20 to 150 modules (text, 1-40 KiB, compressible), each with a
few native libraries (0.2-6 MiB, half random and half repetitive) and data files, plus a `bin/` and
`share/`. Written by `mksquashfs` with gzip, 128 KiB blocks, fixed timestamps and one compressor
thread, so the image is the same bytes on every run.

Usage: gen_squashfs.py OUT.sqfs   (needs mksquashfs: Debian's squashfs-tools)
"""
import os
import random
import subprocess
import sys
import tempfile

from synthetic_files import binary, text, write, zero_times

WORDS = ("import def return self value data array index shape dtype class None True False for in if else "
         "elif while try except raise with as lambda yield from print len range list dict tuple set").split()


def main() -> None:
    out = os.path.abspath(sys.argv[1])
    rng = random.Random(31)
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "env")
        site = os.path.join(root, "lib", "python3", "site-packages")
        for p in range(24):
            pkg = os.path.join(site, "pkg%02d" % p)
            for m in range(rng.randint(20, 150)):
                sub = os.path.join(pkg, "sub%d" % (m % 5)) if m % 3 == 0 else pkg
                write(os.path.join(sub, "mod%03d.py" % m),
                      text(rng, rng.randint(1024, 40 * 1024), WORDS, (2, 12), indent=True))
            for lib in range(rng.randint(1, 4)):
                write(os.path.join(pkg, "_native%d.so" % lib), binary(rng, rng.randint(200 * 1024, 6 * 1024 * 1024)))
            os.makedirs(os.path.join(pkg, "data"), exist_ok=True)  # also when it stays empty
            for d in range(rng.randint(0, 6)):
                write(os.path.join(pkg, "data", "table%d.csv" % d),
                      text(rng, rng.randint(8 * 1024, 512 * 1024), WORDS, (2, 12), indent=True))
        for d, count in (("bin", 40), ("share/doc", 300)):
            for i in range(count):
                if d == "bin":
                    data = binary(rng, rng.randint(4096, 1024 * 1024))
                else:
                    data = text(rng, rng.randint(512, 16384), WORDS, (2, 12), indent=True)
                write(os.path.join(root, d, "f%03d" % i), data)
        zero_times(root)
        if os.path.exists(out):
            os.remove(out)
        subprocess.run(["mksquashfs", root, out, "-comp", "gzip", "-b", "131072", "-noappend", "-no-progress",
                        "-quiet", "-processors", "1", "-all-root", "-mkfs-time", "0", "-all-time", "0"],
                       check=True, stdout=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
