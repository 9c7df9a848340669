"""Event records and their delivery off the frame path.

The run calls :meth:`Dispatcher.publish` once when a motion event opens and once when it
closes; that only puts the record on each notifier's bounded queue (``put_nowait``; a full
queue drops the record and counts it).  Each notifier has a worker thread of its own, so a
slow hook, a receiver that never answers or a dead broker delays nothing but itself.  A
notifier that starts failing costs one warning line until it works again (hooks: one line per
failure, up to :data:`MAX_HOOK_WARNINGS`); every outcome is counted (:meth:`Dispatcher.counts`).
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from dataclasses import dataclass, field

QUEUE_SIZE = 256  # records waiting per notifier
MAX_HOOK_WARNINGS = 10


@dataclass
class EventRecord:
    """One event's start or end, or a camera move, as every notifier sends it."""

    type: str  # "start" or "end" (of a motion event), or "camera_moved"
    name: str  # the camera / input name (topic component)
    source: str
    event_id: int  # 1-based, in the order the events start (camera moves: their own count)
    start: float  # seconds
    start_frame: int
    peak: float  # foreground fraction (so far, at the start)
    zones: list = field(default_factory=list)
    end: float | None = None  # None at the start
    end_frame: int | None = None
    clip: str | None = None  # with --clips: the event's clip (being written at the start)
    created: float = field(default_factory=time.time)  # wall clock when the run published it
    move: tuple | None = None  # camera_moved: (dx, dy), the image's move in the frame's pixels

    def payload(self) -> dict:
        """The JSON document of the webhook and the MQTT event topic."""
        return {"type": self.type, "name": self.name, "source": self.source,
                "event_id": self.event_id, "start": round(self.start, 3),
                "end": None if self.end is None else round(self.end, 3),
                "start_frame": self.start_frame, "end_frame": self.end_frame,
                "peak": round(self.peak, 5), "zones": list(self.zones),
                **({} if self.move is None else {"dx": int(self.move[0]),
                                                 "dy": int(self.move[1])})}


class NotifyError(Exception):
    """A record could not be delivered; the message is the warning line (without 'Warning:')."""


