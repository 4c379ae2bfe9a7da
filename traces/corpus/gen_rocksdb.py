#!/usr/bin/python3
"""Holdout data: a RocksDB database, as key-value stores keep their files in buckets (RocksDB's own
cloud file systems, a service's checkpoint restored from object storage).

400,000 user records (keys `user00000000` to `user00399999`, JSON-like values of 100-1,100 bytes of
seeded words) loaded in seeded-random key order through `ldb load --bulk_load --compact`, so the data
ends in sorted, Snappy-compressed SST files of about 16 MiB (4 KiB data blocks, RocksDB's defaults
otherwise, no Bloom filter) in one level. The keys, values and their order are the same on every run,
so the table files hold the same blocks; a few bytes are not (each table's properties keep its
creation time and the session's random id, and the manifest the database's).

Usage: gen_rocksdb.py OUT_DIR   (needs ldb: Debian's rocksdb-tools)
"""
import os
import random
import shutil
import subprocess
import sys

WORDS = ("order item price quantity customer address city country status shipped pending paid refund "
         "account email phone note discount coupon warehouse carrier tracking weight color size").split()

RECORDS = 400_000


def value(rng: random.Random) -> str:
    fields = []
    size = rng.randint(100, 1100)
    n = 0
    while n < size:
        field = '"%s": "%s"' % (rng.choice(WORDS), " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 8))))
        fields.append(field)
        n += len(field) + 2
    return "{" + ", ".join(fields) + "}"


def main() -> None:
    out = os.path.abspath(sys.argv[1])
    rng = random.Random(41)
    ids = list(range(RECORDS))
    rng.shuffle(ids)
    if os.path.exists(out):
        shutil.rmtree(out)
    load = subprocess.Popen(["ldb", "--db=" + out, "--create_if_missing", "--compression_type=snappy",
                             "--bloom_bits=10", "load", "--bulk_load", "--disable_wal"],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    for i in ids:
        load.stdin.write("user%08d ==> %s\n" % (i, value(rng)))
    load.stdin.close()
    if load.wait() != 0:
        sys.exit("gen_rocksdb: ldb load failed")
    # The bulk load leaves sorted runs in level 0; one manual compaction merges them into table files of
    # the target size in the last level, as a database looks after its compactions have settled.
    subprocess.run(["ldb", "--db=" + out, "--compression_type=snappy", "--bloom_bits=10", "--file_size=16777216",
                    "compact"], check=True, stdout=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
