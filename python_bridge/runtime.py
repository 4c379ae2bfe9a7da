"""pflab's side of the Python bridge: runs policy classes on the run's clock.

Loaded into the embedded interpreter as the module `pflab` (python_bridge/interpreter.cc); `_pflab` is
the bridge's C module. Everything here runs under the bridge's hand-off: one piece of Python at a time,
either on the engine's thread (event-loop callbacks, fetch completions) or on a worker thread (a
policy's synchronous calls: its constructor, `_fetch`, and `asyncio.to_thread` jobs), which the bridge
suspends whenever the call waits for the simulated network.

Two protocols, each the original library's own, so that upstream code runs unmodified:
- fsspec caches: `cls(blocksize, fetcher, size, **kwargs)` and `_fetch(start, end)`, with a blocking
  `fetcher(start, end)` returning bytes;
- gcsfs-style prefetchers: `cls(fetcher, size, **kwargs)` with an async `fetcher(offset, size,
  split_factor)`, asked for bytes by `_fetch(start, end)` (or `fetch`), which runs its coroutines on
  `fsspec.asyn.get_loop()` through `fsspec.asyn.sync` (both patched here to the layer's VirtualLoop);
  a constructor that takes `loop` gets that loop, as gcsfs main's GCSFile passes its filesystem's.
"""

import asyncio
import asyncio.events
import heapq
import importlib
import importlib.util
import inspect
import math
import os
import random
import sys
import traceback

import _pflab

DEFAULT_BLOCKSIZE = 5 * 2**20  # fsspec AbstractBufferedFile.DEFAULT_BLOCK_SIZE

# Policies may print to debug; pflab's stdout carries its tables.
sys.stdout = sys.stderr


class PolicyAborted(BaseException):
    """Raised into a policy's call when pflab stops it (the read was cancelled, or the run ended)."""


class PolicyTimeout(BaseException):
    """Raised into Python code that ran too long without giving control back (pflab_watchdog)."""


class FetchError(OSError):
    """A fetch from the layer below failed: `code` is pflab's error code, `retryable` whether trying
    again can help."""

    def __init__(self, message, code, retryable):
        super().__init__(message)
        self.code = code
        self.retryable = retryable


class FetchedBytes(bytes):
    """Bytes from the layer below. While they live, pflab counts them as memory the policy holds."""

    def __del__(self):
        handle = self.__dict__.get("_pflab")
        if handle is not None:
            _pflab.release(handle[0], handle[1])


class VirtualLoop(asyncio.BaseEventLoop):
    """An event loop whose clock is the run's (virtual in the simulator) and whose iterations are
    scheduled by pflab's scheduler: no selector, no threads. Callbacks run when the engine runs them,
    one iteration per scheduler event, in asyncio's order (ready callbacks first in, first out; timers
    by due time, then by scheduling order). Executor jobs (`asyncio.to_thread`) run on a bridge worker
    and take no time on the clock."""

    def __init__(self, state):
        super().__init__()
        self._pflab_state = state
        self._clock_resolution = 1e-9
        self._pflab_failures = []
        self._pflab_quiet = False

    def time(self):
        return _pflab.now(self._pflab_state.token) / 1e9

    def is_running(self):
        return not self._closed

    def _write_to_self(self):
        pass  # nothing sleeps in a selector: pflab's scheduler wakes the loop

    def _process_events(self, event_list):
        pass

    def call_exception_handler(self, context):
        if self._pflab_quiet:
            return
        self._pflab_failures.append(context)

    def run_in_executor(self, executor, func, *args):
        self._check_closed()
        future = self.create_future()
        self._pflab_state.spawn(future, func, args)
        return future

    def run_until_complete(self, future):
        return self._pflab_state.block_on(asyncio.ensure_future(future, loop=self))

    def run_forever(self):
        raise RuntimeError("pflab: a policy's event loop runs on the run's clock and cannot run_forever()")

    def close(self):
        self._closed = True
        self._ready.clear()
        self._scheduled.clear()

    def _pflab_run_once(self):
        """One iteration: move due timers to the ready queue, then run what is ready now."""
        scheduled = self._scheduled
        end = self.time() + self._clock_resolution
        while scheduled and scheduled[0]._when < end:
            handle = heapq.heappop(scheduled)
            handle._scheduled = False
            if handle._cancelled:
                self._timer_cancelled_count -= 1
                continue
            self._ready.append(handle)
        ntodo = len(self._ready)
        asyncio.events._set_running_loop(self)
        try:
            for _ in range(ntodo):
                handle = self._ready.popleft()
                if handle._cancelled:
                    continue
                self._current_handle = handle
                handle._run()
        finally:
            self._current_handle = None
            asyncio.events._set_running_loop(None)

    def _pflab_next_wake(self):
        """When the loop next has work, in nanoseconds of the run's clock: 0 for now, -1 for never."""
        if self._closed:
            return -1
        if self._ready:
            return 0
        scheduled = self._scheduled
        while scheduled and scheduled[0]._cancelled:
            handle = heapq.heappop(scheduled)
            handle._scheduled = False
            self._timer_cancelled_count -= 1
        if scheduled:
            return max(1, math.ceil(scheduled[0]._when * 1e9))
        return -1


