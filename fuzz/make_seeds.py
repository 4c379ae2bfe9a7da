#!/usr/bin/env python3
"""Writes the committed seed corpora of the fuzz targets (fuzz/corpus/TARGET/) from the repository's
own material: the first lines of real corpus traces, the importer fixtures, specs and grids from the
docs, HTTP requests for the fake server. Rerun after changing it; inputs the fuzzers found (crashes
turned regression tests) live next to these as found-*, and this script leaves them alone."""
import json
import os
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"


def put(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / name).write_bytes(data)


def head(path, lines):
    with open(path, "rb") as f:
        return b"".join(f.readline() for _ in range(lines))


# trace_io: real traces' first lines, hints, several objects, comments and blank lines.
for trace in sorted((ROOT / "traces" / "corpus").glob("*.jsonl")):
    put("trace_io", "corpus-" + trace.stem, head(trace, 6))
HEADER = '{"format":"pflab-trace","version":1,"objects":[{"id":"o0","name":"a.bin","size":1000}]}\n'
put("trace_io", "hints", HEADER + '{"t":0,"stream":0,"offset":0,"length":10}\n'
    '{"t":5,"stream":0,"hint":[[100,50],[300,0],[10,20]]}\n{"t":5,"stream":0,"offset":100,"length":50}\n'
    '{"t":9,"stream":0,"hint":[]}\n')
put("trace_io", "two-objects", '{"format":"pflab-trace","version":1,"objects":[{"id":"a","bucket":"b","name":"x/a",'
    '"size":100},{"id":"b","size":7}],"source":{"generator":"hand","n":[1,2.5,null]}}\n'
    '# a comment\n\n{"t":0,"stream":3,"object":"a","offset":0,"length":100,"dur":12}\n'
    '{"t":0,"object":"b","offset":7,"length":0}\r\n')

# import_csv: the forms docs/importing.md describes.
put("import_csv", "positional", "0,4096\n4096,4096\n1048576,512\n")
put("import_csv", "time-stream", "0,100,1.5,0\n100,100,1.500001,1\n200,50,2,0\n")
put("import_csv", "header", "# reads\nstream,offset,length,time,dur\n1,0,10,0.25,0.001\n0,10,10,0.5,0.002\n")
put("import_csv", "header-partial", "length,offset\n10,0\n\n20,30\n")

# import_strace: the fixtures' reading part and the shapes the tests cover.
FIX = ROOT / "tests" / "traces" / "fixtures"
for name in ("strace_c_threads.txt", "strace_python.txt"):
    lines = (FIX / name).read_bytes().splitlines(keepends=True)
    reads = [l for l in lines if b"pflab_fixture_data" in l or b"unfinished" in l or b"resumed" in l]
    put("import_strace", "fixture-" + name.split(".")[0], b"".join(reads[:40]))
put("import_strace", "unfinished-resumed",
    "100 1.000000 openat(AT_FDCWD</w>, \"/d/f.bin\", O_RDONLY) = 3</d/f.bin> <0.000010>\n"
    "100 1.000100 read(3</d/f.bin>,  <unfinished ...>\n"
    "101 1.000200 pread64(3</d/f.bin>, \"\"..., 10, 500) = 10 <0.000050>\n"
    "100 1.000300 <... read resumed>\"\"..., 4096) = 4096 <0.000200>\n"
    "101 1.000350 read(3</d/f.bin>, \"\"..., 4) = 4 <0.000001>\n"
    "100 1.000400 read(3</d/f.bin>, \"\"..., 4096) = -1 EAGAIN (Resource temporarily unavailable) <0.000001>\n"
    "100 1.000450 lseek(3</d/f.bin>, -100, SEEK_END) = 99900 <0.000001>\n"
    "100 1.000500 preadv2(3</d/f.bin>, [{iov_base=\"\"..., iov_len=8}], 1, -1, 0) = 8 <0.000001>\n"
    "100 1.000600 read(3</d/f.bin>, \"\", 4096) = 0 <0.000001>\n"
    "100 1.000650 read(3</d/f.bin>,  <unfinished ...>\n"
    "100 1.000700 <... read resumed> <unfinished ...>) = ?\n"
    "100 1.000800 +++ killed by SIGKILL +++\n")
