#!/usr/bin/python3
"""Writes the SQLite database of the corpus: an orders table with secondary indexes.

Usage: gen_sqlite.py OUT.db

500,000 orders (id, customer, day, amount, sku, note) from a seeded generator, inserted in id order,
with indexes on customer and on day; 4 KiB pages (SQLite's default), then VACUUM so the file is compact
and the same on every run.
"""
import os
import random
import sqlite3
import sys

ROWS = 500_000


def main() -> None:
    out = sys.argv[1]
    if os.path.exists(out):
        os.remove(out)
    rng = random.Random(20261129)
    db = sqlite3.connect(out)
    db.execute("PRAGMA page_size = 4096")
    db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER NOT NULL, day INTEGER NOT NULL,"
               " amount REAL NOT NULL, sku TEXT NOT NULL, note TEXT)")
    rows = ((i, rng.randrange(50_000), 18_000 + i * 730 // ROWS, round(rng.lognormvariate(3, 1), 2),
             f"SKU-{rng.randrange(10_000):05d}", "gift" if rng.random() < 0.05 else None)
            for i in range(ROWS))
    db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?)", rows)
    db.execute("CREATE INDEX orders_customer ON orders (customer)")
    db.execute("CREATE INDEX orders_day ON orders (day)")
    db.commit()
    db.execute("VACUUM")
    db.close()


if __name__ == "__main__":
    main()