def _current_loop():
    state = _pflab.current()
    if state is None:
        raise RuntimeError("pflab: fsspec.asyn.get_loop() called outside a policy layer (at import time?)")
    return state.loop


def _patch_fsspec():
    """fsspec.asyn.get_loop() gives the layer's VirtualLoop, and fsspec.asyn.sync() on it suspends the
    calling worker instead of blocking a thread; on any other loop sync() is fsspec's own."""
    try:
        import fsspec.asyn
        from fsspec.exceptions import FSTimeoutError
    except ImportError:
        return
    original_sync = fsspec.asyn.sync

    def sync(loop, func, *args, timeout=None, **kwargs):
        if not isinstance(loop, VirtualLoop):
            return original_sync(loop, func, *args, timeout=timeout, **kwargs)
        timeout = timeout if timeout else None
        if loop.is_closed():
            raise RuntimeError("Loop is not running")
        if asyncio.events._get_running_loop() is loop:
            raise NotImplementedError("Calling sync() from within a running loop")
        coro = func(*args, **kwargs)
        if timeout is not None:
            coro = asyncio.wait_for(coro, timeout=timeout)
        try:
            return loop._pflab_state.block_on(asyncio.ensure_future(coro, loop=loop))
        except asyncio.TimeoutError as e:
            raise FSTimeoutError from e

    fsspec.asyn.get_loop = _current_loop
    fsspec.asyn.sync = sync


_patch_fsspec()


def split_target(target):
    """'PATH.py:Class' or 'module.name:Class' -> (where, class name)."""
    where, sep, name = target.rpartition(":")
    if not sep or not where or not name:
        raise ValueError(f"expected py:FILE.py:CLASS or py:MODULE:CLASS, got 'py:{target}'")
    return where, name


_loaded = {}  # file path -> module


def load_class(target):
    where, name = split_target(target)
    if where.endswith(".py"):
        path = os.path.abspath(where)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{where}: no such Python file")
        module = _loaded.get(path)
        if module is None:
            stem = os.path.splitext(os.path.basename(path))[0]
            other = sys.modules.get(stem)
            if other is not None and os.path.abspath(getattr(other, "__file__", "") or "") != path:
                raise ImportError(f"{where}: module name '{stem}' is already taken by {other!r}; rename the file")
            spec = importlib.util.spec_from_file_location(stem, path)
            module = importlib.util.module_from_spec(spec)
            folder = os.path.dirname(path)
            if folder not in sys.path:
                sys.path.insert(0, folder)  # the file's neighbours import, as when it runs as a script
            sys.modules[stem] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[stem]
                raise
            _loaded[path] = module
    else:
        module = importlib.import_module(where)
    cls = getattr(module, name, None)
    if cls is None:
        raise AttributeError(f"{where} has no attribute '{name}'")
    if not inspect.isclass(cls):
        raise TypeError(f"{where}:{name} is not a class")
    return cls


