#!/usr/bin/python3
"""Holdout workload: region queries on an indexed BAM file with samtools (htslib), as a genomics
pipeline or a genome browser asks a bucket for the reads under a locus. Each step is its own process
(a stream), and each opens the BAM (its header) and, for a region, the index (the whole .bai):

1. the header (`samtools view -H`) and the per-chromosome counts (`samtools idxstats`, from the index);
2. 30 loci, one process each (`samtools view -c BAM REGION`), 1 kbp to 1 Mbp, anywhere on the genome:
   the index gives the BGZF blocks that hold the locus, read in order;
3. a gene panel: 40 loci of 2 kbp in one process (`samtools view -c -M`: htslib's multi-region iterator,
   which visits them in genome order, skipping what lies between);
4. per-base depth over a 2 Mbp region (`samtools depth -a -r`): a few MB read in order.

Usage: read_bam.py BAM   (needs samtools: Debian's samtools)
"""
import os
import random
import subprocess
import sys

CHROMOSOMES = [("chr1", 60_000_000), ("chr2", 50_000_000), ("chr3", 40_000_000)]


def samtools(*args: str) -> str:
    return subprocess.run(["samtools", *args], text=True, check=True, stdout=subprocess.PIPE).stdout


def locus(rng: random.Random, width: int) -> str:
    name, size = rng.choice(CHROMOSOMES)
    start = rng.randrange(1, size - width)
    return "%s:%d-%d" % (name, start, start + width - 1)


def main() -> None:
    bam = os.path.abspath(sys.argv[1])
    rng = random.Random(67)
    samtools("view", "-H", bam)
    samtools("idxstats", bam)
    for _ in range(30):
        width = int(10 ** rng.uniform(3, 6))
        if int(samtools("view", "-c", bam, locus(rng, width))) <= 0 and width > 100_000:
            sys.exit("read_bam: no reads under a %d bp locus" % width)
    panel = [locus(rng, 2000) for _ in range(40)]
    samtools("view", "-c", "-M", bam, *panel)
    samtools("depth", "-a", "-r", locus(rng, 2_000_000), bam)


if __name__ == "__main__":
    main()
