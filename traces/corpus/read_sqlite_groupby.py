#!/usr/bin/python3
"""Holdout workload: an aggregate over the customer index of orders.db (index order, table rows all over).

Usage: read_sqlite_groupby.py FILE.db
"""
import sqlite3
import sys


def main() -> None:
    db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
    rows = db.execute(
        "SELECT customer, count(*), sum(amount) FROM orders WHERE customer BETWEEN 20000 AND 20600 GROUP BY customer"
    ).fetchall()
    print(len(rows))


if __name__ == "__main__":
    main()
