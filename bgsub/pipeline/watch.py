"""``bgsub watch DIR -o OUT``: each new video in a folder processed once it is complete.

Recorders write slowly, so a file counts as complete when its size and modification time have
not changed for ``settle`` seconds and no process holds it open for writing (checked in
``/proc/*/fd`` on Linux, where readable).  Each complete file is run like ``bgsub run``
(:func:`~bgsub.pipeline.run.run_input`) into ``OUT/<stem>/``; ``OUT/index.html`` lists every
run and a ledger (``OUT/watch-ledger.json``, rewritten atomically) remembers what was done, so
a restart processes only new or changed files.  Changes are noticed through watchdog (inotify)
when it is installed (``bgsub[watch]``) and works, by polling otherwise.  A stop (SIGTERM,
Ctrl-C) ends the file in progress cleanly: its outputs are finalised as far as it got and it is
marked ``interrupted``, to be processed again on the next start.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

LEDGER = "watch-ledger.json"
MAX_ATTEMPTS = 2  # a file the watch died on (a decoder crash, a kill) is tried this often
VIDEO_SUFFIXES = {".mp4", ".mkv", ".avi", ".mov", ".m4v", ".webm", ".ts", ".mts", ".m2ts",
                  ".mpg", ".mpeg", ".flv", ".wmv", ".3gp", ".asf", ".dav", ".h264", ".264"}


class WatchError(Exception):
    """The folder cannot be watched, or OUT cannot be written; the message names it."""


# ---------------------------------------------------------------------------- completion
def writers(path: Path) -> list[int] | None:
    """Ids of the processes holding ``path`` open for writing; None when /proc cannot tell
    (not Linux).  Processes whose descriptors are not readable (other users') are skipped."""
    proc = Path("/proc")
    if not (proc / "self" / "fd").is_dir():
        return None
    try:
        target = os.path.realpath(path)
    except OSError:
        return []
    out = []
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        fd_dir = proc / pid / "fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd_dir / fd) != target:
                    continue
                with open(proc / pid / "fdinfo" / fd) as fh:
                    flags = next((int(line.split()[1], 8) for line in fh
                                  if line.startswith("flags:")), 0)
            except (OSError, ValueError):
                continue
            if flags & os.O_ACCMODE in (os.O_WRONLY, os.O_RDWR):
                out.append(int(pid))
                break
    return out


class Settling:
    """Files seen in the folder and how long each has kept its size and mtime."""

    def __init__(self, settle: float):
        self.settle = float(settle)
        self.seen: dict[str, tuple] = {}  # name -> (size, mtime_ns, since)

    def complete(self, path: Path, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        try:
            st = path.stat()
        except OSError:
            self.seen.pop(path.name, None)
            return False
        key = (st.st_size, st.st_mtime_ns)
        old = self.seen.get(path.name)
        if old is None or old[:2] != key:
            self.seen[path.name] = (*key, now)
            return self.settle <= 0 and not writers(path)
        # an empty file counts too once settled: it fails and is recorded, rather than being
        # waited for for ever (``--once`` would never end); if it grows, it is done again
        if now - old[2] < self.settle:
            return False
        return not writers(path)

    def forget(self, name: str) -> None:
        self.seen.pop(name, None)


# ---------------------------------------------------------------------------- ledger
class Ledger:
    """``OUT/watch-ledger.json``: per file name, its size and mtime when processed, where its
    outputs went, and how it ended (done, failed, interrupted; running while it is processed,
    and after a crash)."""

    def __init__(self, out: Path):
        self.path = Path(out) / LEDGER
        self.files: dict[str, dict] = {}
        if self.path.is_file():
            try:
                doc = json.loads(self.path.read_text(encoding="utf-8"))
                self.files = dict(doc.get("files") or {})
            except (OSError, ValueError, AttributeError) as exc:
                raise WatchError(f"{self.path}: not a ledger bgsub can read ({exc}); move it "
                                 f"away to start afresh") from None

    def done(self, path: Path) -> bool:
        """Processed already, in its present form (failed counts: it is not retried until it
        changes)."""
        e = self.files.get(path.name)
        if e is None or e.get("status") not in ("done", "failed"):
            return False
        try:
            st = path.stat()
        except OSError:
            return True
        return (e.get("size"), e.get("mtime_ns")) == (st.st_size, st.st_mtime_ns)

    def attempts(self, path: Path, st) -> int:
        """How many times processing ``path`` (as ``st`` describes it) will have begun: one
        more than before when the watch ended while processing it (still ``running``)."""
        e = self.files.get(path.name) or {}
        same = (e.get("size"), e.get("mtime_ns")) == (st.st_size, st.st_mtime_ns)
        return e.get("attempts", 1) + 1 if same and e.get("status") == "running" else 1

    def output_dir(self, path: Path, out: Path) -> Path:
        """``OUT/<stem>``, or the folder it had before; ``_2``, ``_3``... when the stem is
        another file's."""
        e = self.files.get(path.name)
        if e and e.get("output_dir"):
            return Path(e["output_dir"])
        taken = {f.get("output_dir") for n, f in self.files.items() if n != path.name}
        base = out / path.stem
        cand, n = base, 2
        while str(cand) in taken:
            cand, n = Path(f"{base}_{n}"), n + 1
        return cand

    def record(self, path: Path, entry: dict) -> None:
        from bgsub.io.sinks import write_atomic

        self.files[path.name] = entry
        try:
            write_atomic(self.path, json.dumps({"bgsub_watch_ledger": 1, "files": self.files},
                                               indent=2) + "\n")
        except OSError as exc:
            raise WatchError(f"{self.path}: {exc.strerror or exc}") from None


# ---------------------------------------------------------------------------- watching
class _Wake:
    """Wakes the loop when the folder changes: watchdog (inotify) when it can, else nothing
    (the loop polls)."""

    def __init__(self, folder: Path):
        self.event = threading.Event()
        self.observer = None
        self.mode = "polling"
        self.why = None
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:
            self.why = 'watchdog is not installed (pip install "bgsub[watch]")'
            return
        wake = self.event

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event):
                wake.set()

        try:
            obs = Observer()
            obs.schedule(Handler(), str(folder), recursive=False)
            obs.start()
        except Exception as exc:  # inotify limits, an unsupported file system
            self.why = f"watchdog could not watch {folder} ({exc})"
            return
        self.observer, self.mode = obs, "watchdog"

    def wait(self, seconds: float, stop=None) -> None:
        """Until the folder changes, ``seconds`` pass or ``stop`` is set (looked at every
        quarter second: a SIGTERM does not wait out a long idle wait)."""
        deadline = time.monotonic() + seconds
        while stop is None or not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or self.event.wait(min(left, 0.25)):
                break
        self.event.clear()

    def close(self) -> None:
        if self.observer is not None:
            self.observer.stop()
            self.observer.join(2.0)


def candidates(folder: Path) -> list[Path]:
    """The videos in ``folder`` (not hidden), oldest first."""
    try:
        entries = list(os.scandir(folder))
    except OSError as exc:
        raise WatchError(f"{folder}: {exc.strerror or exc}") from None
    out = []
    for e in entries:
        if e.name.startswith(".") or Path(e.name).suffix.lower() not in VIDEO_SUFFIXES:
            continue
        try:
            if e.is_file():
                out.append((e.stat().st_mtime_ns, e.name, Path(e.path)))
        except OSError:
            continue
    return [p for _, _, p in sorted(out)]


def watch_folder(folder, out, opts, stop=None, *, settle: float = 5.0, poll: float = 1.0,
                 once: bool = False, dispatcher=None, on_start=None, on_done=None,
                 on_note=None) -> list[dict]:
    """Process the videos of ``folder`` into ``out/<stem>/`` as they become complete, until
    ``stop`` (a :class:`~bgsub.pipeline.run.StopFlag`) is set, or, with ``once``, until every
    video there now is processed.  ``dispatcher``: notifiers shared by every file's run.
    ``on_start(path)``, ``on_done(summary)`` and ``on_note(line)`` report progress.  Returns the
    summaries of the runs made."""
    from bgsub.pipeline.run import RunOptions, StopFlag

    folder, out = Path(folder), Path(out)
    if not folder.is_dir():
        raise WatchError(f"{folder}: no such folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WatchError(f"{out}: {exc.strerror or exc}") from None
    if out.resolve() == folder.resolve():
        raise WatchError(f"-o {out}: give an output folder other than the watched one")
    w = _Watch(folder, out, RunOptions(**{**opts.__dict__, "display": False}),
               stop or StopFlag(), dispatcher, on_start, on_done, on_note)
    try:
        w.loop(settle, poll, once)
    finally:
        w.wake.close()
    return w.summaries


class _Watch:
    """One watch's state (ledger, settling files, wake-ups) and its steps: :meth:`loop`
    finds the complete files, :meth:`process` runs one, :meth:`index` rewrites index.html."""

    def __init__(self, folder, out, opts, stop, dispatcher, on_start, on_done, on_note):
        self.folder, self.out, self.opts, self.stop = folder, out, opts, stop
        self.dispatcher = dispatcher
        self.on_start, self.on_done = on_start, on_done
        self.note = on_note or (lambda line: None)
        self.ledger = Ledger(out)
        self.summaries: list[dict] = []
        self.wake = _Wake(folder)
        self.note(f"watching {folder} ({self.wake.mode}"
                  + (f": {self.wake.why}" if self.wake.why else "") + f"); outputs in {out}")

    def loop(self, settle: float, poll: float, once: bool) -> None:
        settling = Settling(settle)
        self.index()
        while not self.stop.is_set():
            pending = [p for p in candidates(self.folder) if not self.ledger.done(p)]
            for name in set(settling.seen) - {p.name for p in pending}:
                settling.forget(name)
            ready = [p for p in pending if settling.complete(p)]
            for path in ready:
                if self.stop.is_set():
                    break
                self.process(path)
                settling.forget(path.name)
            if once and not pending:
                break
            if not ready:
                idle = pending or self.wake.observer is None
                self.wake.wait(poll if idle else max(poll, 5.0), self.stop)

    def process(self, path: Path) -> None:
        """Run one complete file into its folder; record how it ended in the ledger."""
        try:
            st = path.stat()
        except FileNotFoundError:  # gone before its turn
            return
        dest = self.ledger.output_dir(path, self.out)
        entry = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "output_dir": str(dest),
                 "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        attempts = self.ledger.attempts(path, st)
        if attempts > MAX_ATTEMPTS:  # it took the watch down each time: not once more
            summary = {"input": str(path), "output_dir": str(dest), "ok": False, "frames": 0,
                       "error": f"the watch ended {attempts - 1} times while processing it "
                                f"(a crash or a kill); not tried again until it changes"}
        else:
            self.ledger.record(path, {**entry, "status": "running", "attempts": attempts})
            if self.on_start is not None:
                self.on_start(path)
            summary = self.run(path, dest)
        stopped = summary.get("interrupted") or (self.stop.is_set() and not summary.get("ok"))
        status = "interrupted" if stopped else ("done" if summary.get("ok") else "failed")
        entry.update({"status": status, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                      "frames": summary.get("frames"), "events": summary.get("events"),
                      "error": summary.get("error")})
        self.ledger.record(path, entry)
        self.index()
        self.summaries.append(summary)
        if self.on_done is not None:
            self.on_done(summary)

    def run(self, path: Path, dest: Path) -> dict:
        """``bgsub run``'s summary of one file; a failed one's when it cannot be run at all
        (recorded as failed: not retried at every start)."""
        from bgsub.pipeline.run import InputError, run_input
        from bgsub.io.sources import SourceError

        try:
            return run_input(path, dest, self.opts, self.stop, dispatcher=self.dispatcher)
        except (InputError, SourceError) as exc:
            error = str(exc)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        return {"input": str(path), "output_dir": str(dest), "ok": False, "error": error,
                "frames": 0}

    def index(self) -> None:
        """``OUT/index.html`` over every file in the ledger (written atomically)."""
        from bgsub.report.run_report import write_index
        from bgsub.io.sinks import describe_os_error

        runs = [{"input": n, "output_dir": e["output_dir"], "frames": e.get("frames"),
                 "events": e.get("events"), "error": e.get("error")}
                for n, e in self.ledger.files.items() if e.get("output_dir")]
        if runs:
            try:
                write_index(self.out, runs)
            except OSError as exc:
                self.note(f"index.html: {describe_os_error(exc)}")
