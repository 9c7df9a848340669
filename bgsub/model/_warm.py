"""Compile every kernel a model uses into Numba's on-disk cache, then exit.

    python -m bgsub.model._warm [--model K:VARIANT ...] [--texture]

Started detached by :mod:`bgsub.model._jit` when a first run finds the kernels uncompiled; it runs a
tiny model through the same calls, with the same argument types, as a real one (colour and
gray frames share their types), so the signatures it compiles are the ones a run will load.
Each ``--model`` names the components and variant of a kind of model the run made (one or
two components call the kernels with other argument types than three or more); without one,
the defaults'.  ``--texture``: the texture cue's kernel too (a model with ``texture`` > 0).
One warm-up at a time per cache location: a second one waits on a lock, then finds everything
cached and only loads it.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile


# the model parameters that change the kernels' argument types or which kernel runs: a kind
KIND = ("n_components", "variant")
USAGE = "usage: python -m bgsub.model._warm [--model K:VARIANT ...] [--texture]"


def lock_path():
    where = os.environ.get("NUMBA_CACHE_DIR", "") + "|" + os.path.dirname(os.path.abspath(__file__))
    tag = hashlib.sha1(where.encode()).hexdigest()[:16]
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return os.path.join(tempfile.gettempdir(), f"bgsub-warm-{uid}-{tag}.lock")


def warm(models=None, texture=False):
    """Compile (or load) the kernels of each kind of model in ``models``, ``[{"n_components":
    K, "variant": V}]`` (None: the defaults'), in this process; ``texture``: the texture cue's
    too."""
    from bgsub.model import _jit

    _jit.set_mode("sync")
    for params in models or [{}]:
        exercise(params, texture=texture)


def parse_models(args):
    """The ``--model K:VARIANT`` options of the command line as model parameters."""
    if len(args) % 2:
        raise SystemExit(f"{USAGE}, got {args[-1]}")
    models = []
    for flag, spec in zip(args[::2], args[1::2]):
        k, _, variant = spec.partition(":")
        if flag != "--model" or not (k.isascii() and k.isdigit()) or not variant:
            raise SystemExit(f"{USAGE}, got {flag} {spec}")
        models.append({"n_components": int(k), "variant": variant})
    return models


def exercise(model_params=None, texture=False):
    """Call every kernel a run of a model of the kind ``model_params`` names calls (its
    ``n_components`` and ``variant``, :data:`KIND`; other keys and None values are ignored;
    None: the defaults), on tiny inputs, with a run's argument
    types: compiled (``sync``), loaded from the cache, or handed to the warm-up (``auto``) as a
    run's own first calls would be.  The texture cue's kernel too when ``texture`` is true or
    ``model_params`` turns the cue on."""
    import numpy as np

    from bgsub.model import _blob, _jit
    from bgsub.model.mixture import _GHOST_EVERY, MixtureSubtractor

    params = {k: v for k, v in (model_params or {}).items() if k in KIND and v is not None}
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (4, 5, 3), dtype=np.uint8) for _ in range(3)]
    m = MixtureSubtractor(**params)  # apply_frame, vote_mask, init_from_frame
    for f in frames:
        m.apply(f)
    m.apply(frames[0], known_foreground=np.ones((4, 5), bool))
    m.apply(frames[1], learning_rate=0.0)
    m.background_image()
    # the ghost rule's decision, every _GHOST_EVERY frames: pixels foreground for long enough
    g = MixtureSubtractor(**params)
    dark = np.zeros((4, 5, 3), np.uint8)
    for _ in range(2):
        g.apply(dark)
    g._runs[0][...] = np.iinfo(np.uint16).max
    for _ in range(_GHOST_EVERY):
        g.apply(dark + 255)
    k = _jit.kernels()
    hot, cold = m._views()
    k["scale_weights"](hot, cold, np.float32(1.0))
    # after a brighter step, what the camera clipped (the gain compensation's last step)
    k["clear_clipped"](frames[0], hot, np.zeros((4, 5), np.uint8), np.uint8(200),
                       np.float32(1.0), np.uint8(255))
    # a shaking camera's alignment (max_shift): on frames too small to choose points on
    pts = np.array([2 * 5 + 2], np.int32)
    k["shift_estimate"](frames[0], hot, 1, pts, 1, np.empty(1, np.float32),
                        np.empty(9, np.int64), 0, 0, 1, np.float32(6.0), 1, 1)
    # the texture cue (texture > 0, from its 30th frame), on a gray and a colour frame: a
    # warm-up compiles it, a run loads it when its model has it
    for c in (1, 3) if texture or (model_params or {}).get("texture") else ():
        t = MixtureSubtractor(**params, texture=5)  # want(): a warm-up it starts compiles it
        t.apply(frames[0][:, :, :c])
        th, _ = t._views()
        f = np.ascontiguousarray(frames[1][:, :, :c])
        t._texture_cue(f, th, np.zeros((4, 5), np.uint8), np.uint8(1))
        # and in two halves, as a threaded run calls it: the model's, then the vote's
        later = t._texture_cue(f, th, np.zeros((4, 5), np.uint8), np.uint8(1), True)
        t._finish_texture(np.zeros((4, 5), np.uint8), later)
    # the post-processing's blobs, called as bgsub.motion's PostProcessor does
    mask = np.zeros((4, 8), np.uint8)
    mask[:, :3] = mask[0, 6] = 255
    k["mask_blobs"](mask, 2, *_blob.scratch(mask.shape))


def preload(lean: bool = False, model_params=None):
    """Load the kernels a run of a model of the kind ``model_params`` names (see
    :func:`exercise`; None: the defaults) uses on a background thread, while the caller opens
    its input and output (a run's first frame then finds them ready); ``lean``:
    :func:`bgsub.model._jit.hide_scipy_from_numba` first.  On an empty cache this starts the
    warm-up a first call would start.  Returns the thread: not a daemon, so that a process
    that ends early (an error before the first frame) waits for it rather than finalising the
    interpreter under a thread inside LLVM (which aborts the process)."""
    import threading

    def load():
        try:
            if lean:
                from bgsub.model._jit import hide_scipy_from_numba

                hide_scipy_from_numba()
            exercise(model_params)
        except Exception:  # the run's own first calls report what is wrong
            pass

    thread = threading.Thread(target=load, name="bgsub-preload", daemon=False)
    thread.start()
    return thread


def parse_args(args):
    """(models, texture) of the command line: :func:`parse_models` of its ``--model``
    options, and whether it says ``--texture``."""
    return parse_models([a for a in args if a != "--texture"]), "--texture" in args


def main(args=None):
    models, texture = parse_args(sys.argv[1:] if args is None else list(args))
    try:
        import fcntl
    except ImportError:  # no locking here: at worst two processes compile
        fcntl = None
    with open(lock_path(), "a+") as fh:
        if fcntl is not None:
            fcntl.flock(fh, fcntl.LOCK_EX)
        warm(models, texture)
    return 0


if __name__ == "__main__":
    sys.exit(main())
