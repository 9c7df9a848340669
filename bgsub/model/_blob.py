"""Blob statistics of a connected-component label image: a Numba kernel and its NumPy twin.

OpenCV's ``connectedComponentsWithStats`` spends about two thirds of its time on the
statistics (a second full pass with a per-pixel update); labelling alone is cheap.  This pass
skips empty runs of four labels at a time, and a typical foreground mask is mostly empty:
measured on the busy 640x360 traffic video, labels plus this pass take 0.25 ms against OpenCV's
0.53 ms, and 2.1 ms against 4.9 ms at 1920x1080 (one thread each).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_BIG = 1 << 30


def words_of(labels: np.ndarray) -> np.ndarray:
    """``labels`` (uint16, C-contiguous) seen as rows of uint64 words of four labels each; no
    columns when the row length is not a multiple of four (every label is then read singly)."""
    h, w = labels.shape
    if w % 4 or not labels.flags.c_contiguous:
        return np.zeros((h, 0), np.uint64)
    return labels.view(np.uint64)


@njit(cache=True, inline="always")
def _add(st, lab, i, j):
    if j < st[lab, 0]:
        st[lab, 0] = j
    if j > st[lab, 2]:
        st[lab, 2] = j
    if i < st[lab, 1]:
        st[lab, 1] = i
    st[lab, 3] = i
    st[lab, 4] += 1


@njit(cache=True, nogil=True)
def blob_stats(labels, words, n, st):
    """``st`` (int32 (n, 5)) = OpenCV's stats [left, top, width, height, area] of labels
    1 .. n-1 of ``labels`` (uint16 (H, W)); ``words`` is :func:`words_of` (labels).  Row 0
    (the background) is left as [2**30, 2**30, 0, 0, 0]."""
    h, w = labels.shape
    for k in range(n):
        st[k, 0] = _BIG
        st[k, 1] = _BIG
        st[k, 2] = -1
        st[k, 3] = -1
        st[k, 4] = 0
    nw = words.shape[1]
    for i in range(h):
        for q in range(nw):
            if words[i, q] == 0:
                continue
            for j in range(4 * q, 4 * q + 4):
                lab = labels[i, j]
                if lab != 0:
                    _add(st, lab, i, j)
        for j in range(4 * nw, w):
            lab = labels[i, j]
            if lab != 0:
                _add(st, lab, i, j)
    for k in range(n):
        st[k, 2] = st[k, 2] - st[k, 0] + 1
        st[k, 3] = st[k, 3] - st[k, 1] + 1
    st[0, 2] = 0
    st[0, 3] = 0


def blob_stats_numpy(labels, words, n, st):
    """:func:`blob_stats` in NumPy (the same numbers)."""
    ys, xs = np.nonzero(labels)
    lab = labels[ys, xs].astype(np.intp)
    left = np.full(n, _BIG, np.int64)
    top = np.full(n, _BIG, np.int64)
    right = np.full(n, -1, np.int64)
    bottom = np.full(n, -1, np.int64)
    np.minimum.at(left, lab, xs)
    np.maximum.at(right, lab, xs)
    np.minimum.at(top, lab, ys)
    np.maximum.at(bottom, lab, ys)
    st[:, 0] = left
    st[:, 1] = top
    st[:, 2] = right - left + 1
    st[:, 3] = bottom - top + 1
    st[:, 4] = np.bincount(lab, minlength=n)[:n]
    st[0, 2] = 0
    st[0, 3] = 0


@njit(cache=True, nogil=True)
def drop_small(m, labels, st, n, min_area):
    """Erase from the mask ``m`` the blobs 1 .. n-1 of ``labels`` whose area (``st``, from
    :func:`blob_stats`) is below ``min_area``, and move the stats of the others, in label
    order, to the first rows of ``st``; returns (how many kept, their total area).

    A few small blobs are erased inside their boxes; past 64, in one pass over the labels.
    One call without the GIL: the same steps as NumPy calls held it for about half of the
    post-processing stage's time, against the model and reader threads."""
    n_small = 0
    for k in range(1, n):
        n_small += st[k, 4] < min_area
    if n_small > 64:
        small = np.zeros(n, np.bool_)
        for k in range(1, n):
            small[k] = st[k, 4] < min_area
        for i in range(labels.shape[0]):
            for j in range(labels.shape[1]):
                if small[labels[i, j]]:
                    m[i, j] = 0
    kept = 0
    area = 0
    for k in range(1, n):
        if st[k, 4] < min_area:
            if n_small <= 64:
                x0, y0 = st[k, 0], st[k, 1]
                for i in range(y0, y0 + st[k, 3]):
                    for j in range(x0, x0 + st[k, 2]):
                        if labels[i, j] == k:
                            m[i, j] = 0
            continue
        area += st[k, 4]
        for c in range(5):
            st[kept, c] = st[k, c]
        kept += 1
    return kept, area


def drop_small_numpy(m, labels, st, n, min_area):
    """:func:`drop_small` in NumPy (the same result)."""
    areas = st[1:n, 4]
    small = np.flatnonzero(areas < min_area) + 1
    if len(small):
        m[np.isin(labels, small)] = 0
    keep = st[1:n][areas >= min_area]
    st[:len(keep)] = keep
    return len(keep), int(keep[:, 4].sum())
