"""First-run behaviour of the Numba kernels: never a silent wait.

Each kernel the model calls is a :class:`Kernel`: the Numba dispatcher of
:mod:`bgsub.model._kernels` and, where one exists, its NumPy twin in
:mod:`bgsub.model._fallback` (the same rules, bit for bit).  On a kernel's first call in a process:

* its compiled code is in Numba's on-disk cache (``cache=True``): it is loaded and used;
* it is not, and there is a NumPy twin: ``compiling kernels (first run only)`` goes to stderr,
  a detached ``python -m bgsub.model._warm`` compiles the kernels of the kinds of model the
  process made (:func:`want`) into the normal Numba cache
  (one at a time, under a lock, and it outlives a short run), and the frames run on the NumPy twin
  until that process is done; then the model switches to the kernel.  The output is the same
  whichever implementation ran a frame;
* otherwise (no twin, a signature the warm-up does not compile, an unreadable cache) it is
  compiled here; if that takes more than a second the same notice is printed while it does.

``BGSUB_JIT=sync`` (or :func:`set_mode`) always compiles in-process (the warm-up itself, and
tests of the kernels); ``BGSUB_JIT=numpy`` always runs the NumPy twins where they exist.

Numba's ``workqueue`` threading layer (where neither OpenMP nor TBB can be loaded, or where the
user puts it first in ``NUMBA_THREADING_LAYER_PRIORITY``) aborts the process when two threads
run parallel kernels at once, as a threaded run's model and detecting threads do: there a ready
parallel kernel calls its code under :data:`bgsub._parallel.LOCK`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

from bgsub import _parallel
from bgsub.model._layout import kernel_components

NOTICE = "compiling kernels (first run only)"
NOTICE_AFTER = 1.0  # seconds a first call may take before the notice is printed
RECHECK = 0.5  # seconds between checks of a running warm-up

_mode = os.environ.get("BGSUB_JIT", "auto")
_lock = threading.Lock()
_noticed = False
_warm_proc = None
# (components, variant) of the models this process made, in the order first seen: what a
# warm-up it starts compiles (see want)
_wanted = {}
_texture_wanted = False  # a model of this process has the texture cue (see want)


def want(n_components, variant, texture=False):
    """Note that this process runs a model of ``n_components`` and ``variant``, so that a
    warm-up it starts compiles that model's kernels: one or two components call the kernels
    with other argument types than three or more, and each variant has its own kernel.  A
    kind first seen after the kernels were loaded makes each kernel's next call decide again
    (:meth:`Kernel._first`), so that a compile it needs is announced, not silent.  ``texture``:
    the model has the texture cue, whose kernel the warm-up then compiles too."""
    global _texture_wanted
    _texture_wanted = _texture_wanted or bool(texture)
    kind = (kernel_components(int(n_components)), str(variant))
    if kind in _wanted:
        return
    _wanted[kind] = None
    for k in (_KERNELS or {}).values():
        k.ready = False


def warm_command(kinds=None, texture=None):
    """The detached warm-up's command line: ``python -m bgsub.model._warm`` with a
    ``--model K:VARIANT`` for each kind of model, ``(components, variant)``, in ``kinds``
    (None: the kinds this process made, :func:`want`; none: the defaults), and ``--texture``
    when ``texture`` (None: with ``kinds`` None, when a model of this process has the texture
    cue)."""
    cmd = [sys.executable, "-m", "bgsub.model._warm"]
    for k, variant in list(_wanted) if kinds is None else kinds:
        cmd += ["--model", f"{k}:{variant}"]
    if texture or (texture is None and kinds is None and _texture_wanted):
        cmd.append("--texture")
    return cmd


def set_mode(mode):
    """'auto' (default), 'sync' (compile in-process) or 'numpy' (NumPy twins only); returns the
    previous mode."""
    global _mode
    if mode not in ("auto", "sync", "numpy"):
        raise ValueError(f"mode must be 'auto', 'sync' or 'numpy', got {mode!r}")
    old, _mode = _mode, mode
    for k in (_KERNELS or {}).values():
        k.ready = False  # the next call decides again
    return old


def notice():
    """Print the compile notice on stderr, once per process."""
    global _noticed
    with _lock:
        if _noticed:
            return
        _noticed = True
    print(NOTICE, file=sys.stderr, flush=True)


def _signature(disp, args):
    return tuple(disp.typeof_pyval(a) for a in args)


def is_cached(disp, sig):
    """True if Numba's disk cache holds ``disp`` compiled for ``sig`` (None: cannot tell)."""
    try:
        if sig in disp.overloads:
            return True
        cache = disp._cache
        key = cache._index_key(sig, disp.targetctx.codegen())
        return key in cache._cache_file._load_index()
    except Exception:  # another Numba version, caching disabled, ...
        return None


