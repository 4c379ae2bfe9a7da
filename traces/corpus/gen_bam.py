#!/usr/bin/python3
"""Holdout data: a coordinate-sorted, indexed BAM file of aligned sequencing reads, as genomics
pipelines keep them in buckets and query them by region (htslib reads gs:// and s:// directly).

A synthetic genome of three chromosomes (150 Mbp of seeded-random bases) and 2,400,000 single-end
150 bp reads placed on it at seeded-random positions (about 2.4x coverage), each a copy of the genome
with a few substitutions, on either strand, with base qualities drawn from a pool of profiles. Written
as SAM and compressed by `samtools view` into BGZF blocks (64 KiB of records each, about 20 KiB
compressed), then indexed (`samtools index`: OUT.bam.bai). No @PG line, so the file is the same
every run.

Usage: gen_bam.py OUT.bam   (needs samtools: Debian's samtools)
"""
import os
import random
import subprocess
import sys

CHROMOSOMES = [("chr1", 60_000_000), ("chr2", 50_000_000), ("chr3", 40_000_000)]
READS = 2_400_000
LENGTH = 150


def main() -> None:
    out = os.path.abspath(sys.argv[1])
    rng = random.Random(61)
    total = sum(size for _, size in CHROMOSOMES)
    quals = ["".join(chr(33 + max(2, min(41, int(rng.gauss(36 - i / 20, 3))))) for i in range(LENGTH))
             for _ in range(512)]
    view = subprocess.Popen(["samtools", "view", "--no-PG", "-b", "-o", out, "-"], stdin=subprocess.PIPE,
                            text=True)
    sam = view.stdin
    for name, size in CHROMOSOMES:
        sam.write("@SQ\tSN:%s\tLN:%d\n" % (name, size))
    serial = 0
    for name, size in CHROMOSOMES:
        genome = rng.randbytes(size).translate(bytes(b"ACGT"[i % 4] for i in range(256))).decode()
        count = READS * size // total
        for pos in sorted(rng.randrange(size - LENGTH) for _ in range(count)):
            seq = genome[pos:pos + LENGTH]
            for _ in range(rng.randrange(4)):
                i = rng.randrange(LENGTH)
                seq = seq[:i] + "ACGT"[rng.randrange(4)] + seq[i + 1:]
            serial += 1
            sam.write("r%08d\t%d\t%s\t%d\t60\t%dM\t*\t0\t0\t%s\t%s\n" %
                      (serial, 16 if rng.random() < 0.5 else 0, name, pos + 1, LENGTH, seq, rng.choice(quals)))
    sam.close()
    if view.wait() != 0:
        sys.exit("gen_bam: samtools view failed")
    subprocess.run(["samtools", "index", out], check=True)


if __name__ == "__main__":
    main()
