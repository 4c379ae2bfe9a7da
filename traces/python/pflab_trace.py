"""Record the reads a program makes through file objects (fsspec or any other) as a pflab trace (v1).

For programs whose reads go through fsspec rather than the file system, where strace sees only
sockets. Wrap each file object; every read is logged with its issue time, thread, offset, length
and duration (and, for a read cut at EOF, the length it asked for), and the trace is written when the
recording ends::

    import fsspec, pflab_trace

    with pflab_trace.record("reads.jsonl") as rec:
        f = rec.wrap(fsspec.open("gs://bucket/data.parquet").open())
        ...  # hand f to pyarrow, h5py, zarr, ...

What counts as one read: each call of read, read1, readinto, readinto1, readline, readlines, or a
step of iteration on the wrapper, covering the bytes it consumed, i.e. from the position before the
call to the position after it (calls that consume nothing are not recorded). These are the
application's reads, before the wrapped file's cache, which is what policies take as input. seek
and tell pass through; fsspec.utils.read_block(f, ...) works on a wrapper and is recorded as the
reads it makes. Anything else goes to the wrapped file unrecorded. A file object shared by threads
that read it at the same time cannot be attributed (its position moves under each call); give each
thread its own handle, as file objects require anyway.

Streams are threads (each thread its own, even when it reuses a finished thread's ident), numbered in
order of their first read. t is nanoseconds since the recording's
first read (time.monotonic_ns), dur the call's duration. Each wrapped file is one object (files
wrapped under the same name are one object): its name is `name`, else the file's `path` (fsspec) or
`name` attribute, without a leading '/'; its size is `size`, else the file's
`size` (fsspec) or its length by seeking to the end, else the largest end read. Only the standard
library is used.
"""

import contextlib
import io
import json
import os
import threading
import time

__all__ = ["record", "Recorder", "TracedFile"]

FORMAT = "pflab-trace"
VERSION = 1


class Recorder:
    """Collects reads from wrapped files; `write` (called by `record` on exit) writes the trace."""

    def __init__(self, path, bucket="pflab", source=None):
        self.path = path
        self.bucket = bucket
        self.source = dict(source or {})
        self._lock = threading.Lock()
        self._objects = []  # [id, name, size or None, largest end]
        # Keyed by the Thread object, kept alive here, not by threading.get_ident(): a thread started
        # after another finished often gets its ident, which would merge the two into one stream.
        self._streams = {}
        self._reads = []  # (t_ns, stream, object index, offset, length, dur_ns)

    def wrap(self, f, name=None, size=None):
        """Returns a file object that records every read of `f` in this trace."""
        if name is None:
            name = getattr(f, "path", None) or getattr(f, "name", None)
        if not isinstance(name, str) or not name:
            raise ValueError("pflab_trace: pass name=... for a file object without a path or name")
        if size is None:
            size = _known_size(f)
        name = name.lstrip("/")
        with self._lock:
            # Several handles of one file (threads each opening it) are one object.
            for index, obj in enumerate(self._objects):
                if obj[1] == name:
                    if size is not None and obj[2] is not None and size != obj[2]:
                        raise ValueError("pflab_trace: %s wrapped with sizes %d and %d" % (name, obj[2], size))
                    if obj[2] is None:
                        obj[2] = size
                    break
            else:
                index = len(self._objects)
                self._objects.append(["o%d" % index, name, size, 0])
        return TracedFile(f, self, index)

    def _log(self, index, offset, length, start_ns, end_ns, asked=None):
        if length <= 0:
            return
        with self._lock:
            stream = self._streams.setdefault(threading.current_thread(), len(self._streams))
            self._reads.append((start_ns, stream, index, offset, length, end_ns - start_ns, asked))
            obj = self._objects[index]
            obj[3] = max(obj[3], offset + length)

    def write(self):
        """Writes the trace file; a read beyond a given size is an error (the size was wrong)."""
        with self._lock:
            reads = sorted(self._reads, key=lambda r: r[0])  # stable: ties keep the order logged
            objects = [list(o) for o in self._objects]
        if not reads:
            raise ValueError("pflab_trace: no reads were recorded; nothing to write to %s" % self.path)
        used = sorted({r[2] for r in reads})
        ids = {}
        sizes = {}
        header_objects = []
        for index in used:
            obj_id, name, size, largest_end = objects[index]
            if size is None:
                size = largest_end
            elif largest_end > size:
                raise ValueError("pflab_trace: %s was read up to byte %d, beyond its size %d" % (name, largest_end, size))
            sizes[index] = size
            ids[index] = "o%d" % len(header_objects)
            header_objects.append({"id": ids[index], "bucket": self.bucket, "name": name, "size": size})
        source = {"recorder": "pflab_trace.py", "clock": "time.monotonic_ns"}
        source.update(self.source)
        header = {"format": FORMAT, "version": VERSION, "objects": header_objects, "source": source}
        start = reads[0][0]
        single = len(header_objects) == 1
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as out:
            out.write(json.dumps(header, separators=(",", ":")) + "\n")
            for t, stream, index, offset, length, dur, asked in reads:
                rec = {"t": t - start, "stream": stream}
                if not single:
                    rec["object"] = ids[index]
                rec.update({"offset": offset, "length": length})
                # A read cut at EOF keeps what it asked for: fsspec hands its cache the uncut end.
                if asked is not None and asked > length and offset + length == sizes[index]:
                    rec["asked"] = asked
                rec["dur"] = dur
                out.write(json.dumps(rec, separators=(",", ":")) + "\n")
        os.replace(tmp, self.path)


