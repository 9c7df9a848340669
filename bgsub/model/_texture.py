"""The texture cue: a Numba kernel and its NumPy twin (the same integers, bit for bit).

A mixture learns the colours a pixel takes; where leaves move, it learns the leaves, and
their motion no longer shows.  The pattern around the pixel still does: LBSP-like
patterns (St-Charles and Bilodeau's local binary similarity patterns) compare the 8
neighbours at distance 2 with the centre.  Bit k of a pixel's pattern says whether
neighbour k is farther than ``t = max(R, r c)`` from ``c``, the *background's* centre value
(gray, from each pixel's rank-0 mean); the frame's pattern and the background's are taken
against that same centre (LBSP's inter-pattern), so a pixel whose pattern differs from the
background's in at least ``bits`` of the 8 has texture the background has not.  Such
pixels, opened 3x3 (a hit is kept only where a whole 3x3 block hits), are flagged in the
model's per-pixel decisions with ``flag`` (ORed in), which the vote turns into foreground
whatever its count (:func:`bgsub.model._vote.vote_mask`).

Gray values are integers: a colour frame's are OpenCV's; the background's are
``(29 B + 150 G + 77 R + 128) >> 8`` of its rank-0 means, each first rounded to an integer;
``t`` is ``max(R, (c * rq) >> 8)`` with ``rq = round(256 r)``.  The frame is the one the
mixture saw (after the gain compensation), in the model's coordinates, so a change of the light
or a shaken camera does not change the patterns.  The background's gray plane is made again a
share of its rows a frame (the model's ``_TEXTURE_EVERY``); the frame's in full.  Cost at
640x480 colour on the AMD EPYC test host, two threads: 0.21 ms a frame (gray planes 0.03,
patterns 0.11, opening 0.06), 0.35 ms with OpenCV's gray conversion and the call.
"""

from __future__ import annotations

import cv2
import numpy as np
from numba import njit, prange

from bgsub.model._layout import MEAN

OFFSETS = ((0, 0), (0, 2), (0, 4), (2, 0), (2, 4), (4, 0), (4, 2), (4, 4))  # in the padded planes


def gray_of(frame, out=None):
    """The frame (uint8 (H, W, C)) in gray as :func:`texture_flags` takes it: a view of a gray
    frame, OpenCV's conversion of a colour one (into ``out``, uint8 (H, W), when given)."""
    h, w, c = frame.shape
    if c == 1:
        return frame.reshape(h, w)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY, dst=out)


def scratch(shape: tuple[int, int]):
    """(frame, background, cue, eroded, high) for :func:`texture_flags` on frames of
    ``shape``: the two gray planes padded by 2 on every side, and three planes of ``shape``."""
    h, w = shape
    return (np.empty((h + 4, w + 4), np.uint8), np.empty((h + 4, w + 4), np.uint8),
            np.empty((h, w), np.uint8), np.empty((h, w), np.uint8), np.empty((h, w), np.uint8))


@njit(cache=True, inline="always")
def _gray(b, g, r):
    """The gray of integer B, G, R values (weights 29, 150, 77 in 1/256ths, rounded)."""
    return np.uint8((np.int32(29) * b + np.int32(150) * g + np.int32(77) * r + 128) >> 8)


@njit(cache=True, inline="always")
def _mean(hot, i, c, j):
    """Rank-0 mean of channel c at (i, j) as an integer 0..255 (rounded)."""
    v = min(max(hot[i, MEAN + c, j], np.float32(0.0)), np.float32(255.0))
    return np.int32(v + np.float32(0.5))


@njit(cache=True, inline="always")
def _replicate_ends(out):
    """A padded row's first and last values copied into the 2 columns each side of them."""
    w = out.shape[0] - 4
    out[0] = out[1] = out[2]
    out[w + 3] = out[w + 2] = out[w + 1]


@njit(cache=True, inline="always")
def _pad_row(row, out):
    """``row`` into out[2:-2], its ends replicated into the 2 columns each side."""
    w = row.shape[0]
    for j in range(w):
        out[j + 2] = row[j]
    _replicate_ends(out)


@njit(cache=True, inline="always")
def _background_row(hot, s, out):
    """The background's gray of row ``s`` into out[2:-2], its ends replicated."""
    w = hot.shape[2]
    if hot.shape[1] == MEAN + 1:
        for j in range(w):
            out[j + 2] = np.uint8(_mean(hot, s, 0, j))
    else:
        for j in range(w):
            out[j + 2] = _gray(_mean(hot, s, 0, j), _mean(hot, s, 1, j), _mean(hot, s, 2, j))
    _replicate_ends(out)


