#!/usr/bin/env python3
"""Ranks the `auto(...)` grid points of a sweep (scripts/auto_sweep.sh) by the acceptance target of
issue 15, computed as tests/support/auto_evaluation.h computes it: per (profile, trace), medians over
seeds; a cell is met when elapsed <= 1.10 x the fastest anchor's, bytes <= 1.5 x that anchor's, and,
where no anchor beats `none`, elapsed <= 1.02 x none's. Anchors are every policy in the files that is
neither `oracle` nor an `auto` grid point. Also prints each point's geometric mean of elapsed / oracle
over all cells, and that divided by the best single anchor's (the target is at most 0.75). With
--defaults POLICY (the grid point of the defaults), then prints the ablation: every other point
against it, cells missed and geometric mean (reports/findings/auto.md quotes both tables).

usage: auto_sweep_summary.py [--defaults POLICY] SWEEP.jsonl...
"""
import json
import math
import statistics
import sys
from collections import defaultdict

# The profiles of issue 15's acceptance; any other profile in the files is a slow link's.
ACCEPTANCE_PROFILES = ("gcs-regional", "gcs-cross-region", "local-fast")


def main(args):
    defaults = None
    if len(args) >= 2 and args[0] == "--defaults":
        defaults, args = args[1], args[2:]
    paths = args
    runs = defaultdict(list)  # (profile, trace, policy) -> [(elapsed, bytes)]
    for path in paths:
        with open(path) as f:
            for line in f:
                r = json.loads(line)
                m = r["metrics"]
                runs[(r["profile"], r["trace"], r["policy"])].append((m["elapsed_s"], m["bytes_fetched"]))
    med = {k: (statistics.median(e for e, _ in v), statistics.median(b for _, b in v)) for k, v in runs.items()}
    policies = sorted({k[2] for k in med})
    all_cells = sorted({(k[0], k[1]) for k in med})
    cells = [c for c in all_cells if c[0] in ACCEPTANCE_PROFILES]
    slow_cells = [c for c in all_cells if c[0] not in ACCEPTANCE_PROFILES]
    anchors = [p for p in policies if p not in ("oracle", "bound") and not p.startswith("auto")]
    candidates = [p for p in policies if p.startswith("auto")]

    def geo(policy):
        logs = [math.log(med[(p, t, policy)][0] / med[(p, t, "oracle")][0]) for p, t in cells]
        return math.exp(sum(logs) / len(logs))

    def slow(policy):
        # As reports/findings/slow_links.py reads a slow link's cell: the fastest anchor other than `none`;
        # where `none` beats it, at most 1.02x `none`.
        missed, logs = [], []
        for p, t in slow_cells:
            fastest = min((a for a in anchors if a != "none"), key=lambda a: med[(p, t, a)])
            be, bb = med[(p, t, fastest)]
            ne = med[(p, t, "none")][0]
            e, b = med[(p, t, policy)]
            ok = e <= 1.02 * ne if ne < be else e <= 1.10 * be and b <= 1.5 * bb
            if not ok:
                missed.append(f"{t}@{p}")
            logs.append(math.log(e / be))
        return missed, math.exp(sum(logs) / len(logs)) if logs else float("nan")

    best_single = min(anchors, key=geo)
    rows = []
    for c in candidates:
        missed = []
        for p, t in cells:
            # Ties on time go to the anchor that fetched the fewest bytes (the test breaks them by the
            # registry's order, which gives the same anchor on every tie of these traces).
            fastest = min(anchors, key=lambda a: med[(p, t, a)])
            be, bb = med[(p, t, fastest)]
            ne = med[(p, t, "none")][0]
            e, b = med[(p, t, c)]
            ok = e <= 1.10 * be and b <= 1.5 * bb and (be < ne or e <= 1.02 * ne)
            if not ok:
                missed.append(f"{t}@{p}")
        g = geo(c)
        slow_missed, slow_geo = slow(c)
        rows.append((len(missed) + len(slow_missed), g, c, missed, slow_missed, slow_geo))
    # Ranked by every cell missed, the acceptance's and the slow links' alike (a policy to ship is
    # judged on the links its users have), then by the acceptance's geometric mean.
    rows.sort(key=lambda r: r[:3])
    print(f"{len(cells)} acceptance cells; best single anchor {best_single} (geomean vs oracle "
          f"{geo(best_single):.3f}); {len(slow_cells)} slow-link cells")
    print(f"{'policy':52s} {'missed':>6s} {'geo/oracle':>10s} {'vs best':>8s} {'slow missed':>11s} "
          f"{'slow vs fastest':>15s}")
    for _, g, c, missed, slow_missed, slow_geo in rows:
        print(f"{c:52s} {len(missed):6d} {g:10.3f} {g / geo(best_single):8.3f} {len(slow_missed):11d} "
              f"{slow_geo:15.3f}")
    print("\ncells missed by the first row:", ", ".join(rows[0][3] + rows[0][4]))
    if defaults is None:
        return
    base = next((r for r in rows if r[2] == defaults), None)
    if base is None:
        sys.exit(f"auto_sweep_summary.py: --defaults {defaults} is not a grid point of the sweep")
    print(f"\nablation against the defaults {defaults}: {len(base[3])} acceptance cells missed, geomean "
          f"{base[1]:.3f}; {len(base[4])} slow-link cells missed, {base[5]:.3f}x the fastest anchor")
    print(f"{'policy':52s} {'missed':>6s} {'change':>6s} {'geo/oracle':>10s} {'vs defaults':>11s} "
          f"{'slow missed':>11s} {'change':>6s} {'slow vs defaults':>16s}")
    for _, g, c, missed, slow_missed, slow_geo in sorted(rows, key=lambda r: r[2]):
        if c != defaults:
            print(f"{c:52s} {len(missed):6d} {len(missed) - len(base[3]):+6d} {g:10.3f} "
                  f"{100 * (g / base[1] - 1):+10.1f}% {len(slow_missed):11d} {len(slow_missed) - len(base[4]):+6d} "
                  f"{100 * (slow_geo / base[5] - 1):+15.1f}%")
    print("cells missed by the defaults:", ", ".join(base[3] + base[4]))


if __name__ == "__main__":
    main(sys.argv[1:])
