class EdgesReadahead:
    """Keeps the first and last `edge` bytes of the file once they are read (where formats keep their
    headers, footers and directories), and reads ahead `blocksize` elsewhere, as fsspec's readahead."""

    def __init__(self, blocksize, fetcher, size, edge=1 << 20):
        self.blocksize = blocksize
        self.fetcher = fetcher
        self.size = size
        self.edge = min(edge, size)
        self.head = None  # bytes [0, edge)
        self.tail = None  # bytes [size - edge, size)
        self.start = self.end = 0
        self.window = b""  # bytes [start, end)

    def _fetch(self, start, end):
        end = min(end, self.size)
        if start >= end:
            return b""
        if end <= self.edge:
            if self.head is None:
                self.head = self.fetcher(0, self.edge)
            return self.head[start:end]
        tail_start = self.size - self.edge
        if start >= tail_start:
            if self.tail is None:
                self.tail = self.fetcher(tail_start, self.size)
            return self.tail[start - tail_start : end - tail_start]
        if not (self.start <= start and end <= self.end):
            self.window = self.fetcher(start, min(self.size, end + self.blocksize))
            self.start, self.end = start, start + len(self.window)
        return self.window[start - self.start : end - self.start]
