"""File inputs (or their time chunks) as tasks on an existing Dask distributed cluster.

Start one with ``dask scheduler`` and ``dask worker tcp://HOST:8786`` (one per machine, with
bgsub installed in the same version); ``bgsub run --dask tcp://HOST:8786 ...`` then sends one
task per input.  The workers and this machine must see the inputs and the output folder at the
same paths (a shared file system): paths are sent as absolute paths.

Each task is :func:`bgsub.run_input` on a worker: every output is written under a temporary
name and renamed when complete, so a worker killed partway leaves no half-written file under a
final name; the scheduler gives its task to another worker (up to Dask's
``distributed.scheduler.allowed-failures``, 3 by default), whose run first removes the
temporary files left behind, and the run completes.  Ctrl-C sets a Dask ``Event`` that the
running tasks watch: they finalise their outputs and return.

Dask is imported only here, and only when ``--dask`` is used.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

EXTRA_HINT = "pip install 'bgsub[dask]'"


class DaskUnavailable(RuntimeError):
    """Dask is not installed, or the scheduler cannot be reached; the message says which."""


def require_dask():
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise DaskUnavailable(f"--dask needs Dask distributed, an optional extra: "
                              f"{EXTRA_HINT}") from None
    return distributed


def _absolute(task):
    """The task with paths the workers can open wherever their working folder is."""
    src = task.source
    if isinstance(src, str) and Path(src).exists():
        src = str(Path(src).resolve())
    opts = task.opts
    if opts.roi:
        opts = replace(opts, roi=str(Path(opts.roi).resolve()))
    return replace(task, source=src, out_dir=Path(task.out_dir).resolve(), opts=opts)


def cluster_task(task, event_name: str) -> dict:
    """Runs on a worker: one input (or chunk), stopped when the run's Event is set."""
    from distributed import Event, get_client

    from bgsub.pipeline.run import StopFlag
    from bgsub.scale.tasks import run_task

    stop = StopFlag()
    done = threading.Event()
    client = get_client()  # the worker's client, from the task's thread

    def watch():
        try:
            ev = Event(event_name, client=client)
            while not done.is_set():
                if ev.wait(timeout=1.0):
                    stop.set("interrupted")
                    return
        except Exception:  # the client went away: finish the task anyway
            return

    threading.Thread(target=watch, daemon=True, name="bgsub-dask-stop").start()
    try:
        return run_task(task, stop)
    finally:
        done.set()


def run_on_cluster(tasks, address: str, stop, fan, progress, handle, retries: int = 2):
    """Submit ``tasks`` to the scheduler at ``address``; ``handle(task, summary)`` on this
    thread as each one ends (None for a task cancelled by a stop)."""
    distributed = require_dask()
    from bgsub.scale.tasks import error_summary

    from distributed.comm.addressing import get_address_host_port

    try:
        # a malformed address checked first: a Client failing on it prints a traceback
        # from its __del__ at exit
        get_address_host_port(address)
        client = distributed.Client(address, timeout="10s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise DaskUnavailable(f"--dask {address}: cannot reach the scheduler "
                              f"({exc})") from None
    run_id = uuid.uuid4().hex[:8]
    event_name = f"bgsub-stop-{run_id}"
    try:
        event = distributed.Event(event_name, client=client)
        futures = {}
        for t in tasks:
            f = client.submit(cluster_task, _absolute(t), event_name, pure=False,
                              retries=retries, key=f"bgsub-{t.label}-{run_id}-{t.key}")
            futures[f] = t
        pending, finished, stopped = set(futures), 0, False
        progress.extra = f"dask tasks 0/{len(tasks)}"
        while pending:
            if stop.is_set() and not stopped:
                stopped = True
                event.set()  # running tasks finalise; tasks not started are cancelled
                client.cancel([f for f in pending if f.status == "pending"])
            try:
                if not any(f.done() for f in pending):
                    time.sleep(0.1)
            except KeyboardInterrupt:  # a second Ctrl-C: stop waiting for anything not running
                stop.set("SIGINT")
                continue
            for f in [f for f in pending if f.done()]:
                pending.discard(f)
                task = futures[f]
                if f.status == "finished":
                    summary = f.result()
                    summary["input"] = str(task.source)
                    summary["output_dir"] = str(task.out_dir)
                elif f.status == "cancelled":
                    summary = None
                else:
                    exc = f.exception()
                    summary = error_summary(task.source, f"{type(exc).__name__}: {exc}")
                finished += 1
                progress.extra = f"dask tasks {finished}/{len(tasks)}"
                handle(task, summary)
    finally:
        client.close()
