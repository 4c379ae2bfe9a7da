"""Policies that go wrong, each in its own way, for pflab's bridge tests."""

import asyncio

import fsspec.asyn


class RaisesAfter:
    """An fsspec-style cache that fetches each read as it is, and raises once reads reach `limit`."""

    def __init__(self, blocksize, fetcher, size, limit=0):
        self.fetcher = fetcher
        self.limit = limit

    def _fetch(self, start, end):
        if start >= self.limit:
            raise ValueError(f"no reads at or past {self.limit}, asked for {start}")
        return self.fetcher(start, end)


class Spins:
    """An fsspec-style cache whose _fetch never returns and never waits."""

    def __init__(self, blocksize, fetcher, size):
        self.fetcher = fetcher

    def _fetch(self, start, end):
        n = 0
        while True:
            n += 1


class SpinsInLoop:
    """A prefetcher whose background task spins on the event loop."""

    def __init__(self, fetcher, size):
        self.loop = fsspec.asyn.get_loop()
        self.fetcher = fetcher
        fsspec.asyn.sync(self.loop, self._start)

    async def _start(self):
        self.task = asyncio.create_task(self._spin())

    async def _spin(self):
        await asyncio.sleep(0.001)
        while True:
            pass

    def _fetch(self, start, end):
        return fsspec.asyn.sync(self.loop, self.fetcher, start, end - start)


class NeverAnswers:
    """A prefetcher whose reads wait for an event nobody sets, while a background task ticks forever."""

    def __init__(self, fetcher, size):
        self.loop = fsspec.asyn.get_loop()
        self.ticks = 0
        fsspec.asyn.sync(self.loop, self._start)

    async def _start(self):
        self.never = asyncio.Event()
        self.task = asyncio.create_task(self._tick())

    async def _tick(self):
        while True:
            await asyncio.sleep(1)
            self.ticks += 1

    async def _wait(self):
        await self.never.wait()

    def _fetch(self, start, end):
        fsspec.asyn.sync(self.loop, self._wait)
        return b""


class BackgroundFails:
    """A prefetcher whose background work fails in a loop callback."""

    def __init__(self, fetcher, size):
        self.loop = fsspec.asyn.get_loop()
        self.fetcher = fetcher
        fsspec.asyn.sync(self.loop, self._start)

    async def _start(self):
        asyncio.get_running_loop().call_later(0.5, self._explode)

    def _explode(self):
        raise RuntimeError("the background work broke")

    def _fetch(self, start, end):
        return fsspec.asyn.sync(self.loop, self.fetcher, start, end - start)


class WrongLength:
    """An fsspec-style cache that returns one byte too few."""

    def __init__(self, blocksize, fetcher, size):
        self.fetcher = fetcher

    def _fetch(self, start, end):
        return self.fetcher(start, end)[:-1]


class NotAPolicy:
    def __init__(self, a, b):
        pass
