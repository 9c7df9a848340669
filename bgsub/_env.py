"""Environment variables that bgsub sets for its own process (thread pools, library logging),
told apart from the user's, so that a command run for the user (an event hook) gets the
environment the user gave bgsub, not bgsub's settings.

The names bgsub set travel in the environment itself (``BGSUB_SET_ENV``), so that a worker
process that ``bgsub run --jobs N`` spawns, which inherits them as if the user had set them,
still tells them apart."""

from __future__ import annotations

import os

_MARK = "BGSUB_SET_ENV"  # comma-separated names that bgsub set, not the user


def _ours() -> set[str]:
    return {n for n in os.environ.get(_MARK, "").split(",") if n}


def set_default(name: str, value: str) -> None:
    """``os.environ.setdefault(name, value)``, remembering that the value is bgsub's."""
    if name not in os.environ:
        os.environ[name] = value
        os.environ[_MARK] = ",".join(sorted(_ours() | {name}))


def user_environ() -> dict[str, str]:
    """``os.environ`` without the variables :func:`set_default` set (in this process or in the
    bgsub process that started it)."""
    ours = _ours() | {_MARK}
    return {k: v for k, v in os.environ.items() if k not in ours}
