"""Local concurrency: live inputs on threads, file inputs on a pool of worker processes.

:func:`run_many` plans the work (one task per input, or per time chunk), then runs it:

* one input at a time on the calling thread when nothing needs to run at once (one input, or
  files with ``jobs=1`` and no live input): exactly the sequential run, windows included;
* otherwise every live input on a thread of its own (each one its own four-stage pipeline),
  and the file tasks on ``jobs`` ``spawn``-ed worker processes (each with
  ``NUMBA_NUM_THREADS = cores // jobs``, so jobs x threads <= cores), on the calling thread when
  ``jobs`` is 1, or on a Dask cluster (:mod:`bgsub.scale.dask`).

Stopping: :class:`~bgsub.pipeline.run.StopFlag` ``stop`` (set by the command line's Ctrl-C / SIGTERM
handler) fans out to every running input: threads get their own flag set; worker processes,
which sit in a process group of their own (a terminal's Ctrl-C reaches only this process), see
a shared event and finalise their outputs.  A second Ctrl-C (KeyboardInterrupt here) is
forwarded to the workers as SIGINT: they give up finalising gracefully, as a sequential run
does.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys
import threading
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from bgsub._env import set_default
from bgsub.scale.tasks import Task, error_summary, is_live, run_task

if TYPE_CHECKING:
    from bgsub.pipeline.run import RunOptions, StopFlag


def cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def output_dirs(inputs, output_dir=None) -> list[Path]:
    """The output folder of each input, as ``bgsub run -o`` names them: ``INPUT_bgsub/`` by
    default; ``output_dir`` itself for one input; ``output_dir/INPUT/`` for several; a name
    used twice gets ``_2``, ``_3``..."""
    from bgsub.pipeline.run import default_output_dir

    dirs, used = [], set()
    for src in inputs:
        if output_dir is None:
            out = default_output_dir(src)
        elif len(inputs) == 1:
            out = Path(output_dir)
        else:
            out = Path(output_dir) / default_output_dir(src).name.removesuffix("_bgsub")
        base, n = out, 2
        while str(out) in used:
            out, n = Path(f"{base}_{n}"), n + 1
        used.add(str(out))
        dirs.append(out)
    return dirs


# ---------------------------------------------------------------------------- progress
class _LineCapture:
    """A stream for one run's :class:`~bgsub.pipeline.run.Progress`: it keeps the latest line (the
    run believes it writes to a terminal) for the shared display."""

    def __init__(self, sink):
        self._sink = sink

    def isatty(self):
        return True

    def write(self, text):
        line = text.strip()
        if line:
            self._sink(re.sub(r"^\[[#.]*\]\s*", "", line))

    def flush(self):
        pass


class SharedProgress:
    """One status line for every input running at once: ``2/5 done | a.mp4: 60/120 frames,
    30 fps, 1 events | cam: ...``.  On a terminal it is redrawn every 0.2 s; with ``force``
    (``--progress``) and no terminal it is a plain line every 5 s.  Worker processes send their
    lines through a queue (:meth:`queue_for_workers`)."""

    def __init__(self, total: int, quiet: bool, force: bool = False, stream=None):
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.active = not quiet and (self.tty or force)
        self.total, self.done = total, 0
        self.lines: dict[str, str] = {}
        self.extra = ""  # e.g. Dask's "tasks 3/8"
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._queues = []
        self._thread = None
        self._drawn = False

    def start(self):
        if self.active:
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name="bgsub-progress")
            self._thread.start()
        return self

    def stream_for(self, label: str):
        if not self.active:
            return None
        return _LineCapture(lambda line, label=label: self.set(label, line))

    def set(self, label, line):
        with self._lock:
            self.lines[label] = line

    def finished(self, label):
        with self._lock:
            self.lines.pop(label, None)
            self.done += 1

    def add_queue(self, q):
        self._queues.append(q)

    def _drain(self):
        import queue

        for q in self._queues:
            while True:
                try:
                    label, line = q.get_nowait()
                except (queue.Empty, OSError, ValueError, EOFError):
                    break
                self.set(label, line)

    def render(self) -> str:
        with self._lock:
            parts = [f"{self.done}/{self.total} done"] + ([self.extra] if self.extra else [])
            parts += [f"{k}: {v}" for k, v in self.lines.items()]
        return " | ".join(parts)

    def _run(self):
        interval = 0.2 if self.tty else 5.0
        while not self._stop.wait(interval):
            self._drain()
            self._draw()

    def _draw(self):
        line = self.render()
        try:
            if self.tty:
                width = shutil.get_terminal_size((100, 20)).columns - 1
                self.stream.write("\r" + line[:width].ljust(width))
            else:
                self.stream.write(line + "\n")
            self.stream.flush()
            self._drawn = True
        except (OSError, ValueError):
            pass

    def close(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._drain()
            self._draw()  # the final count
            if self.tty:
                self.stream.write("\n")
                self.stream.flush()


# ---------------------------------------------------------------------------- worker processes
_CHILD: dict = {}


def _init_child(threads: int, stop_event, progress_queue):
    """Runs first in each worker process: threads for Numba, signals, the stop watcher."""
    os.environ["NUMBA_NUM_THREADS"] = str(threads)  # before Numba is imported here
    set_default("OPENCV_LOG_LEVEL", "OFF")
    set_default("OPENCV_FFMPEG_LOGLEVEL", "-8")
    if "numba" in sys.modules:  # imported by the main module: set it for this thread instead
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    from bgsub.pipeline.run import single_threaded_opencv

    single_threaded_opencv()  # as in the parent: the stages are the parallelism
    try:
        os.setpgid(0, 0)  # a terminal's Ctrl-C goes to the parent, which tells us
    except OSError:
        pass
    from bgsub.pipeline.run import StopFlag

    stop = StopFlag()

    def on_signal(signum, frame):
        if stop.is_set():  # the parent's second Ctrl-C: give up finalising gracefully
            raise KeyboardInterrupt
        stop.set(signal.Signals(signum).name)

    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, on_signal)

    def watch():
        stop_event.wait()
        stop.set("interrupted")

    threading.Thread(target=watch, daemon=True, name="bgsub-stop-watch").start()
    _CHILD.update(stop=stop, queue=progress_queue)


def _child_run(task: Task):
    stop = _CHILD["stop"]
    if stop.is_set():
        return None  # stopped before it started: not run, as the sequential loop
    q = _CHILD["queue"]
    stream = None
    if q is not None:
        stream = _LineCapture(lambda line, label=task.label: _put(q, (label, line)))
    return run_task(task, stop, stream)


def _put(q, item):
    try:
        q.put_nowait(item)
    except Exception:
        pass


class LocalPool:
    """``jobs`` spawned worker processes running tasks; :meth:`run` hands each result (or None
    for a task not run because of a stop) to ``handle`` on the calling thread."""

    def __init__(self, jobs: int, progress: SharedProgress | None = None):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        ctx = mp.get_context("spawn")  # Numba's OpenMP threads and fork() do not mix
        self.jobs = jobs
        self.threads = max(1, cores() // jobs)
        self.stop_event = ctx.Event()
        q = ctx.Queue() if progress is not None and progress.active else None
        if q is not None:
            progress.add_queue(q)
        self.executor = ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_child,
                                            initargs=(self.threads, self.stop_event, q))

    def stop(self):
        """Graceful: every worker finishes its frame and finalises (safe in a signal handler)."""
        self.stop_event.set()

    def interrupt(self):
        """The second Ctrl-C: SIGINT to every worker."""
        for p in list(getattr(self.executor, "_processes", {}).values()):
            try:
                os.kill(p.pid, signal.SIGINT)
            except (OSError, AttributeError):
                pass

    def run(self, tasks, stop, handle):
        from concurrent.futures import FIRST_COMPLETED, wait

        with _main_module_hidden():  # the workers are started by the first submits
            futures = {self.executor.submit(_child_run, t): t for t in tasks}
        pending = set(futures)
        cancelled = False
        try:
            while pending:
                try:
                    done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                except KeyboardInterrupt:
                    self.stop()
                    self.interrupt()
                    continue
                if stop.is_set() and not cancelled:
                    cancelled = True
                    self.stop()
                    for f in pending:
                        f.cancel()
                for f in done:
                    task = futures[f]
                    if f.cancelled():
                        handle(task, None)
                        continue
                    exc = f.exception()
                    if exc is not None:
                        handle(task, error_summary(task.source, _describe_crash(exc)))
                    else:
                        handle(task, f.result())
        finally:
            self.executor.shutdown(wait=True, cancel_futures=True)


@contextmanager
def _main_module_hidden():
    """Start workers without re-running the caller's script in them: ``spawn`` imports the
    main module in each child (a script without ``if __name__ == "__main__":`` would call
    run_many again there, or fail when read from stdin).  The workers need only bgsub."""
    import types

    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _describe_crash(exc: BaseException) -> str:
    from concurrent.futures.process import BrokenProcessPool

    if isinstance(exc, BrokenProcessPool):
        return "the worker process died (killed, or out of memory)"
    return f"{type(exc).__name__}: {exc}"


# ---------------------------------------------------------------------------- run_many
class _FanOut:
    """The parent stop flag's ``on_set``: sets every running input's flag and stops the
    workers.  Runs in a signal handler: only sets flags."""

    def __init__(self):
        self.flags = []
        self.targets = []  # objects with .stop()

    def __call__(self):
        for flag, reason_of in self.flags:
            flag.set(reason_of())
        for t in self.targets:
            t.stop()


def run_many(inputs: Iterable[str | int | os.PathLike[str]],
             output_dir: str | os.PathLike[str] | None = None,
             options: RunOptions | None = None, *, jobs: int | None = None,
             dask: str | None = None, chunks: int = 1, chunk_warmup: int | None = None,
             stop: StopFlag | None = None,
             on_done: Callable[[dict[str, Any]], object] | None = None) -> list[dict[str, Any]]:
    """Run several inputs at once; the per-input summaries (as :func:`bgsub.run_input`
    returns), in input order.

    ``inputs``: files, folders, patterns, camera indices, URLs.  ``output_dir``: as
    ``bgsub run -o`` (None: ``INPUT_bgsub/`` next to where you run).  ``options``: a
    :class:`bgsub.RunOptions` (default: no windows).  Live inputs always run concurrently, on
    threads of this process.  File inputs run on ``jobs`` worker processes (default: the number
    of cores, at most the number of tasks; 1 runs them here, one after another), or on the Dask
    cluster at ``dask`` (``tcp://host:8786``, needs ``pip install bgsub[dask]``).  ``chunks``
    splits each file in time into that many ranges run as separate tasks, each starting
    ``chunk_warmup`` frames early (default ``ceil(3 / learning_rate)``), and merges their
    outputs.  ``stop``: a :class:`~bgsub.pipeline.run.StopFlag` to interrupt the run (every input
    finalises its outputs).  ``on_done(summary)`` is called as each input finishes.  Inputs not
    started because of a stop have no summary.
    """
    from bgsub.pipeline.run import RunOptions, StopFlag
    from bgsub.scale import chunks as chunking

    inputs = [str(s) if isinstance(s, Path) else s for s in inputs]
    if jobs is not None and jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    if chunks < 1:
        raise ValueError(f"chunks must be >= 1, got {chunks}")
    opts = options if options is not None else RunOptions(display=False)
    stop = stop if stop is not None else StopFlag()
    dirs = output_dirs(inputs, output_dir)
    results: dict[int, dict] = {}
    lock = threading.Lock()

    def finish(index, summary):
        if summary is None:
            return
        with lock:
            results[index] = summary
            if on_done is not None:
                on_done(summary)

    # ---- plan
    live_tasks, file_tasks, groups = [], [], {}
    for i, src in enumerate(inputs):
        if is_live(src):
            live_tasks.append(Task(len(live_tasks), i, src, dirs[i], opts))
            continue
        if chunks > 1:
            planned = chunking.plan(src, dirs[i], opts, chunks, chunk_warmup)
            if isinstance(planned, dict):  # the input cannot be opened: its error summary
                finish(i, planned)
                continue
            if planned is not None:
                group = chunking.ChunkGroup(src, dirs[i], opts, planned)
                groups[i] = group
                for k, copts in enumerate(group.chunk_opts):
                    file_tasks.append(Task(0, i, src, group.chunk_dir(k), copts, chunk=k))
                continue
        file_tasks.append(Task(0, i, src, dirs[i], opts))
    for k, t in enumerate(file_tasks):
        t.key = k

    def handle_file(task, summary):
        if task.chunk is None:
            finish(task.input_index, summary)
            return
        group = groups[task.input_index]
        if group.add(task.chunk, summary):
            finish(task.input_index, group.merge())

    n_jobs = min(jobs or cores(), max(1, len(file_tasks)))
    together = bool(dask) or n_jobs > 1 or (live_tasks and len(live_tasks) + len(file_tasks) > 1)

    if not together:  # one at a time on this thread: today's sequential run, windows included
        order = sorted(live_tasks + file_tasks, key=lambda t: (t.input_index, t.chunk or 0))
        for task in order:
            summary = None if stop.is_set() else run_task(task, stop)
            if is_live(task.source):
                finish(task.input_index, summary)
            else:
                handle_file(task, summary)
        return [results[i] for i in sorted(results)]

    # ---- several at once
    if opts.display:
        from bgsub.io.display import display_available

        if display_available() and not opts.quiet:
            print("Note: several inputs run at once: no windows (run one input to see them)",
                  file=sys.stderr)
    copts = lambda o: replace(o, display=False)  # noqa: E731
    for t in live_tasks + file_tasks:
        t.opts = copts(t.opts)
    progress = SharedProgress(len(live_tasks) + len(file_tasks), opts.quiet, opts.progress)
    fan = _FanOut()
    old_on_set = stop.on_set
    stop.on_set = fan
    threads = []

    def live_worker(task, flag):
        try:
            summary = run_task(task, flag, progress.stream_for(task.label))
        except Exception as exc:  # as a worker process's crash: an error summary, not lost
            summary = error_summary(task.source, _describe_crash(exc))
        progress.finished(task.label)
        finish(task.input_index, summary)

    def labelled(handle):
        def h(task, summary):
            progress.finished(task.label)
            handle(task, summary)
        return h

    progress.start()
    try:
        for task in live_tasks:
            flag = StopFlag()
            fan.flags.append((flag, lambda: stop.reason or "interrupted"))
            th = threading.Thread(target=live_worker, args=(task, flag), daemon=True,
                                  name=f"bgsub-live-{task.label}")
            threads.append(th)
            th.start()
        if file_tasks and dask:
            from bgsub.scale.dask import run_on_cluster

            run_on_cluster(file_tasks, dask, stop, fan, progress, labelled(handle_file))
        elif file_tasks and n_jobs > 1:
            pool = LocalPool(n_jobs, progress)
            fan.targets.append(pool)
            if stop.is_set():
                pool.stop()
            pool.run(file_tasks, stop, labelled(handle_file))
        else:
            for task in file_tasks:
                if stop.is_set():
                    labelled(handle_file)(task, None)
                    continue
                flag = StopFlag()
                fan.flags.append((flag, lambda: stop.reason or "interrupted"))
                labelled(handle_file)(task, run_task(task, flag,
                                                     progress.stream_for(task.label)))
        for th in threads:
            while th.is_alive():
                try:
                    th.join(0.2)
                except KeyboardInterrupt:  # a second Ctrl-C: the inputs are finishing already
                    continue
    finally:
        stop.on_set = old_on_set
        progress.close()
    return [results[i] for i in sorted(results)]
