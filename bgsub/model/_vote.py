"""The spatial vote over the model's decisions: a Numba kernel (its NumPy twin is
:func:`bgsub.model._fallback.vote_mask`).

The model's kernel writes one decision a pixel (0 background, 1 foreground, 2 shadow; 4 added
by the texture cue, :mod:`bgsub.model._texture`); :func:`vote_mask` turns them into the mask:
a pixel is foreground where enough of the window around it is (``smoothing`` and ``vote``),
where a small solid block is (``solid``), or where the texture cue says so, counting only the
foreground of solid blocks when ``speckle`` is on (:mod:`bgsub.model._speckle`).  It reads
the decisions alone, not the model's state.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from bgsub.model._speckle import open_rows

VOTE_BANDS = 16  # row bands of the vote's parallel loop, at most (see vote_mask's bands)


def bands_for(threads):
    """The bands :func:`vote_mask` deals its rows in on ``threads`` Numba threads: two per
    thread, at most VOTE_BANDS (a band's first row counts its window's rows afresh, and with
    the opening each band opens the rows its windows reach beyond it)."""
    return max(1, min(VOTE_BANDS, 2 * threads))


@njit(cache=True, inline="always")
def _levels(span):
    """The doubling levels a window of ``span`` columns needs: sums of 1, 2, 4 ... <= span."""
    k = 1
    while (1 << k) <= span:
        k += 1
    return k


@njit(cache=True, inline="always")
def _column_sums(src, lo, height, pw, i, radius, first):
    """pw[0][j] = the number of pixels with bit 0 set in column j, rows i - radius .. i +
    radius (edges replicated: rows clipped to 0 .. ``height`` - 1), of the rows that ``src``
    holds from row ``lo`` on: counted on a band's ``first`` row, else slid from row i - 1's
    (the row that enters the window added, the row that leaves it taken away).  Unsigned
    indices, which Numba does not wrap-around check, so that the loops vectorise."""
    w = np.uint64(src.shape[1])
    one = np.uint8(1)
    cs = pw[0]
    if first:
        for j in range(w):
            cs[j] = 0
        for d in range(-radius, radius + 1):
            ii = np.uint64(min(max(i + d, 0), height - 1) - lo)
            for j in range(w):
                cs[j] += src[ii, j] & one
    else:
        add = np.uint64(min(i + radius, height - 1) - lo)
        sub = np.uint64(max(i - radius - 1, 0) - lo)
        for j in range(w):
            cs[j] = cs[j] + (src[add, j] & one) - (src[sub, j] & one)


@njit(cache=True, inline="always")
def _window_row(pw, out_row, radius):
    """out_row[j] = the sum of the column sums pw[0] over columns j - radius .. j + radius
    (edges replicated), by doubling: pw[k][j] = the sum of 2^k columns from j, then each
    interior pixel adds the levels of the window's binary digits (11 = 8 + 2 + 1: three
    additions instead of eleven)."""
    width = pw.shape[1]
    span = 2 * radius + 1
    lo = min(radius, width)
    hi = max(width - radius, lo)
    n_in = np.uint64(hi - lo)
    r = np.uint64(radius)
    n_levels = _levels(span)
    for k in range(1, n_levels):
        half = np.uint64(1 << (k - 1))
        n = np.uint64(max(width - (1 << k) + 1, 0))
        for j in range(n):
            pw[k, j] = pw[k - 1, j] + pw[k - 1, j + half]
    first = True
    off = np.uint64(0)
    for b in range(n_levels - 1, -1, -1):
        if span & (1 << b):
            if first:
                for jj in range(n_in):
                    out_row[jj + r] = pw[b, jj]
                first = False
            else:
                for jj in range(n_in):
                    out_row[jj + r] += pw[b, jj + off]
            off += np.uint64(1 << b)
    cs = pw[0]
    for j in range(0, lo):
        acc = 0
        for d in range(-radius, radius + 1):
            acc += cs[min(max(j + d, 0), width - 1)]
        out_row[j] = acc
    for j in range(hi, width):
        acc = 0
        for d in range(-radius, radius + 1):
            acc += cs[min(max(j + d, 0), width - 1)]
        out_row[j] = acc


@njit(cache=True, parallel=True, nogil=True)
def vote_mask(raw, out, radius, need, solid_radius, speckle_radius, bands):
    """out = 255 where at least ``need`` pixels of the (2 radius + 1)^2 window around the pixel
    are foreground (bit 0) in ``raw`` (0 background, 1 foreground, 2 shadow; 4 added: the
    texture cue), or where ``raw`` > 2 (the cue), or, when ``solid_radius`` > 0, where every
    pixel of the (2 solid_radius + 1)^2 window is (a small, solid object survives a wide
    vote), edges replicated; elsewhere 127 where ``raw`` is a shadow, else 0.  With
    ``speckle_radius`` > 0 both windows count only the foreground that lies in a (2
    speckle_radius + 1)^2 block of it (:func:`bgsub.model._speckle.open_rows`).

    Runs on Numba's threads, like the model kernel, so that no second thread pool competes for
    the cores right after it.  The rows are dealt in ``bands`` bands (the caller's: two per
    thread, at most VOTE_BANDS, :func:`bands_for`; the output does not depend on it; read
    inside the kernel, Numba's thread count would keep it out of the cache); down a band the
    column sums slide (:func:`_column_sums`), along a row the window sums double
    (:func:`_window_row`): 0.12 ms a frame at 640x360 against 0.22 when every row summed its
    window's rows and columns afresh (0.87 against 1.52 ms at 1920x1080, one thread).  With the
    opening, each band first opens the rows its windows reach into a scratch of its own (the
    opening fused here rather than a pass of its own over the frame), and a solid window of the
    opening's size is read off the erosion the opening starts from: an opening keeps every such
    window whole and makes none, so the two agree.  The last step of a row computes its labels
    with 0/1 arithmetic: written as nested conditional expressions, the row's labels took 0.52
    ms a frame at 640x360 on the AMD EPYC host (random masks, one thread; 0.15 ms written so,
    the same output).  The texture cue's bit is read as ``r > 2``, a byte comparison: read as a
    shift (``r >> 2``), Numba's integer rules made the loop 64-bit and the vote 0.35 -> 0.60 ms
    at 640x480 (one thread).
    """
    height = raw.shape[0]
    width = raw.shape[1]
    f255 = np.uint8(255)
    f127 = np.uint8(127)
    one = np.uint8(1)
    two = np.uint8(2)
    need8 = np.uint8(min(need, 255))  # at most 15 x 15 = 225 counted
    full = np.uint8((2 * solid_radius + 1) ** 2)
    w = np.uint64(width)
    n_bands = max(1, min(bands, height))
    n_main = _levels(2 * radius + 1)
    n_solid = _levels(2 * solid_radius + 1)
    reach = max(radius, solid_radius)
    eroded_core = speckle_radius > 0 and solid_radius == speckle_radius
    for b in prange(n_bands):
        pw = np.empty((n_main, width), np.uint8)
        ps = np.empty((n_solid + 1, width), np.uint8)  # and the row's solid sums
        solid_row = ps[n_solid]
        i0 = b * height // n_bands
        i1 = (b + 1) * height // n_bands
        if speckle_radius > 0:  # the band's windows count the opened rows lo .. hi - 1
            lo = max(i0 - reach - 1, 0)
            hi = min(i1 + reach, height)
            elo = max(lo - speckle_radius, 0)
            ero = np.empty((min(hi + speckle_radius, height) - elo, width), np.uint8)
            src = np.empty((hi - lo, width), np.uint8)
            open_rows(raw, ero, elo, src, lo, speckle_radius, np.empty(width, np.uint8))
        else:
            lo = elo = 0
            ero = np.empty((0, width), np.uint8)
            src = raw
        for i in range(i0, i1):
            _column_sums(src, lo, height, pw, i, radius, i == i0)
            _window_row(pw, out[i], radius)
            o = out[i]
            r = raw[i]
            if eroded_core:
                e = ero[i - elo]
                for j in range(w):  # 0/1 arithmetic, no branch: the loop runs in SIMD lanes
                    keep = np.uint8(o[j] >= need8) | (e[j] & one) | np.uint8(r[j] > two)
                    o[j] = (keep * f255) | ((np.uint8(r[j] == two) & (keep ^ one)) * f127)
            elif solid_radius > 0:
                _column_sums(src, lo, height, ps, i, solid_radius, i == i0)
                _window_row(ps, solid_row, solid_radius)
                for j in range(w):
                    keep = (np.uint8(o[j] >= need8) | np.uint8(solid_row[j] == full)
                            | np.uint8(r[j] > two))
                    o[j] = (keep * f255) | ((np.uint8(r[j] == two) & (keep ^ one)) * f127)
            else:
                for j in range(w):
                    keep = np.uint8(o[j] >= need8) | np.uint8(r[j] > two)
                    o[j] = (keep * f255) | ((np.uint8(r[j] == two) & (keep ^ one)) * f127)