put("import_strace", "no-pid", "1.5 openat(AT_FDCWD, \"/x.bin\", O_RDONLY) = 3</x.bin> <0.000010>\n"
    "strace: Process 7 attached\n[pid     7] 1.6 read(3</x.bin>, \"\"..., 8) = 8 <0.000010>\n"
    "1.7 readv(3</x.bin>, [{iov_base=\"\"..., iov_len=4}, {iov_base=\"\"..., iov_len=4}], 2) = 8 <0.000010>\n")

# import_gcsfs_log: the fixture's first lines (gcsfs GETs and fsspec reads).
put("import_gcsfs_log", "fixture", head(FIX / "gcsfs_debug.log", 30))
put("import_gcsfs_log", "escaped",
    "2026-01-02 03:04:05,100 - gcsfs - DEBUG - _call -- GET: https://storage.googleapis.com/download/storage/v1/b/"
    "bkt/o/a%2Fb%20c.bin?alt=media, (), {'Range': 'bytes=0-99'}\n"
    "2026-01-02 03:04:05,250 - fsspec - DEBUG - read -- <File-like object GCSFileSystem, bkt/a/b c.bin> "
    "read: 0 - 100 , hits: 0, misses: 1\n")

# policy_spec: every policy with its documented defaults, and the stacks the docs show.
docs = (ROOT / "docs" / "policies.md").read_text() + (ROOT / "docs" / "cli.md").read_text()
import re
specs = sorted(set(re.findall(r"`([a-z0-9-]+\([a-z_]+=[^`]*\))`", docs)))
specs += ["none", "oracle", "fsspec-all", "fsspec-readahead(blocksize=5MiB) > gcsfs-v795 > concurrent(parts=4)",
          "fsspec-blockcache(blocksize=64KiB) > linux-readahead", "arrow-coalesce(lazy=false) > concurrent(parts=2)",
          "none, fsspec-mmap(blocksize=1MiB), gcsfs-adaptive(concurrency=2)"]
for i, spec in enumerate(specs):
    put("policy_spec", "spec-%02d" % i, spec)

# sweep_grid: the grids docs/sweeps.md shows.
grids = re.findall(r"--policy '([^']*)'", (ROOT / "docs" / "sweeps.md").read_text())
grids += ["fsspec-blockcache(blocksize=1MiB|4MiB) > gcsfs-adaptive(streak=1..3)",
          "gcsfs-adaptive(streak=1|3..5, max=16MiB..256MiB*2)", "fsspec-readahead(blocksize=1MiB..9MiB:4)",
          "none, fsspec-bytes(blocksize=1MiB|2MiB)"]
for i, grid in enumerate(sorted(set(grids))):
    put("sweep_grid", "grid-%02d" % i, grid)

# range_header: 8 bytes of object size (little-endian), then the header value.
for i, (size, header) in enumerate([(1000, "bytes=0-99"), (1000, "bytes=900-"), (1000, "bytes=-100"),
                                    (1000, "bytes=1000-2000"), (0, "bytes=0-0"), (10, "bytes=5-3"),
                                    (10, "bytes=0-1,4-5"), (10, " bytes = 2 - 4 "), (1 << 40, "bytes=-0"),
                                    (10, "items=0-1")]):
    put("range_header", "range-%02d" % i, struct.pack("<Q", size) + header.encode())

# fake_server: requests for every route the server has, some pipelined.
def req(line, headers=(), body=""):
    h = "".join(x + "\r\n" for x in headers)
    if body:
        h += "Content-Length: %d\r\n" % len(body)
    return line + " HTTP/1.1\r\nHost: x\r\n" + h + "\r\n" + body

MULTI = ("--B\r\nContent-Type: application/json\r\n\r\n{\"name\":\"up.bin\"}\r\n--B\r\n"
         "Content-Type: text/plain\r\n\r\nuploaded\r\n--B--\r\n")
