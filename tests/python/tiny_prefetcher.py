"""A small gcsfs-style prefetcher, for pflab's bridge tests.

A background producer task fetches `block`-sized pieces ahead of the reader, one at a time, into an
asyncio.Queue of at most `depth` pieces; `_fetch` consumes them through fsspec.asyn.sync on
fsspec.asyn.get_loop(), as gcsfs's BackgroundPrefetcher does. A read that does not start where the last
one ended restarts the producer there (a hard seek).

Requests: the producer fetches piece k+1 as soon as piece k has arrived and found room in the queue;
so while the reader keeps up it has one request in flight, and when the reader is slower it runs
`depth` pieces ahead (plus one in hand) and waits.
"""

import asyncio

import fsspec.asyn


class TinyPrefetcher:
    def __init__(self, fetcher, size, block=1 << 20, depth=2):
        self.fetcher = fetcher
        self.size = size
        self.block = block
        self.depth = depth
        self.loop = fsspec.asyn.get_loop()
        self.offset = 0
        self.producer = None
        self.queue = None
        self.buffer = b""
        self.buffer_start = 0
        self.next = 0
        fsspec.asyn.sync(self.loop, self._start, 0)

    async def _start(self, offset):
        if self.producer is not None:
            self.producer.cancel()
            try:
                await self.producer
            except asyncio.CancelledError:
                pass
        self.queue = asyncio.Queue(maxsize=self.depth)
        self.buffer = b""
        self.buffer_start = offset
        self.next = offset
        self.producer = asyncio.create_task(self._produce())

    async def _produce(self):
        while self.next < self.size:
            n = min(self.block, self.size - self.next)
            data = await self.fetcher(self.next, n, split_factor=1)
            self.next += n
            await self.queue.put(data)

    async def _read(self, start, end):
        if start != self.offset:
            await self._start(start)
        pieces = []
        while start < end:
            have_end = self.buffer_start + len(self.buffer)
            if start >= have_end:
                self.buffer_start = have_end
                self.buffer = await self.queue.get()
                continue
            take = min(end, have_end) - start
            skip = start - self.buffer_start
            pieces.append(self.buffer[skip : skip + take])
            start += take
        self.offset = end
        return b"".join(pieces)

    def _fetch(self, start, end):
        end = min(end, self.size)
        if start >= end:
            return b""
        return fsspec.asyn.sync(self.loop, self._read, start, end)