class Notifier:
    """Base class: :meth:`send` delivers one record or raises :class:`NotifyError`."""

    name = "notifier"
    drain_seconds = 3.0  # how long the end of a run waits for records still queued
    warn_each_failure = False  # hooks: every failure is its own line

    def wants(self, record: EventRecord) -> bool:
        """Whether this notifier sends ``record`` at all (a start hook: starts only)."""
        return True

    def start(self) -> None:
        """Called once on the notifier's own thread before the first record."""

    def send(self, record: EventRecord) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Called on the notifier's thread after the last record (or from close() when the
        thread is stuck)."""


def _stderr_warning(line: str) -> None:
    print(f"Warning: {line}", file=sys.stderr, flush=True)


class _Channel:
    """One notifier, its bounded queue, its thread and its counts."""

    _STOP = object()

    def __init__(self, notifier: Notifier, warn, queue_size: int):
        self.notifier = notifier
        self.warn = warn
        self.queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self.lock = threading.Lock()
        self.sent = self.dropped = self.failed = 0
        self.busy = False  # a record is being sent
        self.down = False  # the last send failed (one warning until one succeeds)
        self.warnings = 0
        self.frozen = False  # counts final (the thread was abandoned at close)
        self.thread = threading.Thread(target=self._work, daemon=True,
                                       name=f"bgsub-notify-{notifier.name}")

    def put(self, record) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            with self.lock:
                self.dropped += 1

    def _count(self, attr):
        with self.lock:
            if not self.frozen:
                setattr(self, attr, getattr(self, attr) + 1)

    def _warn(self, message):
        with self.lock:
            if self.frozen:
                return
            if self.notifier.warn_each_failure:
                self.warnings += 1
                if self.warnings > MAX_HOOK_WARNINGS:
                    return
                if self.warnings == MAX_HOOK_WARNINGS:
                    message += " (further failures are only counted)"
            elif self.down:
                return
            self.down = True
        self.warn(message)

    def _work(self):
        try:
            self.notifier.start()
        except NotifyError as exc:
            self._warn(str(exc))
        except Exception as exc:  # its sends then fail and are counted; the thread goes on
            self._warn(f"{self.notifier.name}: {type(exc).__name__}: {exc}")
        while True:
            record = self.queue.get()
            if record is self._STOP:
                self.queue.task_done()
                break
            self.busy = True
            try:
                self.notifier.send(record)
            except NotifyError as exc:
                self._count("failed")
                self._warn(str(exc))
            except Exception as exc:  # a bug in a notifier must not end its thread
                self._count("failed")
                self._warn(f"{self.notifier.name}: {type(exc).__name__}: {exc}")
            else:
                self._count("sent")
                with self.lock:
                    self.down = False
            finally:
                self.busy = False
                self.queue.task_done()
        try:
            self.notifier.close()
        except Exception:
            pass

    def idle(self) -> bool:
        """Nothing queued and nothing being sent (a record taken off the queue counts until
        it is done: there is no moment between get() and send() when it looks idle)."""
        return self.queue.unfinished_tasks == 0

    def counts(self) -> dict:
        with self.lock:
            return {"sent": self.sent, "dropped": self.dropped, "failed": self.failed}


class Dispatcher:
    """Delivers :class:`EventRecord` s to ``notifiers``, each on a thread of its own from a
    bounded queue.  ``warn(line)`` prints a warning (default: ``Warning: ...`` on stderr)."""

    def __init__(self, notifiers, warn=None, queue_size: int = QUEUE_SIZE):
        self.channels = [_Channel(n, warn or _stderr_warning, queue_size) for n in notifiers]
        self.warn = warn or _stderr_warning
        self.started = self.closed = False

    def __bool__(self):
        return bool(self.channels)

    def start(self) -> "Dispatcher":
        if not self.started:
            self.started = True
            for c in self.channels:
                c.thread.start()
        return self

    def publish(self, record: EventRecord) -> None:
        """Queue ``record`` for every notifier; never blocks."""
        for c in self.channels:
            if c.notifier.wants(record):
                c.put(record)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queue is empty and nothing is being sent (at most each notifier's
        ``drain_seconds``, or ``timeout``); True when all was delivered."""
        t0 = time.monotonic()
        for c in self.channels:
            limit = c.notifier.drain_seconds if timeout is None else timeout
            while not c.idle() and time.monotonic() - t0 < limit:
                time.sleep(0.01)
        return all(c.idle() for c in self.channels)

    def close(self) -> dict:
        """Deliver what is queued (waiting at most each notifier's ``drain_seconds``), stop the
        threads, and return the final :meth:`counts`; what could not be delivered in time is
        counted as dropped, with one warning line."""
        if self.closed:
            return self.counts()
        self.closed = True
        t0 = time.monotonic()
        for c in self.channels:
            if not c.thread.is_alive():
                continue
            while True:  # the stop marker goes after the records still queued
                try:
                    c.queue.put(_Channel._STOP, timeout=0.05)
                    break
                except queue.Full:
                    if time.monotonic() - t0 > c.notifier.drain_seconds:
                        break
        for c in self.channels:
            if c.thread.is_alive():
                c.thread.join(max(0.0, c.notifier.drain_seconds - (time.monotonic() - t0)))
            if c.thread.is_alive():  # stuck on a receiver or a hook: give up on what is left
                left = sum(1 for r in list(c.queue.queue) if r is not _Channel._STOP)
                left += 1 if c.busy else 0
                with c.lock:
                    c.dropped += left
                    c.frozen = True
                    warned = c.down
                if left and not warned:
                    self.warn(f"{c.notifier.name}: {left} event message(s) not delivered by "
                              f"the end of the run")
                try:
                    c.notifier.close()
                except Exception:
                    pass
        return self.counts()

    def counts(self) -> dict:
        """``{notifier: {"sent", "dropped", "failed"}}``."""
        return {c.notifier.name: c.counts() for c in self.channels}
