#!/usr/bin/python3
"""Lists the reads of matching files in an strace log, to check what the recorder should see.

Usage: strace_reads.py LOG SUBSTRING [--jsonl OUT]

LOG comes from `strace -f -ttt -T -y -s 0 -e trace=openat,read,pread64,readv,preadv,lseek,mmap,close
-o LOG CMD`. Prints one line per read that returned data, "pid op offset length", then a summary, and
warns about mmaps of the files (reads through a mapping are invisible to a read hook and to strace).
With --jsonl it also writes the reads as a trace v1 file (one stream per thread, object names as the
paths' basenames), to compare with what `pflab record` wrote; such traces stay out of the corpus, which
holds only recorder traces.
"""
import json
import os
import re
import sys

CALL = re.compile(r"^(\d+)\s+([\d.]+)\s+(\w+)\((.*)\)\s+=\s+(-?\d+|0x[0-9a-f]+)(?:.*<([\d.]+)>)?")
FD = re.compile(r"^(\d+)<([^>]*)>")


def merge_resumed(lines):
    """Joins '<unfinished ...>' halves with their '<... NAME resumed>' rest, per pid."""
    pending = {}
    for line in lines:
        pid = line.split(None, 1)[0]
        if line.rstrip().endswith("<unfinished ...>"):
            pending[pid] = line.rstrip()[: -len("<unfinished ...>")]
            continue
        m = re.search(r"<\.\.\. \w+ resumed>", line)
        if m and pid in pending:
            line = pending.pop(pid) + line[m.end():]
        yield line


def write_jsonl(out: str, reads, log: str) -> None:
    paths = sorted({r[4] for r in reads})
    ids = {p: f"o{i}" for i, p in enumerate(paths)}
    streams = {}
    t0 = reads[0][5] if reads else 0.0

    def size(path: str) -> int:
        # A file the program deleted after reading it (RocksDB's old manifests and options files) is
        # given the end of its furthest read.
        if os.path.exists(path):
            return os.path.getsize(path)
        return max(off + n for _, _, off, n, p, _, _ in reads if p == path)

    header = {"format": "pflab-trace", "version": 1,
              "objects": [{"id": ids[p], "name": os.path.basename(p), "size": size(p)} for p in paths],
              "source": {"converter": "strace_reads.py", "strace_log": os.path.basename(log)}}
    with open(out, "w") as f:
        f.write(json.dumps(header) + "\n")
        for pid, _, off, n, path, t, dur in sorted(reads, key=lambda r: r[5]):
            s = streams.setdefault(pid, len(streams))
            f.write(json.dumps({"t": round((t - t0) * 1e9), "stream": s, "object": ids[path], "offset": off,
                                "length": n, "dur": round(dur * 1e9)}) + "\n")


def main() -> None:
    log, needle = sys.argv[1], sys.argv[2]
    pos = {}  # (pid, fd) -> file position, for read/readv
    reads, mmaps = [], 0
    with open(log, errors="replace") as f:
        for line in merge_resumed(f):
            m = CALL.match(line)
            if not m:
                continue
            pid, t, op, args, ret = m.group(1), float(m.group(2)), m.group(3), m.group(4), m.group(5)
            dur = float(m.group(6) or 0)
            fdm = FD.match(args.split(", ")[0]) if op != "mmap" else None
            if op == "mmap":
                if needle in args and not ret.startswith("-"):
                    mmaps += 1
                continue
            if op == "openat":
                continue
            if not fdm or needle not in fdm.group(2):
                continue
            key = (pid, fdm.group(1))
            value = int(ret, 0)
            parts = [a.strip() for a in args.split(",")]
            if op == "lseek" and value >= 0:
                pos[key] = value
            elif op in ("read", "readv") and value > 0:
                reads.append((pid, op, pos.get(key, 0), value, fdm.group(2), t, dur))
                pos[key] = pos.get(key, 0) + value
            elif op in ("pread64", "preadv") and value > 0:
                reads.append((pid, op, int(parts[-1]), value, fdm.group(2), t, dur))
            elif op == "close":
                pos.pop(key, None)
    for r in reads:
        print(*r[:4])
    if "--jsonl" in sys.argv:
        write_jsonl(sys.argv[sys.argv.index("--jsonl") + 1], reads, log)
    total = sum(r[3] for r in reads)
    ops = sorted({r[1] for r in reads})
    print(f"# {len(reads)} reads, {total} bytes, ops {','.join(ops)}, {len(set(r[0] for r in reads))} pids")
    if mmaps:
        print(f"# WARNING: {mmaps} mmap(s) of matching files: reads through them are not seen")


if __name__ == "__main__":
    main()
