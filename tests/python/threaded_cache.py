"""An fsspec-style cache that fetches a read's two halves at once, each with the blocking fetcher in
asyncio.to_thread on fsspec's loop (as fsspec's AdaptiveReadaheadCache runs its fetcher), for pflab's
bridge tests."""

import asyncio

import fsspec.asyn


class HalvesInThreads:
    def __init__(self, blocksize, fetcher, size):
        self.fetcher = fetcher
        self.loop = fsspec.asyn.get_loop()

    async def _get(self, start, end):
        middle = (start + end) // 2
        first, second = await asyncio.gather(
            asyncio.to_thread(self.fetcher, start, middle), asyncio.to_thread(self.fetcher, middle, end)
        )
        return first + second

    def _fetch(self, start, end):
        return fsspec.asyn.sync(self.loop, self._get, start, end)
