"""The unit of work of several inputs: one input, or one time chunk of it (:class:`Task`),
and :func:`run_task`, which runs one and turns its refusal into an error summary.  Below the
three ways of running tasks (:mod:`~bgsub.scale.jobs` on this machine,
:mod:`~bgsub.scale.chunks` for chunks of one input, :mod:`~bgsub.scale.dask` on a cluster),
which all import it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bgsub.io.sources import URL_SCHEMES


def is_live(source) -> bool:
    """A camera index or a URL: a source that delivers frames in real time."""
    if isinstance(source, int):
        return True
    s = str(source)
    return s.isdigit() or s.lower().startswith(URL_SCHEMES)


@dataclass
class Task:
    """One unit of work: a whole input, or one time chunk of it (``chunk`` set)."""

    key: int
    input_index: int
    source: object
    out_dir: Path
    opts: object  # RunOptions
    chunk: int | None = None

    @property
    def label(self) -> str:
        s = str(self.source)
        name = s if is_live(s) else Path(s).name
        return name if self.chunk is None else f"{name}#{self.chunk + 1}"


def error_summary(source, message: str) -> dict:
    """The summary of an input that could not be processed at all (as the sequential loop)."""
    return {"input": str(source), "ok": False, "error": message, "frames": 0}


def run_task(task: Task, stop, progress_stream=None) -> dict:
    """``run_input`` for one task, its refusal turned into an error summary."""
    from bgsub.pipeline.run import InputError, run_input
    from bgsub.io.sources import SourceError

    try:
        return run_input(task.source, task.out_dir, task.opts, stop,
                         progress_stream=progress_stream)
    except (InputError, SourceError, OSError) as exc:
        return error_summary(task.source, str(exc))
