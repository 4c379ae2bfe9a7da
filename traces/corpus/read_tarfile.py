#!/usr/bin/python3
"""Holdout workload: Python's tarfile opens logs.tar and extracts 25 seeded-random members to memory.

Usage: read_tarfile.py FILE.tar
"""
import random
import sys
import tarfile


def main() -> None:
    rng = random.Random(13)
    total = 0
    with tarfile.open(sys.argv[1]) as t:
        members = t.getmembers()
        for m in rng.sample(members, 25):
            total += len(t.extractfile(m).read())
    print(total)


if __name__ == "__main__":
    main()