requests = {
    "health": req("GET /"),
    "media-range": req("GET /storage/v1/b/bkt/o/dir%2Fa%20b.bin?alt=media", ["Range: bytes=10-99"]),
    "download-suffix": req("GET /download/storage/v1/b/bkt/o/big.bin?alt=media", ["Range: bytes=-4096"]),
    "xml-head": req("HEAD /bkt/dir/sub/c"),
    "xml-range-416": req("GET /bkt/small.txt", ["Range: bytes=100-"]),
    "metadata": req("GET /storage/v1/b/bkt/o/small.txt?ifGenerationMatch=1&alt=json"),
    "list": req("GET /storage/v1/b/bkt/o?prefix=dir%2F&delimiter=%2F&maxResults=1&includeTrailingDelimiter=true"),
    "buckets": req("GET /storage/v1/b") + req("GET /storage/v1/b/other"),
    "bucket-insert": req("POST /storage/v1/b", ["Content-Type: application/json"], '{"name":"new"}'),
    "upload-media": req("POST /upload/storage/v1/b/bkt/o?uploadType=media&name=n.txt", [], "0123456789")
    + req("GET /bkt/n.txt", ["Range: bytes=2-5"]),
    "upload-multipart": req("POST /upload/storage/v1/b/bkt/o?uploadType=multipart",
                            ["Content-Type: multipart/related; boundary=B"], MULTI),
    "delete": req("DELETE /storage/v1/b/bkt/o/empty") + req("GET /storage/v1/b/bkt/o/empty"),
    "retry-test": req("POST /retry_test", ["Content-Type: application/json"],
                      '{"instructions":{"storage.objects.get":["return-503"]}}') + req("GET /retry_tests"),
    "expect-continue": req("POST /upload/storage/v1/b/bkt/o?uploadType=media&name=e",
                           ["Expect: 100-continue"], "abc"),
    "generation": req("GET /storage/v1/b/bkt/o/big.bin?alt=media&generation=1000000000000000", ["Connection: close"]),
    "chunked": "POST /upload/storage/v1/b/bkt/o?uploadType=media&name=c HTTP/1.1\r\nHost: x\r\n"
               "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
}
for name, text in requests.items():
    put("fake_server", name, text)

# results: a results document as compare writes it (two runs, details) and sweep result lines.
metrics = {"elapsed_s": 1.5, "stall_s": 0.5, "read_latency_s": {"p50": 0.01, "p95": 0.02, "p99": 0.03, "max": 0.1},
           "reads": 10, "reads_failed": 0, "bytes_read": 1000, "bytes_fetched": 2000, "bytes_wasted": 1000,
           "requests": 3, "requests_cancelled": 0, "requests_failed": 0, "retries": 0, "peak_memory_bytes": 4096,
           "cost_usd": 1.2e-6}
runs = [{"trace": "t", "policy": p, "profile": "gcs-regional", "seed": 1, "think": "recorded", "events": 42,
         "metrics": metrics} for p in ("none", "fsspec-readahead")]
runs[1]["latency_quantiles_s"] = [i / 1000 for i in range(101)]
doc = {"schema": 1, "generator": "pflab compare", "config": {"profile": "gcs-regional"}, "runs": runs,
       "timelines": [{"trace": "t", "policy": "none", "reads_total": 1, "fetches_total": 1, "reads_stride": 1,
                      "fetches_stride": 1, "reads": [[0, 10, 0, 100, 0]], "fetches": [[1, 9, 0, 100, "done"]]}]}
put("results", "document", json.dumps(doc))
line = {"trace": "t", "trace_file": "t.jsonl", "trace_md5": "0" * 32, "policy": "none", "profile": "gcs-regional",
        "seed": 1, "think": "recorded", "events": 42, "metrics": metrics}
lines = json.dumps(line) + "\n" + json.dumps(dict(line, policy="fsspec-all")) + "\n"
put("results", "sweep-lines", lines)
put("results", "sweep-cut-tail", lines + json.dumps(line)[:40])
put("results", "sweep-no-newline", lines + json.dumps(dict(line, seed=2)))
