#!/usr/bin/python3
"""Holdout workload: Python's zipfile reads 40 seeded-random members of logs.zip into memory.

Usage: read_zipfile.py FILE.zip
"""
import random
import sys
import zipfile


def main() -> None:
    rng = random.Random(11)
    total = 0
    with zipfile.ZipFile(sys.argv[1]) as z:
        names = z.namelist()
        for name in rng.sample(names, 40):
            total += len(z.read(name))
    print(total)


if __name__ == "__main__":
    main()
