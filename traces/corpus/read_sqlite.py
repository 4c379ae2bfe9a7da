#!/usr/bin/python3
"""The SQLite workload: indexed point and range queries through Python's sqlite3 module.

Usage: read_sqlite.py FILE.db

Opens the database read-only (so no journal is touched) and runs what an order-lookup service would:
200 customer lookups by the customer index (each a short index range, then one table row per match),
100 primary-key lookups, and 10 date-range aggregates by the day index. Keys come from a seeded
generator. SQLite reads 4 KiB pages with pread64 and keeps them in its page cache (2 MiB by default),
so the upper levels of each b-tree are read once.
"""
import random
import sqlite3
import sys


def main() -> None:
    rng = random.Random(7)
    db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
    total = 0.0
    for _ in range(200):
        c = rng.randrange(50_000)
        for (amount,) in db.execute("SELECT amount FROM orders WHERE customer = ?", (c,)):
            total += amount
    for _ in range(100):
        row = db.execute("SELECT amount FROM orders WHERE id = ?", (rng.randrange(500_000),)).fetchone()
        total += row[0]
    for _ in range(10):
        d = 18_000 + rng.randrange(700)
        n, s = db.execute("SELECT count(*), sum(amount) FROM orders WHERE day BETWEEN ? AND ?", (d, d + 6)).fetchone()
        total += n + s
    print(f"sqlite checksum {total:.2f}")


if __name__ == "__main__":
    main()
