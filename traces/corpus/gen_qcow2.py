#!/usr/bin/python3
"""Holdout data: a qcow2 virtual-machine disk image, as VM images are kept in buckets and imported
or inspected from there.

A 2 GiB virtual disk (64 KiB clusters) with 600 extents of 64 KiB to 2 MiB written at seeded-random
virtual offsets, in a seeded-random order, through `qemu-io`: qcow2 appends each newly written cluster
to the image, so the image holds the data in the order it was written, not in the disk's order, as a
guest's writes leave it. About 500 MiB of the disk are allocated.

Usage: gen_qcow2.py OUT.qcow2   (needs qemu-img and qemu-io: Debian's qemu-utils)
"""
import os
import random
import subprocess
import sys

DISK = 2 << 30
CLUSTER = 64 << 10


def main() -> None:
    out = os.path.abspath(sys.argv[1])
    rng = random.Random(59)
    if os.path.exists(out):
        os.remove(out)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=%d" % CLUSTER, out, str(DISK)],
                   check=True)
    writes = []
    for _ in range(600):
        length = rng.randint(1, 32) * CLUSTER
        offset = rng.randrange(0, (DISK - length) // CLUSTER) * CLUSTER
        writes.append("write -q -P 0x%02x %d %d" % (rng.randrange(1, 256), offset, length))
    rng.shuffle(writes)
    for batch in range(0, len(writes), 100):
        args = ["qemu-io", "-f", "qcow2"]
        for w in writes[batch:batch + 100]:
            args += ["-c", w]
        subprocess.run(args + [out], check=True, stdout=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
