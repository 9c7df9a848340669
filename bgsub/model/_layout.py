"""The layout of the online mixture's per-pixel state, and the per-frame scalars of an update.

Plain NumPy, no Numba: a process reads, writes and validates models without loading the
kernels (``bgsub run`` starts decoding while Numba imports on another thread).  This module,
:mod:`bgsub.model._kernels` and its NumPy twin :mod:`bgsub.model._fallback` are the only
code that knows the layout, with :mod:`bgsub.model._texture`, which reads the rank-0 means
(``hot[:, MEAN:, :]``).

State layout
------------
The state is one flat float32 buffer holding two arrays (see :func:`views`):

* ``hot``, shape ``(H, R, W)``: the component of rank 0 of every pixel, row after row of the
  frame, each row as R runs of W values, one per field, so that the common case runs over a
  row in SIMD lanes;
* ``cold``, indexed ``[k - 1, i, j, field]`` for the components of rank 1 .. K-1: a view of
  shape ``(K - 1, H, W, R)`` over memory laid out ``(H, W, K - 1, R)``, each pixel's K - 1
  records side by side (48 bytes for gray, 80 for colour at K = 5), so that a pixel that needs
  its lower ranks reads one or two cache lines, not one per rank;

with ``R = C + 2`` fields per component record: ``[u, var, mean_0 .. mean_{C-1}]``.
Components are kept sorted by decreasing ``w / sigma``.

* ``u`` is the component's weight in *scaled* units: the true weight is ``w = scale * u`` where
  ``scale`` is one number for the whole frame, kept by the caller.  Every frame multiplies every
  weight by ``(1 - alpha)``; in scaled units that is a change of ``scale`` alone, so the weights
  of the components that did not match are not touched at all.  The matched component gains
  ``alpha / scale'``.  ``u == 0`` marks an unused slot; used slots come first.
* ``var`` is the variance per channel (isotropic, shared by the channels).
* ``mean_c`` is the mean of channel ``c``.

A pixel that matches its first component (the common case) reads and writes its values in
``hot`` and nothing else; the next most common case, a match at rank 1, adds the pixel's
records in ``cold``, which also hold the ranks that the rarer cases go on to (one plane per
rank, the layout until 2026-12-05, made a gray model on one thread 2-3.5% slower).  A new model
writes only ``hot``: the pages of ``cold`` are first touched when a pixel needs a second
component.  Outside these three modules the state is seen as the ranked array of
:func:`to_ranked`, which is also what a saved model holds.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

U = 0  # field: scaled weight
VAR = 1  # field: variance per channel
MEAN = 2  # field: first channel of the mean

RHO_WEIGHT = 0  # rho = alpha / w (OpenCV MOG2, Power & Schoonees)
RHO_DENSITY = 1  # rho = alpha * N(x; mu, sigma) (Stauffer & Grimson 1999)

# When the global scale falls below this, all weights are multiplied by it (a power of two, so
# exactly) and the scale is divided by it.
RESCALE = 2.0**-16


def kernel_components(n_components: int) -> int:
    """The number of components that stands for ``n_components`` in the kernels' compiled
    signatures: the ``cold`` view of one component is empty and that of two contiguous, one
    array type for Numba (2 stands for both), apart from the strided view of three or more
    (5 stands for those)."""
    return 2 if n_components < 3 else 5


def new_state(n_components: int, height: int, width: int, channels: int) -> np.ndarray:
    """An empty state (every slot unused) as one flat buffer; zero pages are not touched."""
    return np.zeros(n_components * height * width * (channels + 2), np.float32)


def views(state: np.ndarray, n_components: int, height: int, width: int, channels: int):
    """(hot, cold) views of a flat state buffer."""
    r = channels + 2
    n_hot = height * width * r
    if state.ndim != 1 or state.size != n_components * n_hot or state.dtype != np.float32:
        raise ValueError(f"state buffer of {state.size} float32 values does not fit "
                         f"K={n_components}, {width}x{height}x{channels}")
    hot = state[:n_hot].reshape(height, r, width)
    cold = state[n_hot:].reshape(height, width, n_components - 1, r).transpose(2, 0, 1, 3)
    return hot, cold


def mean_plane(hot: np.ndarray, channel: int) -> np.ndarray:
    """The rank-0 means of ``channel``, (H, W): a view of ``hot`` (see :func:`views`)."""
    return hot[:, MEAN + channel, :]


def points_agree(hot: np.ndarray, frame: np.ndarray, channel: int, pts: np.ndarray, dx: int,
                 dy: int, tol: float) -> tuple[int, int]:
    """Of the pixels ``pts`` (flat indices into the frame), how many have their value of
    ``channel`` at (i + dy, j + dx) in ``frame`` within ``tol`` of their rank-0 mean at (i, j),
    and how many of them fall inside the frame there (the rule of the kernels'
    ``shift_estimate``, for any shift)."""
    h, w = frame.shape[:2]
    i, j = pts // w, pts % w
    ii, jj = i + dy, j + dx
    inside = (ii >= 0) & (ii < h) & (jj >= 0) & (jj < w)
    ref = hot[i[inside], MEAN + channel, j[inside]]
    val = frame[ii[inside], jj[inside], channel].astype(np.float32)
    return int(np.count_nonzero(np.abs(val - ref) < np.float32(tol))), int(inside.sum())


def to_ranked(state: np.ndarray, n_components: int, height: int, width: int,
              channels: int) -> np.ndarray:
    """A copy of the state as (K, H, W, C + 2): plane k = every pixel's component of rank k."""
    hot, cold = views(state, n_components, height, width, channels)
    return np.concatenate([hot.transpose(0, 2, 1)[None], cold], axis=0)