@njit(cache=True, inline="always")
def _hit(x, y, lo, hi):
    """1 where exactly one of x and y is outside [lo, hi]."""
    return np.uint8(((x < lo) | (x > hi)) ^ ((y < lo) | (y > hi)))


@njit(cache=True, inline="always")
def _cue_row(F, B, i, lo, hi, out, R, rq, bits):
    """out[j] = 1 where the patterns at (i, j) differ in at least ``bits`` bits.  All in 8 and
    16 bits, so that the loops run in SIMD lanes (0.17 against 0.63 ms for 360 rows of 640
    with the same rule in 64-bit integers, on one core)."""
    w = out.shape[0]
    bm = B[i + 2]
    for j in range(w):
        c = np.uint16(bm[j + 2])
        t = max(np.uint16(np.uint16(c * rq) >> np.uint16(8)), R)
        lo[j] = np.uint8(c - t) if c > t else np.uint8(0)
        hi[j] = np.uint8(min(np.uint16(c + t), np.uint16(255)))
    fa, fm, fb = F[i], F[i + 2], F[i + 4]
    ba, bb = B[i], B[i + 4]
    for j in range(w):
        lj = lo[j]
        hj = hi[j]
        n = _hit(fa[j], ba[j], lj, hj)
        n = np.uint8(n + _hit(fa[j + 2], ba[j + 2], lj, hj))
        n = np.uint8(n + _hit(fa[j + 4], ba[j + 4], lj, hj))
        n = np.uint8(n + _hit(fm[j], bm[j], lj, hj))
        n = np.uint8(n + _hit(fm[j + 4], bm[j + 4], lj, hj))
        n = np.uint8(n + _hit(fb[j], bb[j], lj, hj))
        n = np.uint8(n + _hit(fb[j + 2], bb[j + 2], lj, hj))
        n = np.uint8(n + _hit(fb[j + 4], bb[j + 4], lj, hj))
        out[j] = np.uint8(n >= bits)


@njit(cache=True, inline="always")
def _box3(a, b, c, col, out, need):
    """out[j] = 1 where at least ``need`` of the 9 values of rows a, b, c (0/1) over columns
    j - 1 .. j + 1 are 1, the edge columns replicated (need 9: the erosion, 1: the dilation;
    an edge row passed twice is replicated too); ``col``: scratch of the row's length."""
    w = out.shape[0]
    for j in range(w):
        col[j] = a[j] + b[j] + c[j]
    n = np.uint8(need)
    last = w - 1
    out[0] = np.uint8(col[0] + col[0] + col[min(1, last)] >= n)
    for j in range(1, last):
        out[j] = np.uint8(col[j - 1] + col[j] + col[j + 1] >= n)
    if last > 0:
        out[last] = np.uint8(col[last - 1] + col[last] + col[last] >= n)


@njit(cache=True, parallel=True, nogil=True)
def _patterns(fr, bg, R, rq, nb, cue, lo, hi):
    for i in prange(cue.shape[0]):
        _cue_row(fr, bg, i, lo[i], hi[i], cue[i], R, rq, nb)


@njit(cache=True, parallel=True, nogil=True)
def _erode(cue, col, ero):
    h = cue.shape[0]
    for i in prange(h):
        _box3(cue[max(i - 1, 0)], cue[i], cue[min(i + 1, h - 1)], col[i], ero[i], 9)


@njit(cache=True, parallel=True, nogil=True)
def _dilate_flag(ero, col, out, flag, raw):
    h, w = ero.shape
    f = np.uint8(flag)
    for i in prange(h):
        _box3(ero[max(i - 1, 0)], ero[i], ero[min(i + 1, h - 1)], col[i], out[i], 1)
        row = raw[i]
        o = out[i]
        for j in range(w):
            row[j] |= np.uint8(f * o[j])


@njit(cache=True, parallel=True, nogil=True)
def _frame_plane(gray, fr):
    h = gray.shape[0]
    for i in prange(h + 4):
        _pad_row(gray[min(max(i - 2, 0), h - 1)], fr[i])


@njit(cache=True, parallel=True, nogil=True)
def texture_background(hot, every, phase, bg):
    """The model's share of :func:`texture_flags` when the rest is left to another thread
    (:func:`texture_cue`): the background's padded gray plane ``bg``, its rows made again as
    there (``every``, ``phase``), the others kept."""
    h = hot.shape[0]
    for i in prange(h + 4):
        s = min(max(i - 2, 0), h - 1)
        if every <= 1 or s % every == phase:
            _background_row(hot, s, bg[i])