def _known_size(f):
    size = getattr(f, "size", None)
    if isinstance(size, int) and not isinstance(size, bool):
        return size
    try:
        if f.seekable():
            here = f.tell()
            end = f.seek(0, io.SEEK_END)
            f.seek(here)
            return end
    except (AttributeError, OSError, ValueError):
        pass
    return None


def _asked(size):
    """The length a read(size) asks for, or None for "to EOF"."""
    return size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else None


class TracedFile:
    """A file object that forwards to the wrapped one and records each read's byte range."""

    def __init__(self, f, recorder, index):
        self._f = f
        self._rec = recorder
        self._index = index

    def _recorded(self, call, *args, asked=None):
        before = self._f.tell()
        start = time.monotonic_ns()
        result = call(*args)
        end = time.monotonic_ns()
        self._rec._log(self._index, before, self._f.tell() - before, start, end, asked)
        return result

    def read(self, size=-1):
        return self._recorded(self._f.read, size, asked=_asked(size))

    def read1(self, size=-1):
        return self._recorded(self._f.read1, size, asked=_asked(size))

    def readinto(self, buffer):
        return self._recorded(self._f.readinto, buffer, asked=memoryview(buffer).nbytes)

    def readinto1(self, buffer):
        return self._recorded(self._f.readinto1, buffer, asked=memoryview(buffer).nbytes)

    def readline(self, size=-1):
        return self._recorded(self._f.readline, size)

    def readlines(self, hint=-1):
        return self._recorded(self._f.readlines, hint)

    def __iter__(self):
        while True:
            line = self.readline()
            if not line:
                return
            yield line

    def seek(self, offset, whence=io.SEEK_SET):
        return self._f.seek(offset, whence)

    def tell(self):
        return self._f.tell()

    def close(self):
        return self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __getattr__(self, name):
        return getattr(self._f, name)


@contextlib.contextmanager
def record(path, bucket="pflab", source=None):
    """Records reads of the files wrapped with the yielded Recorder; writes the trace to `path` on exit.

    Nothing is written when the block raises (the exception propagates).
    """
    rec = Recorder(path, bucket=bucket, source=source)
    yield rec
    rec.write()