def protocol_of(cls):
    """'cache' (fsspec: cls(blocksize, fetcher, size, ...)) or 'prefetcher' (gcsfs-style: cls(fetcher,
    size, ...)), from the class attribute pflab_protocol or from the constructor's first parameter."""
    declared = getattr(cls, "pflab_protocol", None)
    if declared is not None:
        if declared not in ("cache", "prefetcher"):
            raise ValueError(f"{cls.__qualname__}.pflab_protocol must be 'cache' or 'prefetcher', not {declared!r}")
        return declared
    try:
        params = list(inspect.signature(cls).parameters.values())
    except (TypeError, ValueError) as e:
        raise TypeError(f"cannot read the signature of {cls.__qualname__}: {e}")
    first = params[0].name if params else None
    if first == "blocksize":
        return "cache"
    if first == "fetcher":
        return "prefetcher"
    raise TypeError(
        f"{cls.__qualname__}({', '.join(p.name for p in params)}) is neither an fsspec cache "
        "(blocksize, fetcher, size, ...) nor a gcsfs-style prefetcher (fetcher, size, ...); set "
        "pflab_protocol = 'cache' or 'prefetcher' on the class"
    )


def describe(target):
    """What the registry needs to know about py:TARGET: (protocol, description). Raises when the class
    cannot be used."""
    cls = load_class(target)
    protocol = protocol_of(cls)
    if protocol == "cache" and not callable(getattr(cls, "_fetch", None)):
        raise TypeError(f"{cls.__qualname__} is an fsspec cache without _fetch(start, end)")
    if protocol == "prefetcher" and not (callable(getattr(cls, "_fetch", None)) or callable(getattr(cls, "fetch", None))):
        raise TypeError(f"{cls.__qualname__} is a prefetcher without _fetch(start, end) or fetch(start, end)")
    doc = inspect.getdoc(cls) or ""
    return protocol, doc.split("\n\n")[0].replace("\n", " ")


def takes_loop(cls):
    """Whether a prefetcher's constructor takes the event loop to run on (gcsfs main's does)."""
    try:
        return "loop" in inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False


def check_arguments(target, kwargs):
    """Binds the constructor's arguments as a layer will pass them, so a wrong keyword is an error
    before anything runs."""
    cls = load_class(target)
    protocol = protocol_of(cls)
    kwargs = dict(kwargs)
    try:
        if protocol == "cache":
            blocksize = kwargs.pop("blocksize", DEFAULT_BLOCKSIZE)
            inspect.signature(cls).bind(blocksize, None, 0, **kwargs)
        else:
            if takes_loop(cls):
                kwargs.setdefault("loop", None)
            inspect.signature(cls).bind(None, 0, **kwargs)
    except TypeError as e:
        raise TypeError(f"{cls.__qualname__}: {e}") from None


