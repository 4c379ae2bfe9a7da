#!/usr/bin/python3
"""Runs a gcsfs-style prefetcher class on a plain asyncio event loop with an instant fetcher and prints
the requests it makes, for tests/python/python_bridge_test.cc to compare with the same class run by
pflab's bridge.

    plain_asyncio.py FILE.py CLASS SIZE 'KWARGS_JSON' 'READS_JSON'

One thread, one loop: fsspec.asyn.get_loop() is that loop and fsspec.asyn.sync(loop, f, ...) runs
f(...) on it to completion. After the constructor and after each read the loop runs until nothing is
ready (the reader waits for the prefetcher to settle, as the bridge test does by running the simulator
until it is idle). The fetcher answers at once with SIZE zero bytes.

Output: {"reads": [[[s, e], ...], ...], "lengths": [n, ...]}: the requests made by each read (those of
the constructor counted with the first read) and the bytes each read returned.
"""
import asyncio
import importlib.util
import json
import os
import sys

import fsspec.asyn

sys.dont_write_bytecode = True  # no __pycache__ next to the policies under test


def main():
    path, name, size, kwargs, reads = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4]), json.loads(sys.argv[5])
    spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cls = getattr(module, name)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    fsspec.asyn.get_loop = lambda: loop
    fsspec.asyn.sync = lambda lp, func, *args, timeout=None, **kw: lp.run_until_complete(func(*args, **kw))

    def settle():
        for _ in range(200):
            loop.run_until_complete(asyncio.sleep(0))

    log = []

    async def fetcher(offset, n, split_factor=1):
        end = min(offset + n, size)
        if end > offset:
            log.append([offset, end])
        return bytes(max(0, end - offset))

    obj = cls(fetcher, size, **kwargs)
    settle()
    out = {"reads": [], "lengths": []}
    for start, end in reads:
        data = obj._fetch(start, end)
        settle()
        out["reads"].append(log[:])
        out["lengths"].append(len(data))
        log.clear()
    print(json.dumps(out))


main()
