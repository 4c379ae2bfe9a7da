#!/usr/bin/env python3
"""`auto` against the anchors on links slower than the built-in profiles (reports/findings/auto.md,
section "On links slower than the profiles").

Runs `pflab compare` over traces/corpus/ with the policies of `make demo` (the oracle aside), seeds
1-5, on each profile named, and counts the traces where `auto` misses issue 15's per-trace rule with
the acceptance test's reading: its median elapsed at most 1.10x the fastest anchor's with at most 1.5x
that anchor's bytes, or, where no anchor beats `none`, at most 1.02x `none`'s. Prints, per profile,
the misses and the geometric mean of `auto`'s elapsed over the fastest anchor's; with -v, every trace.

  reports/findings/slow_links.py [-v] [--pflab build/pflab] [--auto SPEC] [PROFILE ...]

--auto measures another spec in `auto`'s place (a variant such as 'auto(hedge=0)'), against the same
anchors.

Profiles are the built-in ones or those of reports/findings/slow_links.profiles.json (link-200MB,
link-50MB, link-12MB); the default is all six.
"""
import argparse
import collections
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SLOW = os.path.join(HERE, "slow_links.profiles.json")
ANCHORS = ("fsspec-readahead,fsspec-blockcache,fsspec-mmap,fsspec-bytes,fsspec-first,fsspec-all,"
            "fsspec-background,gcsfs-v795,gcsfs-v795(concurrency=4),gcsfs-adaptive,gcsfs-concurrent,"
            "linux-readahead,mountpoint-s3,gcsfuse,gcsfuse-buffered,arrow-coalesce,arrow-coalesce(lazy=false),"
            "fsspec-readahead > gcsfs-v795,fsspec-blockcache > gcsfs-adaptive")


def run(pflab, profile, spec, out):
    with open(SLOW) as f:
        slow = json.load(f)["profiles"]
    traces = sorted(os.path.join(ROOT, "traces", "corpus", t)
                    for t in os.listdir(os.path.join(ROOT, "traces", "corpus")) if t.endswith(".jsonl"))
    cmd = [pflab, "compare", *traces, "--policies", f"none,{spec},{ANCHORS}", "--profile", profile, "--seeds", "5", "-q",
           "--json", out]
    if profile in slow:
        cmd += ["--profiles", SLOW]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def summarize(path, profile, spec, verbose):
    with open(path) as f:
        runs = json.load(f)["runs"]
    cells = collections.defaultdict(list)
    for r in runs:
        m = r["metrics"]
        cells[(os.path.basename(r["trace"]), r["policy"])].append((m["elapsed_s"], m["bytes_fetched"]))

    def median(trace, policy, i):
        return statistics.median(x[i] for x in cells[(trace, policy)])

    traces = sorted({t for t, _ in cells})
    anchors = sorted({p for _, p in cells} - {spec, "none", "bound"})
    missed, logs = [], []
    for t in traces:
        best = min(anchors, key=lambda p: median(t, p, 0))
        best_s, none_s, auto_s = median(t, best, 0), median(t, "none", 0), median(t, spec, 0)
        if none_s < best_s:
            ok = auto_s <= 1.02 * none_s
        else:
            ok = auto_s <= 1.10 * best_s and median(t, spec, 1) <= 1.5 * median(t, best, 1)
        logs.append(math.log(auto_s / best_s))
        line = (f"  {t:26s} {spec} {auto_s:8.3f} s {median(t, spec, 1) / 2**20:7.1f} MiB   fastest anchor "
                f"{best:32s} {best_s:8.3f} s {median(t, best, 1) / 2**20:7.1f} MiB{'' if ok else '   MISS'}")
        if not ok:
            missed.append(line)
        elif verbose:
            print(line)
    print(f"{profile:18s} {spec} misses {len(missed):2d} of {len(traces)} traces; geometric mean of its elapsed "
          f"over the fastest anchor's {math.exp(sum(logs) / len(logs)):.3f}")
    for line in missed:
        print(line)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("profiles", nargs="*",
                    default=["gcs-regional", "gcs-cross-region", "local-fast", "link-200MB", "link-50MB", "link-12MB"])
    ap.add_argument("--pflab", default=os.path.join(ROOT, "build", "pflab"))
    ap.add_argument("--auto", default="auto", help="the spec measured in auto's place")
    ap.add_argument("-v", action="store_true", help="print every trace, not only the misses")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for profile in args.profiles:
            out = os.path.join(tmp, profile + ".json")
            run(args.pflab, profile, args.auto, out)
            summarize(out, profile, args.auto, args.v)
    return 0


if __name__ == "__main__":
    sys.exit(main())
