#!/usr/bin/python3
"""Lists the reads of matching files in an strace log, to check what the recorder should see.

Usage: strace_reads.py LOG SUBSTRING

LOG comes from `strace -f -ttt -T -y -s 0 -e trace=openat,read,pread64,readv,preadv,lseek,mmap,close
-o LOG CMD`. Prints one line per read that returned data, "pid op offset length", then a summary, and
warns about mmaps of the files (reads through a mapping are invisible to a read hook and to strace).
This is a validation aid, not a trace converter.
"""
import re
import sys

CALL = re.compile(r"^(\d+)\s+[\d.]+\s+(\w+)\((.*)\)\s+=\s+(-?\d+|0x[0-9a-f]+)")
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


def main() -> None:
    log, needle = sys.argv[1], sys.argv[2]
    pos = {}  # (pid, fd) -> file position, for read/readv
    reads, mmaps = [], 0
    with open(log, errors="replace") as f:
        for line in merge_resumed(f):
            m = CALL.match(line)
            if not m:
                continue
            pid, op, args, ret = m.group(1), m.group(2), m.group(3), m.group(4)
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
                reads.append((pid, op, pos.get(key, 0), value))
                pos[key] = pos.get(key, 0) + value
            elif op in ("pread64", "preadv") and value > 0:
                reads.append((pid, op, int(parts[-1]), value))
            elif op == "close":
                pos.pop(key, None)
    for r in reads:
        print(*r)
    total = sum(r[3] for r in reads)
    ops = sorted({r[1] for r in reads})
    print(f"# {len(reads)} reads, {total} bytes, ops {','.join(ops)}, {len(set(r[0] for r in reads))} pids")
    if mmaps:
        print(f"# WARNING: {mmaps} mmap(s) of matching files: reads through them are not seen")


if __name__ == "__main__":
    main()
