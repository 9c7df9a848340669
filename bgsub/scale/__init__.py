"""Several inputs at once: live inputs on threads, files on a local process pool or a Dask
cluster, and one long video split in time (chunks).

:func:`run_many` is the one entry point (``bgsub run`` calls it):

* live inputs (cameras, URLs) always run concurrently, each in its own four-stage pipeline on
  a thread of this process (:mod:`bgsub.scale.jobs`);
* file inputs run on ``jobs`` worker processes (``spawn``, ``NUMBA_NUM_THREADS`` = cores //
  jobs), or in this process when ``jobs`` is 1 (:mod:`bgsub.scale.jobs`);
* with ``dask=ADDRESS`` the file inputs are tasks on an existing Dask distributed cluster
  (:mod:`bgsub.scale.dask`; Dask is imported only then);
* with ``chunks=N`` a file is split into N time ranges, each started ``chunk_warmup`` frames
  early to learn its background, and the chunks are merged into one set of outputs
  (:mod:`bgsub.scale.chunks`).
"""

from bgsub.scale.jobs import is_live, output_dirs, run_many

__all__ = ["run_many", "is_live", "output_dirs"]
