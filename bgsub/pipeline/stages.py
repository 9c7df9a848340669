"""Stages joined by small bounded queues: a producer thread in front, a consumer thread behind.

A run is four stages: reading (decode, and the model's colour conversion or resize), modelling
(the model's raw mask), detecting (post-processing and events, on the calling thread, which
also owns the display) and writing (the sinks).  :class:`Producer` runs an iterator on a thread
(the reader, and the modeller over the reader); :class:`Consumer` runs a function on a thread
over the items put to it.  Every queue is bounded, so memory stays flat whatever
the length of the video, and a slow stage holds the others back instead of piling frames up.
With ``threaded=False`` both run inline on the calling thread: the same code, one frame at a
time, which the tests use as the reference the threaded run must equal bit for bit.

An exception in a stage's thread is re-raised on the calling thread at its next call.

A stage that works behind a deep queue (a file's reader, the writer) may run at a lower
priority (``nice``): where the four stages compete for two cores, the model's thread, the
slowest, then does not wait for a core that a stage with frames in hand holds.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time

_END = object()


def lower_priority(nice: int) -> None:
    """Lower the calling thread's scheduling priority by ``nice`` steps (at most to 19).  Linux
    gives each thread a priority of its own; elsewhere this does nothing, and so does a
    system that refuses.  A thread cannot raise its priority again (that needs privileges),
    so only threads that end with their stage are lowered."""
    if nice <= 0 or not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
    except (AttributeError, OSError):
        pass


class _Failed:
    def __init__(self, exc: BaseException):
        self.exc = exc


class Producer:
    """Iterate ``iterable`` on a thread; iterating the Producer yields its items in order.

    ``seconds`` is the time spent producing (inside ``next``) and ``cpu_seconds`` the CPU
    time of the producing thread in it, for the stage profile; ``nice``: the thread's
    priority lowered by that much (:func:`lower_priority`).
    """

    def __init__(self, iterable, maxsize: int = 8, threaded: bool = True, name="bgsub-read",
                 max_bytes: int | None = None, size_of=None, nice: int = 0):
        self._it = iter(iterable)
        self._nice = nice
        self.seconds = self.cpu_seconds = 0.0
        self.threaded = threaded
        # with max_bytes, the queue holds as many items as fit in it (size_of(item): bytes),
        # between maxsize and 8 times maxsize: a reader runs further ahead while the kernels
        # load, and memory stays bounded whatever the frame size
        self._max_bytes, self._size_of = max_bytes, size_of
        self._stop = threading.Event()
        if threaded:
            self._q: queue.Queue = queue.Queue(maxsize=maxsize)
            self._thread = threading.Thread(target=self._run, name=name, daemon=True)
            self._thread.start()

    def _next(self):
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            return next(self._it)
        finally:
            self.seconds += time.perf_counter() - t0
            self.cpu_seconds += time.thread_time() - c0

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self):
        lower_priority(self._nice)
        try:
            while not self._stop.is_set():
                try:
                    item = self._next()
                except StopIteration:
                    break
                if self._max_bytes:  # sized on the first item
                    size = max(1, self._size_of(item))
                    q = self._q
                    q.maxsize = max(q.maxsize, min(8 * q.maxsize, self._max_bytes // size))
                    self._max_bytes = None
                if not self._put(item):
                    return
            self._put(_END)
        except BaseException as exc:  # handed to the consumer
            self._put(_Failed(exc))

    def __iter__(self):
        if not self.threaded:
            while not self._stop.is_set():
                try:
                    yield self._next()
                except StopIteration:
                    return
            return
        while True:
            try:
                item = self._q.get(timeout=0.1)
            except queue.Empty:
                if self._stop.is_set():  # closed: the thread ends without an end mark
                    return
                continue
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item

    def close(self):
        """Stop producing (an item being produced is finished first) and wait for the thread."""
        self._stop.set()
        if self.threaded:
            self._thread.join()


class Consumer:
    """Call ``fn(item)`` on a thread for every item :meth:`put`, in order.

    ``put`` blocks while the queue is full, and raises the exception ``fn`` raised, if it did;
    after a failure the remaining items are discarded.  ``seconds`` is the time spent in ``fn``,
    ``cpu_seconds`` the CPU time of the consuming thread in it; ``nice`` as for
    :class:`Producer`.
    """

    def __init__(self, fn, maxsize: int = 8, threaded: bool = True, name="bgsub-write",
                 nice: int = 0):
        self._fn = fn
        self._nice = nice
        self.seconds = self.cpu_seconds = 0.0
        self.threaded = threaded
        self.error: BaseException | None = None
        if threaded:
            self._q: queue.Queue = queue.Queue(maxsize=maxsize)
            self._thread = threading.Thread(target=self._run, name=name, daemon=True)
            self._thread.start()

    def _call(self, item):
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            self._fn(item)
        finally:
            self.seconds += time.perf_counter() - t0
            self.cpu_seconds += time.thread_time() - c0

    def _run(self):
        lower_priority(self._nice)
        while True:
            item = self._q.get()
            if item is _END:
                return
            if self.error is None:
                try:
                    self._call(item)
                except BaseException as exc:
                    self.error = exc

    def put(self, item):
        if self.error is not None:
            raise self.error
        if self.threaded:
            self._q.put(item)
        else:
            self._call(item)

    def close(self):
        """Wait until every item is consumed; raises the consumer's exception, if any."""
        if self.threaded and self._thread.is_alive():
            self._q.put(_END)
            self._thread.join()
        if self.error is not None:
            raise self.error