@njit(cache=True, nogil=True)
def texture_cue(gray, bg, bits, r_min, r_rel, flag, fr, cue, ero, high, raw):
    """The rest of :func:`texture_flags`, from a background plane ``bg`` that
    :func:`texture_background` made: raw |= flag where the texture of ``gray`` is not the
    background's.  It reads nothing of the model, so it may run on another thread while the
    model learns the next frame (``fr``, ``cue``, ``ero``, ``high``: that thread's scratch of
    :func:`scratch`)."""
    _frame_plane(gray, fr)
    # ero and high hold each row's bounds until the erosion; high is the min/max scratch
    _patterns(fr, bg, np.uint16(r_min), np.uint16(r_rel), np.uint8(bits), cue, ero, high)
    _erode(cue, high, ero)
    _dilate_flag(ero, high, cue, flag, raw)


@njit(cache=True, nogil=True)
def texture_flags(gray, hot, bits, r_min, r_rel, flag, every, phase, fr, bg, cue, ero, high,
                  raw):
    """raw |= flag where the frame's texture is not the background's (see the module).

    gray: uint8 (H, W), the frame as the model saw it in gray (:func:`gray_of`); hot: the
    model's rank-0 records; bits: 1..8; r_min, r_rel: R and rq = round(256 r); flag: the value
    ORed in; every, phase: the rows of the background's plane ``bg`` made again this frame (i %
    every == phase; all when every <= 1), the others kept from earlier frames; fr, bg, cue, ero,
    high: scratch of :func:`scratch`.  Its two halves, :func:`texture_background` then
    :func:`texture_cue`: five passes over the rows, each on Numba's threads and each a kernel
    of its own, so that a pass starts only once the rows it reads are written (Numba may fuse
    the parallel loops of one kernel): the background's plane, the frame's, the patterns, the
    erosion, the dilation with the flags."""
    texture_background(hot, every, phase, bg)
    texture_cue(gray, bg, bits, r_min, r_rel, flag, fr, cue, ero, high, raw)


def texture_background_numpy(hot, every, phase, bg):
    """:func:`texture_background` in NumPy (the same rows made, the same integers)."""
    h = hot.shape[0]
    m = np.clip(hot[:, MEAN:, :], 0, 255)
    means = (m + np.float32(0.5)).astype(np.int32)  # (H, C, W), truncated as the kernel
    if means.shape[1] == 1:
        bgr = means[:, 0, :]
    else:
        bgr = (29 * means[:, 0] + 150 * means[:, 1] + 77 * means[:, 2] + 128) >> 8
    src = np.clip(np.arange(h + 4) - 2, 0, h - 1)  # the row each padded row holds
    made = src if every <= 1 else src[src % every == phase]
    rows = np.arange(h + 4) if every <= 1 else np.flatnonzero(src % every == phase)
    bg[rows] = np.pad(bgr[made], ((0, 0), (2, 2)), mode="edge")


def texture_flags_numpy(gray, hot, bits, r_min, r_rel, flag, every, phase, fr, bg, cue, ero,
                        high, raw):
    """:func:`texture_flags` in NumPy (the same integers, the same rows of ``bg`` made)."""
    texture_background_numpy(hot, every, phase, bg)
    texture_cue_numpy(gray, bg, bits, r_min, r_rel, flag, fr, cue, ero, high, raw)


def texture_cue_numpy(gray, bg, bits, r_min, r_rel, flag, fr, cue, ero, high, raw):
    """:func:`texture_cue` in NumPy."""
    h, w = cue.shape
    fr[...] = np.pad(gray, 2, mode="edge")
    F = fr.astype(np.int32)
    B = bg.astype(np.int32)
    c = B[2:h + 2, 2:w + 2]
    t = np.maximum(int(r_min), (c * int(r_rel)) >> 8)
    lo, hi = np.maximum(c - t, 0), np.minimum(c + t, 255)
    n = np.zeros((h, w), np.int32)
    for dy, dx in OFFSETS:
        x, y = F[dy:dy + h, dx:dx + w], B[dy:dy + h, dx:dx + w]
        n += ((x < lo) | (x > hi)) ^ ((y < lo) | (y > hi))
    hits = n >= bits

    def pad3(a, fill):
        return np.pad(a, 1, mode="constant", constant_values=fill)

    e = pad3(hits, True)
    ero_ = np.ones((h, w), bool)
    for dy in range(3):
        for dx in range(3):
            ero_ &= e[dy:dy + h, dx:dx + w]
    d = pad3(ero_, False)
    opened = np.zeros((h, w), bool)
    for dy in range(3):
        for dx in range(3):
            opened |= d[dy:dy + h, dx:dx + w]
    raw |= opened.astype(np.uint8) * np.uint8(flag)
