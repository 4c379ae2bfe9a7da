#!/usr/bin/python3
"""Holdout data: a full-text search index (Xapian 1.4, glass backend), as search services keep their
index segments in buckets and query them there.

60,000 synthetic articles (a title and 40-400 words each, drawn from a 6,000-word vocabulary with a
Zipf-like skew, so a few terms are in most documents and most terms in few), indexed with positions
and stored document data (the title and the first words), committed in batches of 5,000, then
compacted into a single-file database (`xapian-compact --single-file`), as an index is shipped.

Usage: gen_xapian.py OUT.glass   (needs python3-xapian, and xapian-compact from xapian-tools)
"""
import os
import random
import shutil
import subprocess
import sys
import tempfile

import xapian

DOCS = 60_000
VOCABULARY = 6_000


def words(rng: random.Random) -> list:
    syllables = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "an", "el", "or", "us", "ba", "de", "fi", "go"]
    out = set()
    while len(out) < VOCABULARY:
        out.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
    return sorted(out)


def main() -> None:
    out = os.path.abspath(sys.argv[1])
    rng = random.Random(47)
    vocab = words(rng)
    weights = [1.0 / (i + 1) for i in range(VOCABULARY)]
    with tempfile.TemporaryDirectory() as tmp:
        db = xapian.WritableDatabase(os.path.join(tmp, "db"), xapian.DB_CREATE_OR_OVERWRITE)
        tg = xapian.TermGenerator()
        for i in range(DOCS):
            title = " ".join(rng.choices(vocab, weights, k=rng.randint(3, 8)))
            body = " ".join(rng.choices(vocab, weights, k=rng.randint(40, 400)))
            doc = xapian.Document()
            tg.set_document(doc)
            tg.index_text(title, 1, "S")
            tg.index_text(title)
            tg.increase_termpos()
            tg.index_text(body)
            doc.set_data(title + "\n" + body[:200])
            doc.add_value(0, xapian.sortable_serialise(i))
            db.add_document(doc)
            if (i + 1) % 5000 == 0:
                db.commit()
        db.close()
        if os.path.exists(out):
            os.remove(out)
        subprocess.run(["xapian-compact", "--single-file", os.path.join(tmp, "db"), out], check=True,
                       stdout=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
