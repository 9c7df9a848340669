"""Numba's parallel kernels from several threads at once.

A threaded run calls parallel kernels from two threads (the model's and the detecting one),
``--jobs``/live inputs and Dask workers from more.  OpenMP and TBB allow that; Numba's
``workqueue`` layer (where neither library can be loaded, or where the user puts it first in
``NUMBA_THREADING_LAYER_PRIORITY``) aborts the process instead ("Concurrent access has been
detected").  There every parallel kernel bgsub calls takes one process-wide lock: the stages
wait for each other, and the run finishes.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

_layer = None  # Numba's threading layer, once its threads are started
LOCK = threading.Lock()  # workqueue: one parallel kernel at a time in the process


def serial_layer() -> bool:
    """True where Numba's threading layer is ``workqueue``.  Starts Numba's threads, as a
    first parallel call would."""
    global _layer
    if _layer is None:
        import numba
        from numba.np.ufunc import parallel

        parallel._launch_threads()
        _layer = numba.threading_layer()
    return _layer == "workqueue"


@contextmanager
def one_at_a_time():
    """Around a call of a parallel kernel: the process-wide lock on the ``workqueue`` layer,
    nothing on the others."""
    if serial_layer():
        with LOCK:
            yield
    else:
        yield
