#!/usr/bin/python3
"""Holdout workload: a key-value service and its batch jobs reading a RocksDB database through
RocksDB's own `ldb` tool, each step its own process (a stream, or several where RocksDB reads on
threads of its own):

1. one point lookup (`ldb get`): the database opened read-only, every table's footer, index and
   Bloom filter read, then one data block;
2. a service session (`ldb query`, reading commands from its input): 500 lookups, three in four from a
   hot set of 100 customers and the rest uniform over all of them (every key exists: the session
   ends at its first lookup that finds nothing);
3. a range scan of 5,000 consecutive customers (`ldb scan`): sequential data blocks, one read each
   (RocksDB asks the kernel for readahead with `readahead()`, which no read hook records);
4. a keys-only scan of 300 customers elsewhere.

Usage: read_rocksdb.py DB_DIR   (needs ldb: Debian's rocksdb-tools)
"""
import os
import random
import subprocess
import sys

RECORDS = 400_000


def ldb(db: str, *args: str, stdin: str = None) -> str:
    return subprocess.run(["ldb", "--db=" + db, *args], input=stdin, text=True, check=True,
                          stdout=subprocess.PIPE).stdout


def main() -> None:
    db = os.path.abspath(sys.argv[1])
    rng = random.Random(43)
    ldb(db, "get", "user%08d" % rng.randrange(RECORDS))
    hot = [rng.randrange(RECORDS) for _ in range(100)]
    lines = []
    for _ in range(500):
        if rng.random() < 0.75:
            key = rng.choice(hot)
        else:
            key = rng.randrange(RECORDS)
        lines.append("get user%08d\n" % key)
    answers = ldb(db, "query", stdin="".join(lines)).splitlines()
    if len(answers) != len(lines):
        sys.exit("read_rocksdb: %d answers to %d lookups" % (len(answers), len(lines)))
    start = rng.randrange(RECORDS - 5000)
    ldb(db, "scan", "--from=user%08d" % start, "--to=user%08d" % (start + 5000))
    start = rng.randrange(RECORDS - 300)
    ldb(db, "scan", "--from=user%08d" % start, "--to=user%08d" % (start + 300), "--no_value")


if __name__ == "__main__":
    main()