def format_exception(exc):
    """The traceback of `exc`, without the bridge's own frames."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_globals.get("__name__") == __name__:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb)).rstrip()


class LayerState:
    """One policy object and its event loop, for one layer of one run."""

    def __init__(self, token, target, kwargs, size, seed):
        self.token = token
        self.cls = load_class(target)
        self.protocol = protocol_of(self.cls)
        self.kwargs = dict(kwargs)
        self.blocksize = self.kwargs.pop("blocksize", DEFAULT_BLOCKSIZE) if self.protocol == "cache" else None
        self.size = size
        self.loop = VirtualLoop(self)
        self.obj = None
        self.pending = {}  # fetch id -> future of an async fetch
        self.jobs = {}  # executor job id -> (future, func, args)
        self.next_job = 1
        random.seed(seed)

    # --- what the policy calls ---------------------------------------------------------------------

    def sync_fetcher(self, start, end):
        """fsspec's fetcher(start, end): blocks (suspends the worker) until the bytes are here."""
        if start is None:
            start = 0
        if end is None:
            end = self.size
        return _pflab.fetch_sync(self.token, int(start), int(end))

    async def async_fetcher(self, offset, size, split_factor=1):
        """gcsfs's fetcher(offset, size, split_factor): the request goes out now, the bytes come when
        the network delivers them."""
        future = self.loop.create_future()
        fetch = _pflab.fetch_start(self.token, int(offset), int(offset) + int(size), max(1, int(split_factor)))
        self.pending[fetch] = future
        try:
            return await future
        except asyncio.CancelledError:
            if self.pending.pop(fetch, None) is not None:
                _pflab.fetch_cancel(self.token, fetch)
            raise

    def block_on(self, future):
        """Waits, on a worker, for a future of this layer's loop."""
        if not future.done():
            job = _pflab.current_job()
            if job == 0:
                raise RuntimeError(
                    "pflab: a blocking wait on the policy's event loop from inside the loop "
                    "(await it instead of calling sync() or run_until_complete())"
                )
            future.add_done_callback(lambda f, job=job: _pflab.wake(self.token, job))
            while not future.done():
                _pflab.suspend(self.token)
        return future.result()

    def spawn(self, future, func, args):
        job = self.next_job
        self.next_job += 1
        self.jobs[job] = [future, func, args, None]
        _pflab.spawn(self.token, job)

    # --- what the bridge calls ---------------------------------------------------------------------

    def read(self, start, end):
        """On a worker: the policy's answer to a read of [start, end)."""
        if self.obj is None:
            if self.protocol == "cache":
                self.obj = self.cls(self.blocksize, self.sync_fetcher, self.size, **self.kwargs)
            else:
                kwargs = dict(self.kwargs)
                if takes_loop(self.cls) and "loop" not in kwargs:
                    kwargs["loop"] = self.loop  # as gcsfs's GCSFile passes its filesystem's loop
                self.obj = self.cls(self.async_fetcher, self.size, **kwargs)
        fetch = getattr(self.obj, "_fetch", None) or getattr(self.obj, "fetch")
        out = fetch(start, end)
        if not isinstance(out, (bytes, bytearray, memoryview)):
            raise TypeError(f"{self.cls.__qualname__}._fetch({start}, {end}) returned {type(out).__name__}, not bytes")
        return out

    def run_job(self, job):
        """On a worker: an executor job."""
        entry = self.jobs[job]
        func, args = entry[1], entry[2]
        try:
            entry[3] = (True, func(*args))
        except PolicyAborted:
            raise
        except BaseException as e:
            entry[3] = (False, e)

    def job_done(self, job):
        """On the engine's thread, after the job's worker finished (or was stopped)."""
        future, _, _, outcome = self.jobs.pop(job)
        if future.done():
            return
        if outcome is None:
            future.cancel()
        elif outcome[0]:
            future.set_result(outcome[1])
        else:
            future.set_exception(outcome[1])

    def fetched(self, fetch, data, message, code, retryable):
        future = self.pending.pop(fetch, None)
        if future is None or future.done():
            return
        if message is not None:
            future.set_exception(FetchError(message, code, retryable))
        else:
            future.set_result(data)

    def run_once(self):
        self.loop._pflab_run_once()

    def next_wake(self):
        return self.loop._pflab_next_wake()

    def take_failure(self):
        """A failure the loop recorded (an exception in a callback or an unretrieved task), as text."""
        failures = self.loop._pflab_failures
        if not failures:
            return None
        context = failures.pop(0)
        message = context.get("message", "error in the event loop")
        exc = context.get("exception")
        if exc is not None:
            return f"{message}\n{format_exception(exc)}"
        return message

    def teardown(self):
        """Cancels every task of the loop and lets them finish (the network answers nothing more)."""
        loop = self.loop
        loop._pflab_quiet = True
        for future in self.pending.values():
            future.cancel()
        self.pending.clear()
        for entry in self.jobs.values():
            entry[0].cancel()
        self.jobs.clear()
        for task in asyncio.all_tasks(loop):
            task.cancel()
        for _ in range(1000):
            if not loop._ready:
                break
            loop._pflab_run_once()
        loop.close()
        self.obj = None
