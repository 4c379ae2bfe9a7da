#!/usr/bin/python3
"""Holdout workload: a search service answering queries from a Xapian index (one process, one open
database): 150 queries of one to three words (drawn with the corpus's own skew, so most combine a
common word with rarer ones), a third of them phrase searches, each returning the top 10 documents
with their stored text, as a results page shows them.

Usage: read_xapian.py INDEX.glass
"""
import random
import sys

import xapian

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from gen_xapian import VOCABULARY, words  # noqa: E402  the generator's vocabulary, drawn the same way


def main() -> None:
    db = xapian.Database(sys.argv[1])
    vocab = words(random.Random(47))
    weights = [1.0 / (i + 1) for i in range(VOCABULARY)]
    rng = random.Random(53)
    enquire = xapian.Enquire(db)
    shown = 0
    for q in range(150):
        terms = rng.choices(vocab, weights, k=rng.randint(1, 3))
        if q % 3 == 0 and len(terms) > 1:
            query = xapian.Query(xapian.Query.OP_PHRASE, terms)
        else:
            query = xapian.Query(xapian.Query.OP_AND, terms)
        enquire.set_query(query)
        for match in enquire.get_mset(0, 10):
            shown += len(match.document.get_data())
    print(f"xapian shown {shown} bytes")


if __name__ == "__main__":
    main()