def warm_cwd():
    """Where the detached warm-up starts: the folder above the ``bgsub`` package this process
    imported, which ``python -m`` puts first on the warm-up's path, so that it imports the same
    copy of bgsub (a checkout beside an installed copy, say) and compiles the kernels this
    process will load: Numba's cache is keyed by the source files' paths, and so is the
    warm-up's lock."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _start_warm():
    """Start the detached compile of every kernel (once per process)."""
    global _warm_proc
    with _lock:
        if _warm_proc is not None:
            return _warm_proc
        try:
            _warm_proc = subprocess.Popen(
                warm_command(), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                cwd=warm_cwd())
        except OSError:
            _warm_proc = False
        return _warm_proc


def _call_with_notice(disp, args):
    """Call ``disp`` (compiling it); the notice appears if that takes over NOTICE_AFTER s."""
    timer = threading.Timer(NOTICE_AFTER, notice)
    timer.daemon = True
    timer.start()
    try:
        return disp(*args)
    finally:
        timer.cancel()


class Kernel:
    """A kernel that runs its NumPy twin until its Numba code is compiled (see module doc)."""

    def __init__(self, disp, fallback=None, parallel=None):
        self.disp = disp
        # parallel: it runs Numba's threads (None: as its dispatcher says; True for a kernel
        # that calls parallel kernels), so it takes the workqueue layer's lock
        self.parallel = (getattr(disp, "targetoptions", {}).get("parallel", False)
                         if parallel is None else parallel)
        self.fallback = fallback
        self.ready = False  # the Numba code is loaded: calls go straight to it
        self.call = disp  # what a ready kernel calls: disp, or disp under the workqueue lock
        self._next_check = 0.0
        self.__name__ = disp.__name__
        self.__doc__ = disp.__doc__

    def __call__(self, *args):
        if self.ready:
            return self.call(*args)
        return self._first(args)

    def _serialised(self, *args):
        with _parallel.LOCK:
            return self.disp(*args)

    def _first(self, args):
        mode = _mode
        if mode == "numpy" and self.fallback is not None:
            return self.fallback(*args)
        if mode != "sync" and self.fallback is not None:
            proc = _warm_proc
            if proc is not None and proc is not False:
                # a warm-up runs: keep to NumPy until it is done, checking every RECHECK s
                # (the deadline moves only when checked: calls more frequent than RECHECK
                # must not put the check off for ever)
                now = time.monotonic()
                if now < self._next_check:
                    return self.fallback(*args)
                if proc.poll() is None:
                    self._next_check = now + RECHECK
                    return self.fallback(*args)
            else:
                sig = _signature(self.disp, args)
                if is_cached(self.disp, sig) is False:
                    proc = _start_warm()
                    if proc:
                        notice()
                        self._next_check = time.monotonic() + RECHECK
                        return self.fallback(*args)
        if self.parallel and _parallel.serial_layer():
            self.call = self._serialised
        sig = _signature(self.disp, args)
        if is_cached(self.disp, sig):
            _lean_cache_loads(self.disp)
            result = self.call(*args)
        else:
            result = _call_with_notice(self.call, args)
        self.ready = True
        return result


_loading = threading.local()  # .on: this thread is inside a cache load of a bgsub kernel


def _lean_cache_loads(disp):
    """Let ``disp``'s loads from Numba's cache skip the target context's full refresh.

    Numba refreshes its CPU target before every cache load: it imports and installs every
    lowering registry (NumPy, random, polynomial, typed containers, ...) and initialises its
    runtime.  Code loaded from the cache is lowered already and links only against the
    runtime, so a load needs the runtime alone: 70 ms less on a run's first load here.  A
    compile (a cache miss, or anything else later in the process) still gets the full refresh:
    only the refresh called inside this dispatcher's ``load_overload`` is the lean one.  Leaves
    everything as it is where Numba's internals differ from what this expects."""
    try:
        cache = disp._cache
        ctx = disp.targetctx
        load = cache.load_overload
        full = ctx.refresh
        from numba.core.runtime import rtsys
    except (AttributeError, ImportError):
        return
    if getattr(load, "_bgsub_lean", False):
        return
    if not getattr(full, "_bgsub_lean", False):
        def refresh():
            if getattr(_loading, "on", False):
                rtsys.initialize(ctx)
            else:
                full()

        refresh._bgsub_lean = True
        ctx.refresh = refresh

    def lean_load(sig, target_context):
        _loading.on = True
        try:
            return load(sig, target_context)
        finally:
            _loading.on = False

    lean_load._bgsub_lean = True
    cache.load_overload = lean_load


def hide_scipy_from_numba():
    """Where scipy is installed, ``import numba`` imports it to check its version: 20-30 ms of
    a run's start here.  No bgsub kernel needs scipy: a process that only runs them (the
    ``bgsub run`` command) can let the check fail instead; scipy itself imports as usual
    afterwards.  Does nothing once scipy or Numba is imported.  (Numba's ``numba.np.arraymath``,
    which would import scipy's BLAS to check ``np.dot``, is imported only by a compile or by
    a cached kernel that calls NumPy's sorting code; no bgsub kernel does, see
    :func:`bgsub.model._kernels._median`.)"""
    if "scipy" in sys.modules or "numba" in sys.modules:
        return
    sys.modules["scipy"] = None  # an import of scipy raises ImportError meanwhile
    try:
        import numba  # noqa: F401
    finally:
        if "scipy" in sys.modules and sys.modules["scipy"] is None:
            del sys.modules["scipy"]


def kernels():
    """The kernels as :class:`Kernel` objects, by name (built once)."""
    global _KERNELS
    if _KERNELS is None:
        from bgsub.model import _blob, _texture, _vote
        from bgsub.model import _fallback as fb
        from bgsub.model import _kernels as kern

        _KERNELS = {name: Kernel(getattr(kern, name), getattr(fb, name, None))
                    for name in ("apply_frame", "apply_frame_zivkovic", "init_from_frame",
                                 "scale_weights", "background_image",
                                 "gain_estimate", "grid_background", "ghost_candidates",
                                 "ghost_blobs", "ghost_absorb", "clear_clipped", "shift_points",
                                 "shift_estimate")}
        _KERNELS["mask_blobs"] = Kernel(_blob.mask_blobs, _blob.mask_blobs_numpy)
        for name in ("texture_flags", "texture_background", "texture_cue"):  # all parallel
            _KERNELS[name] = Kernel(getattr(_texture, name), getattr(_texture, name + "_numpy"),
                                    parallel=True)
        _KERNELS["vote_mask"] = Kernel(_vote.vote_mask, fb.vote_mask)
    return _KERNELS


_KERNELS = None