def from_ranked(ranked: np.ndarray) -> np.ndarray:
    """The flat state buffer of a (K, H, W, C + 2) ranked array (inverse of :func:`to_ranked`)."""
    ranked = np.asarray(ranked, np.float32)
    hot = np.ascontiguousarray(ranked[0].transpose(0, 2, 1))
    cold = np.ascontiguousarray(ranked[1:].transpose(1, 2, 0, 3))
    return np.concatenate([hot.ravel(), cold.ravel()])


def shift_state(state: np.ndarray, n_components: int, height: int, width: int, channels: int,
                sx: int, sy: int, frame: np.ndarray, u_total: float) -> None:
    """Move the state in place so that pixel (i, j) holds what pixel (i + sy, j + sx) held.
    A pixel whose source lies outside the frame takes the components of the nearest pixel
    inside at half their weight, and its value in ``frame`` (uint8 (H, W, C)) as a component
    with the other half (of ``u_total``, the scaled total) at the variance of that pixel's
    first, ranked first where the two first components tie (a neighbour with one component):
    the edge that a camera's move uncovers starts from both what its neighbours and what it
    shows, and what it shows is background whatever ``background_ratio``."""
    hot, cold = views(state, n_components, height, width, channels)
    _move(hot, 2, sx, sy)
    _move(cold.transpose(1, 2, 0, 3), 1, sx, sy)  # in memory order: (H, W, K - 1, R)
    ii, jj = _uncovered(height, width, sx, sy)
    hot_px = hot.transpose(0, 2, 1)  # (H, W, R)
    near = np.concatenate([hot_px[ii, jj][:, None], cold[:, ii, jj].transpose(1, 0, 2)], axis=1)
    half = np.float32(0.5 * u_total)
    near[:, :, U] *= half / np.maximum(near[:, :-1, U].sum(axis=1, keepdims=True), 1e-30)
    # the frame's value first, so that it leads a tie (a neighbour with one component): the
    # weakest neighbour's component gives its slot to it
    rec = np.concatenate([np.zeros_like(near[:, :1]), near[:, :-1]], axis=1)
    rec[:, 0, U], rec[:, 0, VAR], rec[:, 0, MEAN:] = half, near[:, 0, VAR], frame[ii, jj]
    rec[rec[:, :, U] <= 0.0] = 0.0
    key = np.where(rec[:, :, U] > 0, rec[:, :, U] / np.sqrt(np.maximum(rec[:, :, VAR], 1e-30)),
                   -1.0)
    rec = np.take_along_axis(rec, np.argsort(-key, axis=1, kind="stable")[:, :, None], axis=1)
    hot_px[ii, jj] = rec[:, 0]
    cold[:, ii, jj] = rec[:, 1:].transpose(1, 0, 2)


