#!/usr/bin/python3
"""Summarises trace files (format v1): what the reads look like, for traces/corpus/README.md.

Usage: describe.py TRACE.jsonl... [--markdown]

Per trace: objects and their total size, reads and bytes read, streams, read sizes (min / median /
max), how reads follow each other within a stream (sequential = starts where the stream's previous
read of the same object ended; forward or backward jump otherwise; object switch), where the first
read of each object falls (head, middle, tail = last 1 MiB or last 10%), bytes read more than once,
and the recorded span. Reads are taken as written; nothing is merged.
"""
import json
import statistics
import sys


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def union_bytes(ranges) -> int:
    total, end = 0, -1
    for s, e in sorted(ranges):
        if s > end:
            total += e - s
            end = e
        elif e > end:
            total += e - end
            end = e
    return total


def describe(path: str) -> dict:
    with open(path) as f:
        lines = [json.loads(line) for line in f if line.strip() and not line.startswith("#")]
    header, records = lines[0], lines[1:]
    objects = {o["id"]: o for o in header["objects"]}
    only = next(iter(objects)) if len(objects) == 1 else None
    last = {}  # (stream, object) -> end of the previous read
    prev_obj = {}  # stream -> object of the previous read
    seq = fwd = back = switch = 0
    fwd_gaps, back_gaps = [], []
    first = {}
    ranges = {}
    for r in records:
        obj = r.get("object", only)
        s = r.get("stream", 0)
        start, end = r["offset"], r["offset"] + r["length"]
        ranges.setdefault(obj, []).append((start, end))
        if obj not in first:
            first[obj] = start
        if s in prev_obj and prev_obj[s] != obj:
            switch += 1
        elif (s, obj) in last:
            if start == last[(s, obj)]:
                seq += 1
            elif start > last[(s, obj)]:
                fwd += 1
                fwd_gaps.append(start - last[(s, obj)])
            else:
                back += 1
                back_gaps.append(last[(s, obj)] - start)
        last[(s, obj)] = end
        prev_obj[s] = obj
    where = {"head": 0, "middle": 0, "tail": 0}
    for obj, off in first.items():
        size = objects[obj]["size"]
        if off == 0:
            where["head"] += 1
        elif off >= size - max(1 << 20, size // 10):
            where["tail"] += 1
        else:
            where["middle"] += 1
    lengths = [r["length"] for r in records]
    read_bytes = sum(lengths)
    distinct = sum(union_bytes(v) for v in ranges.values())
    span_ns = max((r["t"] + r.get("dur", 0) for r in records), default=0)
    return {
        "trace": path.rsplit("/", 1)[-1],
        "objects": len(objects),
        "object_bytes": sum(o["size"] for o in objects.values()),
        "reads": len(records),
        "read_bytes": read_bytes,
        "distinct_bytes": distinct,
        "streams": len({r.get("stream", 0) for r in records}),
        "len_min": min(lengths, default=0),
        "len_median": int(statistics.median(lengths)) if lengths else 0,
        "len_max": max(lengths, default=0),
        "sequential": seq,
        "forward": fwd,
        "backward": back,
        "switch": switch,
        "median_forward_gap": int(statistics.median(fwd_gaps)) if fwd_gaps else 0,
        "median_backward_gap": int(statistics.median(back_gaps)) if back_gaps else 0,
        "first_read": where,
        "span_s": span_ns / 1e9,
    }


def text(d: dict) -> str:
    return (f"{d['trace']}: {d['objects']} object(s), {d['object_bytes']} B ({human(d['object_bytes'])}); "
            f"{d['reads']} reads, {human(d['read_bytes'])} read, {human(d['distinct_bytes'])} distinct; "
            f"{d['streams']} stream(s); read size min/median/max {human(d['len_min'])} / "
            f"{human(d['len_median'])} / {human(d['len_max'])}; after a read of the same stream: "
            f"{d['sequential']} sequential, {d['forward']} forward jumps (median {human(d['median_forward_gap'])}), "
            f"{d['backward']} backward (median {human(d['median_backward_gap'])}), {d['switch']} object switches; "
            f"first read of each object at head/middle/tail: {d['first_read']['head']}/"
            f"{d['first_read']['middle']}/{d['first_read']['tail']}; span {d['span_s']:.2f} s")


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    markdown = "--markdown" in sys.argv
    rows = [describe(p) for p in args]
    if markdown:
        print("| trace | objects | object bytes | reads | bytes read | distinct | streams | read size min/med/max "
              "| seq / fwd / back / switch | first read head/mid/tail | span |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for d in rows:
            print(f"| `{d['trace']}` | {d['objects']} | {d['object_bytes']} | {d['reads']} | {human(d['read_bytes'])} "
                  f"| {human(d['distinct_bytes'])} | {d['streams']} | {human(d['len_min'])} / {human(d['len_median'])} / "
                  f"{human(d['len_max'])} | {d['sequential']} / {d['forward']} / {d['backward']} / {d['switch']} "
                  f"| {d['first_read']['head']} / {d['first_read']['middle']} / {d['first_read']['tail']} "
                  f"| {d['span_s']:.2f} s |")
    else:
        for d in rows:
            print(text(d))


if __name__ == "__main__":
    main()
