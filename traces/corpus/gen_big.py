#!/usr/bin/python3
"""Writes the large file of the corpus's sequential-copy workload: 256 MiB of seeded bytes.

Usage: gen_big.py OUT.bin
"""
import random
import sys

SIZE = 256 << 20
BLOCK = 1 << 20


def main() -> None:
    rng = random.Random(20261201)
    with open(sys.argv[1], "wb") as f:
        for _ in range(SIZE // BLOCK):
            f.write(rng.randbytes(BLOCK))


if __name__ == "__main__":
    main()
