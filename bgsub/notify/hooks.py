"""``--on-event-start CMD`` / ``--on-event-end CMD``: a command run at each event's start or
end, as Motion's on_event_start / on_event_end.

CMD is split like a shell line (:func:`shlex.split`) and run without a shell, on the hook's own
thread, with the event in environment variables (:func:`hook_env`).  Its output goes to
bgsub's stderr (stdout stays clean for ``--json``).  One that runs past ``timeout`` seconds is
killed with its process group; one that fails is reported in one line; the run goes on.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess

from bgsub._env import user_environ
from bgsub.notify.events import EventRecord, Notifier, NotifyError


class HookError(ValueError):
    """A hook command that cannot be run at all (checked before the run starts)."""


def parse_hook(cmd: str, option: str) -> list[str]:
    """The argument list of ``cmd``; :class:`HookError` when it is empty, unbalanced or its
    program cannot be found."""
    try:
        argv = shlex.split(cmd)
    except ValueError as exc:
        raise HookError(f"{option} {cmd!r}: {exc}") from None
    if not argv:
        raise HookError(f"{option}: empty command")
    if shutil.which(argv[0]) is None:
        where = "is not executable" if os.path.exists(argv[0]) else "not found"
        raise HookError(f"{option} {cmd!r}: {argv[0]} {where}")
    return argv


def hook_env(record: EventRecord) -> dict:
    """The BGSUB_* variables of one event (empty strings for the end fields at its start)."""
    def s(v):
        return "" if v is None else str(v)

    env = {"BGSUB_EVENT_TYPE": record.type, "BGSUB_EVENT_ID": str(record.event_id),
           "BGSUB_NAME": record.name, "BGSUB_SOURCE": record.source,
           "BGSUB_START": f"{record.start:.3f}",
           "BGSUB_END": "" if record.end is None else f"{record.end:.3f}",
           "BGSUB_START_FRAME": str(record.start_frame), "BGSUB_END_FRAME": s(record.end_frame),
           "BGSUB_PEAK": f"{record.peak:.5f}", "BGSUB_ZONES": " ".join(record.zones)}
    if record.clip is not None:
        env["BGSUB_CLIP"] = record.clip
    if record.move is not None:
        env["BGSUB_DX"], env["BGSUB_DY"] = str(record.move[0]), str(record.move[1])
    return env


class HookNotifier(Notifier):
    """Runs ``cmd`` for records of ``type`` ("start", "end" or "camera_moved"), one at a
    time."""

    warn_each_failure = True

    def __init__(self, type: str, cmd: str, timeout: float = 30.0):
        self.type = type
        self.option = "--on-camera-moved" if type == "camera_moved" else f"--on-event-{type}"
        self.name = self.option[2:].replace("-", "_")
        self.cmd = cmd
        self.argv = parse_hook(cmd, self.option)
        self.program = os.path.basename(self.argv[0])
        self.timeout = float(timeout)
        self.drain_seconds = self.timeout + 1.0  # the end of a run lets the last hook finish
        self.proc = None  # the command running now

    def wants(self, record):
        return record.type == self.type

    def send(self, record: EventRecord) -> None:
        # the program only, not the whole line: tokens travel in hook commands (curl -H ...)
        what = f"{self.option} hook for event {record.event_id} ({self.program})"
        try:
            proc = subprocess.Popen(self.argv, env={**user_environ(), **hook_env(record)},
                                    stdin=subprocess.DEVNULL, stdout=2, start_new_session=True)
        except OSError as exc:
            raise NotifyError(f"{what}: cannot run it: {exc.strerror or exc}") from None
        self.proc = proc
        try:
            code = proc.wait(self.timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise NotifyError(f"{what}: still running after --hook-timeout {self.timeout:g} s; "
                              f"killed") from None
        finally:
            self.proc = None
        if code != 0:
            how = (f"killed by {signal.Signals(-code).name}" if code < 0
                   else f"exited with status {code}")
            raise NotifyError(f"{what}: {how}")


    def close(self) -> None:
        """At the end of the run, a command still running (the end could not wait for it)
        is killed: in a session of its own, nothing else would ever stop it."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            _kill_group(proc)


def _kill_group(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()
