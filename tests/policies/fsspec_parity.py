#!/usr/bin/python3
"""Runs read sequences through the real fsspec caches and prints the requests they make.

Used by tests/policies/fsspec_parity_test.cc, which runs the same reads through pflab's policy
layers and requires the same requests. Run with Debian's /usr/bin/python3 and python3-fsspec
(2022.11; scripts/setup.sh installs it).

Input: a JSON file (argv[1], or stdin) {"cases": [case, ...]}, each case
    {"cache": "readahead"|"bytes"|"all"|"first"|"blockcache"|"mmap"|"parts",
     "size": N, "blocksize": B, "maxblocks": M (blockcache), "parts": [[a, b], ...] (parts),
     "reads": [[start, end], ...]}
Output (stdout): {"fsspec_version": "...", "results": [result, ...]}, each result
    {"init": [[s, e], ...],           requests made by the constructor (AllBytes)
     "reads": [[[s, e], ...], ...],   requests made by each read, in order
     "lengths": [n, ...],             bytes each read returned (-1 if it raised ValueError)
     "normalized": "..."}             what normalization was applied, if any

Every request is logged clamped to the file size, [min(s, size), min(e, size)), and requests that are
empty after clamping are dropped: fsspec asks for whole blocks past EOF (BlockCache's last block,
MMapCache's block after a block-aligned end), while pflab's layers clamp to the object (the Source
contract) and send nothing for an empty range. The fetcher returns that many zero bytes, as a backend
does at EOF.

MMapCache: master merges each run of consecutive missing blocks into one request; 2022.11 sends one
request per block, in ascending order. On an fsspec without run merging (no `multi_fetcher` argument),
the requests of one read that touch end to start are merged here, which yields exactly master's runs
(the blocks of a run are requested in ascending order with nothing between them, and separate runs
are separated by at least one cached block). The result says "mmap-runs-merged" when this was done.

The caches are taken from fsspec.caching.caches: BlockCache is "blockcache" on master and "block" in
2022.11. No fsspec code is patched; where 2022.11 and master disagree in ways not normalized here
(BlockCache on block-aligned ends or reads spanning more than maxblocks blocks, FirstChunkCache past
EOF, KnownPartsOfAFile reads starting outside the parts), the C++ test only sends reads on which they
agree.
"""
import inspect
import json
import sys
import warnings

NAMES = {
    "readahead": ["readahead"],
    "bytes": ["bytes"],
    "all": ["all"],
    "first": ["first"],
    "blockcache": ["blockcache", "block"],
    "mmap": ["mmap"],
    "parts": ["parts"],
}


def cache_class(caching, name):
    for key in NAMES[name]:
        if key in caching.caches:
            return caching.caches[key]
    raise SystemExit(f"fsspec_parity: fsspec has no cache {name!r} (keys: {sorted(map(str, caching.caches))})")


def merge_adjacent(requests):
    out = []
    for s, e in requests:
        if out and out[-1][1] == s:
            out[-1][1] = e
        else:
            out.append([s, e])
    return out


def run_case(caching, case):
    name = case["cache"]
    size = case["size"]
    blocksize = case["blocksize"]
    log = []

    def fetcher(start, end):
        s, e = min(start, size), min(end, size)
        if s < e:
            log.append([s, e])
        return b"\0" * max(0, e - s)

    cls = cache_class(caching, name)
    kwargs = {}
    if name == "blockcache":
        kwargs["maxblocks"] = case["maxblocks"]
    if name == "parts":
        kwargs["data"] = {(a, b): b"\0" * (b - a) for a, b in case["parts"]}
        kwargs["strict"] = False
    cache = cls(blocksize, fetcher, size, **kwargs)
    merge = name == "mmap" and "multi_fetcher" not in inspect.signature(cls.__init__).parameters

    result = {"init": list(log), "reads": [], "lengths": [], "normalized": "mmap-runs-merged" if merge else ""}
    for start, end in case["reads"]:
        del log[:]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = cache._fetch(start, end)
            result["lengths"].append(len(out))
        except ValueError:
            result["lengths"].append(-1)
        result["reads"].append(merge_adjacent(log) if merge else list(log))
    return result


def main():
    try:
        import fsspec
        from fsspec import caching
    except ImportError as e:
        print(f"fsspec_parity: cannot import fsspec ({e}); install python3-fsspec (sudo scripts/setup.sh)",
              file=sys.stderr)
        return 2
    with open(sys.argv[1]) if len(sys.argv) > 1 else sys.stdin as f:
        spec = json.load(f)
    results = [run_case(caching, case) for case in spec["cases"]]
    json.dump({"fsspec_version": fsspec.__version__, "results": results}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
