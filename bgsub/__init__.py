"""bgsub: background subtraction and motion detection in video.

Heavy modules (Numba kernels, OpenCV) are imported on first use, so ``import bgsub`` is cheap.
"""

from importlib import import_module
from typing import TYPE_CHECKING

from bgsub._env import set_default
from bgsub._version import __version__

# Numba's OpenMP threads sleep between kernels instead of spinning: a run has a reader and a
# writer thread beside them, and spinning threads starved those (and themselves, on a busy
# machine).  Set before the OpenMP library loads; a value the user set is kept.
set_default("OMP_WAIT_POLICY", "PASSIVE")
# ... but not at once: GNU OpenMP's threads spin 10,000 turns (about 0.15 ms here) after a
# kernel before they sleep, so that the kernel a frame calls next (the vote after the model)
# does not wait for them to wake (about 0.07 ms a parallel loop on a 2-core VM): the model
# alone 5-10% faster a frame at 640x480 on two threads (docs, design decisions).  Overrides
# the policy's zero spin in GNU OpenMP only; a value the user set is kept.
set_default("GOMP_SPINCOUNT", "10000")
# Numba's OpenMP threading layer before TBB, which Numba takes first wherever libtbb is on the
# loader path (Debian's OpenCV development packages bring it): the model alone was 5-15% slower
# a frame on it at 640x480, and a tiny frame's parallel launch 0.24-1.1 ms against OpenMP's
# 0.15.  Read when Numba is imported (after bgsub); a value the user set is kept.
set_default("NUMBA_THREADING_LAYER_PRIORITY", "omp tbb workqueue")

_LAZY = {
    "MixtureSubtractor": "bgsub.model",
    "ACCURATE": "bgsub.model",
    "evaluate_sequence": "bgsub.evaluate",
    "Scores": "bgsub.evaluate",
    "Sequence": "bgsub.evaluate",
    "synthetic_scene": "bgsub.evaluate.synthetic",
    "open_video": "bgsub.io.sources",
    "MotionDetector": "bgsub.motion",
    "EventTracker": "bgsub.motion",
    "detect_motion": "bgsub.motion",
    "RunOptions": "bgsub.pipeline.run",
    "run_input": "bgsub.pipeline.run",
    "run_many": "bgsub.scale",
    "GaussianMixture": "bgsub.em",
    "KMeans": "bgsub.em",
    "select_components": "bgsub.em",
    "ConvergenceWarning": "bgsub.em",
    "NotFittedError": "bgsub.em",
    "createBackgroundSubtractorGMM": "bgsub.model.opencv",
}

__all__ = sorted(_LAZY) + ["__version__"]

if TYPE_CHECKING:  # what type checkers see of the lazy names above (py.typed); never imported
    from .em import ConvergenceWarning, GaussianMixture, KMeans, NotFittedError, select_components
    from .evaluate import Scores, Sequence, evaluate_sequence
    from .evaluate.synthetic import synthetic_scene
    from .io.sources import open_video
    from .model import ACCURATE, MixtureSubtractor
    from .model.opencv import createBackgroundSubtractorGMM
    from .motion import EventTracker, MotionDetector, detect_motion
    from .pipeline.run import RunOptions, run_input
    from .scale import run_many


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bgsub' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
