"""Environment variables that bgsub sets for its own process (thread pools, library logging),
told apart from the user's, so that a command run for the user (an event hook) gets the
environment the user gave bgsub, not bgsub's settings."""

from __future__ import annotations

import os

_OURS: set[str] = set()  # names bgsub set, not the user


def set_default(name: str, value: str) -> None:
    """``os.environ.setdefault(name, value)``, remembering that the value is bgsub's."""
    if name not in os.environ:
        os.environ[name] = value
        _OURS.add(name)


def user_environ() -> dict[str, str]:
    """``os.environ`` without the variables :func:`set_default` set."""
    return {k: v for k, v in os.environ.items() if k not in _OURS}
