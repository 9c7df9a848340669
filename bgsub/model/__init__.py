"""The online per-pixel Gaussian mixture: :class:`MixtureSubtractor` (``mixture``), its Numba
kernels (``_kernels``), the state layout they share with their NumPy twin (``_layout``, plain
NumPy), that twin (``_fallback``), the spatial vote over the kernels' decisions (``_vote``, with
the opening of ``_speckle``), the connected-component kernels of the post-processing
(``_blob``), kernel loading and first-run compilation (``_jit``, ``_warm``), and OpenCV's MOG2
interface over the model (``opencv``).

Names are imported on first use, so that importing a kernel-loading module does not import
Numba.
"""

from importlib import import_module
from typing import TYPE_CHECKING

_LAZY = {
    "MixtureSubtractor": "bgsub.model.mixture",
    "ACCURATE": "bgsub.model.mixture",
    "createBackgroundSubtractorGMM": "bgsub.model.opencv",
    "BackgroundSubtractorGMM": "bgsub.model.opencv",
}

__all__ = sorted(_LAZY)

if TYPE_CHECKING:  # what type checkers see of the lazy names above; never imported
    from .mixture import ACCURATE, MixtureSubtractor
    from .opencv import BackgroundSubtractorGMM, createBackgroundSubtractorGMM


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bgsub.model' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
