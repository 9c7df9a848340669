"""Foreground that belongs to no solid block, taken out of the vote: the rows of the opening
that :func:`bgsub.model._vote.vote_mask` casts its vote on, and their NumPy twin.

Before the vote counts a window's foreground, it clears the foreground bit of every pixel that
lies in no (2 radius + 1)^2 block of foreground (a morphological opening of the decisions'
bit 0: an erosion, then a dilation, windows clipped at the borders).  What it clears is
flicker a pixel or two wide: the waving trees of CDnet's ``fall``, whose raw decisions come as
speckles, while a car, a person or a leaf in front of the camera comes as solid blocks.  The
decisions' other bits (a shadow, the texture cue) are the vote's to read from the decisions
themselves.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def _rows(a, lo, i, radius, height, col, use_and):
    """col[j] = bit 0 of a[i' - lo][j], ANDed (``use_and``) or ORed over rows i' = i - radius
    .. i + radius, clipped to the frame's ``height`` (``a`` holds its rows from ``lo`` on)."""
    w = np.uint64(a.shape[1])
    one = np.uint8(1)
    first = np.uint64(max(i - radius, 0) - lo)
    for j in range(w):
        col[j] = a[first, j] & one
    for ii in range(max(i - radius, 0) + 1, min(i + radius, height - 1) + 1):
        row = a[np.uint64(ii - lo)]
        if use_and:
            for j in range(w):
                col[j] &= row[j]
        else:
            for j in range(w):
                col[j] |= row[j] & one


@njit(cache=True, inline="always")
def _clipped(col, j, radius, use_and):
    """col over columns j - radius .. j + radius clipped to the row, ANDed or ORed."""
    width = col.shape[0]
    acc = col[max(j - radius, 0)]
    for jj in range(max(j - radius, 0) + 1, min(j + radius, width - 1) + 1):
        acc = (acc & col[jj]) if use_and else (acc | col[jj])
    return acc


@njit(cache=True, inline="always")
def _along(col, out_row, radius, use_and):
    """out_row[j] = col over columns j - radius .. j + radius (clipped), ANDed (``use_and``)
    or ORed; the inner columns in a loop without bounds, which runs in SIMD lanes."""
    width = col.shape[0]
    inner0, inner1 = min(radius, width), max(width - radius, min(radius, width))
    for j in range(0, inner0):  # the clipped columns at both ends (all of a narrow row)
        out_row[j] = _clipped(col, j, radius, use_and)
    for j in range(inner1, width):
        out_row[j] = _clipped(col, j, radius, use_and)
    if inner1 <= inner0:
        return
    a, b = np.uint64(inner0), np.uint64(inner1)
    r = np.uint64(radius)
    for j in range(a, b):
        out_row[j] = col[j - r]
    for d in range(1, 2 * radius + 1):
        dd = np.uint64(d)
        if use_and:
            for j in range(a, b):
                out_row[j] &= col[j - r + dd]
        else:
            for j in range(a, b):
                out_row[j] |= col[j - r + dd]


@njit(cache=True, inline="always")
def _three(a, b, c, v, out_row, use_and):
    """radius 1 written out: v = rows a, b and c ANDed (``use_and``) or ORed, and out_row[j]
    = v over columns j - 1 .. j + 1 (clipped) the same way; one pass each, in SIMD lanes."""
    width = v.shape[0]
    w = np.uint64(width)
    if use_and:
        for j in range(w):
            v[j] = a[j] & b[j] & c[j]
    else:
        for j in range(w):
            v[j] = a[j] | b[j] | c[j]
    if width == 1:
        out_row[0] = v[0]
        return
    one = np.uint64(1)
    if use_and:
        for j in range(one, w - one):
            out_row[j] = v[j - one] & v[j] & v[j + one]
        out_row[0] = v[0] & v[1]
        out_row[width - 1] = v[width - 2] & v[width - 1]
    else:
        for j in range(one, w - one):
            out_row[j] = v[j - one] | v[j] | v[j + one]
        out_row[0] = v[0] | v[1]
        out_row[width - 1] = v[width - 2] | v[width - 1]


@njit(cache=True, inline="always")
def open_rows(raw, ero, elo, opn, lo, radius, col):
    """opn[r - lo] = row r of ``raw`` (uint8 (H, W) decisions) with bit 0 opened: foreground
    (bit 0 set) where the pixel lies in a (2 radius + 1)^2 window, clipped at the borders,
    whose pixels all have it; for the rows r = lo .. lo + len(opn) - 1.  Only bit 0 of
    ``opn`` is meant (the other bits are those of the window's ANDs and ORs).  ``ero``:
    scratch for the eroded rows elo .. elo + len(ero) - 1, which must cover the rows r -
    radius .. r + radius of every r, clipped (elo = max(lo - radius, 0)); ``col``: scratch of
    one row.  Radius 1, the default's, is written out (:func:`_three`): one pass over a row
    each way, in SIMD lanes."""
    height = raw.shape[0]
    for r in range(elo, elo + ero.shape[0]):
        if radius == 1:
            _three(raw[max(r - 1, 0)], raw[r], raw[min(r + 1, height - 1)], col, ero[r - elo],
                   True)
        else:
            _rows(raw, 0, r, radius, height, col, True)
            _along(col, ero[r - elo], radius, True)
    for r in range(lo, lo + opn.shape[0]):
        if radius == 1:
            _three(ero[max(r - 1, 0) - elo], ero[r - elo], ero[min(r + 1, height - 1) - elo], col,
                   opn[r - lo], False)
        else:
            _rows(ero, elo, r, radius, height, col, False)
            _along(col, opn[r - lo], radius, False)


def speckle_clear_numpy(raw, out, radius):
    """out = ``raw`` with bit 0 cleared where the opening of :func:`open_rows` clears it, the
    other bits kept; in NumPy (the NumPy twin of the vote casts its vote on it)."""
    k = 2 * radius + 1
    h, w = raw.shape

    def window(a, combine):
        p = np.pad(a, radius, mode="edge")  # an edge copy lies in the clipped window anyway
        acc = p[:h, :w].copy()
        for dy in range(k):
            for dx in range(k):
                combine(acc, p[dy:dy + h, dx:dx + w], out=acc)
        return acc

    opened = window(window(raw & np.uint8(1), np.bitwise_and), np.bitwise_or)
    np.bitwise_and(raw, np.uint8(0xFE) | opened, out=out)
    return out