def _uncovered(height: int, width: int, sx: int, sy: int):
    """(rows, columns) of the pixels whose source (i + sy, j + sx) lies outside the frame, in
    raster order: the edge's indices, built from its rows and columns.  (A boolean mask over
    the state's strided views read every pixel, 44 of the 95 ms of a move at 1920x1080 colour;
    ``np.nonzero`` of a whole-frame mask still took 5 ms of the 35.)"""
    ys, xs = np.arange(height) + sy, np.arange(width) + sx
    row_out, col_out = (ys < 0) | (ys >= height), (xs < 0) | (xs >= width)
    cols = np.flatnonzero(col_out)
    per_row = np.where(row_out, width, cols.size)  # a row outside: every column
    ii = np.repeat(np.arange(height), per_row)
    starts = np.cumsum(per_row) - per_row
    jj = np.empty(ii.size, np.intp)
    for i in np.flatnonzero(row_out):
        jj[starts[i]:starts[i] + width] = np.arange(width)
    inside = np.flatnonzero(~row_out)
    if cols.size and inside.size:
        jj[(starts[inside][:, None] + np.arange(cols.size)).ravel()] = np.tile(cols, inside.size)
    return ii, jj


def _move(a: np.ndarray, col: int, sx: int, sy: int) -> None:
    """a[i, ..., j] = a[i + sy, ..., j + sx] in place (rows on axis 0, columns on axis
    ``col``), a row at a time in the order that reads each row before it is written (no copy
    of the whole state); where i + sy or j + sx lies outside, the nearest moved pixel."""
    h, w = a.shape[0], a.shape[col]
    i0, i1 = max(0, -sy), min(h, h - sy)
    j0, j1 = max(0, -sx), min(w, w - sx)
    if i0 >= i1 or j0 >= j1:
        return

    def cols(lo, hi):
        return (slice(None),) * (col - 1) + (slice(lo, hi),)

    dst, src = cols(j0, j1), cols(j0 + sx, j1 + sx)  # once: 4 of 35 ms at 1080p a row at a time
    for i in (range(i0, i1) if sy >= 0 else range(i1 - 1, i0 - 1, -1)):
        a[i][dst] = a[i + sy][src]
    a[:i0] = a[i0]
    a[i1:] = a[i1 - 1]
    every = (slice(None),)
    a[every + cols(0, j0)] = a[every + cols(j0, j0 + 1)]
    a[every + cols(j1, w)] = a[every + cols(j1 - 1, j1)]


class FrameParams(NamedTuple):
    """The per-frame scalars of one update, derived from the learning rate and the scale."""

    learn: bool  # False: classify only, touch nothing
    inc: np.float32  # alpha / scale': what a match adds to u
    inv_decay: np.float32  # 1 / (1 - alpha): undoes this frame's decay for frozen pixels
    alpha: np.float32  # the learning rate itself (density rule)
    thr2: np.float32  # T^2 * C: a match is d2 < thr2 * var, d2 summed over channels
    bg_u: np.float32  # background_ratio / scale': the prefix weight limit in scaled units
    u_new: np.float32  # weight of a new component in scaled units (w = alpha)
    u_total: np.float32  # 1 / scale': the total weight in scaled units
    new_scale: float
    prune: np.float32 = np.float32(0.0)  # alpha * c_T / scale': Zivkovic's prior, per frame
    thr2n: np.float32 = np.float32(0.0)  # T_n^2 * C: the neighbourhood rule's match (0 = off)


def frame_params(alpha: float, scale: float, match_threshold: float, background_ratio: float,
                 channels: int, complexity_prior: float = 0.0,
                 neighbour_threshold: float = 0.0) -> FrameParams:
    """Scalars for one update with learning rate ``0 <= alpha < 1`` from global ``scale``;
    ``complexity_prior`` c_T > 0 selects Zivkovic's update (every weight also loses
    alpha * c_T per frame, and components whose weight reaches zero are dropped);
    ``neighbour_threshold`` T_n > 0 turns on the neighbourhood rule (see :func:`apply_frame`)."""
    f32 = np.float32
    thr2 = f32(match_threshold * match_threshold * channels)
    thr2n = f32(neighbour_threshold * neighbour_threshold * channels)
    if alpha <= 0.0:
        s = scale
        return FrameParams(False, f32(0), f32(1), f32(0), thr2, f32(background_ratio / s),
                           f32(0), f32(1.0 / s), s, f32(0), thr2n)
    s = scale * (1.0 - alpha)
    return FrameParams(True, f32(alpha / s), f32(1.0 / (1.0 - alpha)), f32(alpha), thr2,
                       f32(background_ratio / s), f32(alpha / s), f32(1.0 / s), s,
                       f32(alpha * complexity_prior / s), thr2n)
