"""The blobs of a mask, from its spans: a Numba kernel and its NumPy twin.

A span is a run of foreground along a row.  The 8-connected blobs are found by a union-find
over the spans, row pair by row pair (:func:`span_blobs`), and their boxes and areas are sums
over the spans (:func:`mask_blobs`): no label image is written or read.  A mask after the vote
is made of wide blobs with few spans (about 320 a frame on the busy 640x360 traffic video), so
this takes 0.075 ms a frame there against 0.24 ms for OpenCV's 16-bit labelling plus a
statistics pass over its labels (one thread each).  The ghost rule
(:func:`bgsub.model._kernels.ghost_candidates`) lists its candidates' spans and finds their
blobs the same way.
"""

from __future__ import annotations

import numpy as np
from numba import njit


def scratch(shape: tuple[int, int]):
    """(spans, blob, edge, st) for :func:`mask_blobs` on masks of ``shape``, with room for the
    most spans a row can hold, every other pixel; the arrays are not filled, so that only the
    pages the spans reach are ever touched."""
    h, w = shape
    most = h * ((w + 1) // 2)
    return (np.empty((3, most), np.int32), np.empty(most, np.int32),
            np.zeros(8 * (w // 8 + 1), np.uint8), np.empty((most + 1, 5), np.int32))


@njit(cache=True, inline="always")
def row_spans(row, i, n, spans, edge):
    """The spans of the nonzero values of ``row`` (row ``i`` of an image) into ``spans``
    (int32 (3, m): row, first column, end column) from entry ``n`` on, in order; returns the
    entry after the last.  ``edge``: uint8 scratch of 8 * (len(row) // 8 + 1) zeros, of which
    the first len(row) + 1 are overwritten.  The columns where a span starts or ends are
    marked there without a branch; then only its 8-byte words that hold a mark are looked at
    (blobs are wide: at 1920x1080 on the bridge video 0.67 ms against 1.0 ms for a scan pixel
    by pixel)."""
    width = row.shape[0]
    z = np.uint8(0)
    words = edge.view(np.uint64)
    edge[0] = row[0] != z
    for j in range(1, width):
        edge[j] = (row[j] != z) ^ (row[j - 1] != z)
    edge[width] = row[width - 1] != z
    inside = False
    for w in range(width // 8 + 1):
        if words[w] == 0:
            continue
        for j in range(8 * w, min(8 * w + 8, width + 1)):
            if edge[j]:
                if inside:
                    spans[2, n] = j
                    n += 1
                else:
                    spans[0, n] = i
                    spans[1, n] = j
                inside = not inside
    return n


@njit(cache=True, inline="always")
def _root(parent, s):
    """The root of span ``s`` in ``parent`` (union-find; halves the path as it goes)."""
    while parent[s] != s:
        parent[s] = parent[parent[s]]
        s = parent[s]
    return s


@njit(cache=True, nogil=True)
def span_blobs(spans, n_spans, blob):
    """The 8-connected blobs of the pixels listed as ``n_spans`` spans in ``spans`` (in raster
    order, :func:`row_spans`): ``blob[s]`` = 1, 2, ... per blob, numbered in the order of their
    first spans (the raster order of their first pixels); returns the number of blobs + 1.
    Spans of consecutive rows that overlap or touch at a corner join one blob (union-find over
    the spans, swept row pair by row pair)."""
    parent = np.arange(n_spans)
    prev0 = 0  # the previous row's spans: [prev0, prev1)
    prev1 = 0
    s = 0
    while s < n_spans:
        row = spans[0, s]
        cur0 = s
        while s < n_spans and spans[0, s] == row:
            s += 1
        if prev1 > prev0 and spans[0, prev0] == row - 1:
            a = prev0
            b = cur0
            while a < prev1 and b < s:
                if spans[1, a] <= spans[2, b] and spans[1, b] <= spans[2, a]:
                    ra = _root(parent, a)
                    rb = _root(parent, b)
                    if ra < rb:
                        parent[rb] = ra
                    elif rb < ra:
                        parent[ra] = rb
                if spans[2, a] < spans[2, b]:
                    a += 1
                else:
                    b += 1
        prev0 = cur0
        prev1 = s
    n = 1
    for t in range(n_spans):  # roots come before the spans they hold
        r = _root(parent, t)
        if r == t:
            blob[t] = n
            n += 1
        else:
            blob[t] = blob[r]
    return n


@njit(cache=True, nogil=True)
def mask_blobs(m, min_area, spans, blob, edge, st):
    """The 8-connected blobs of the nonzero pixels of ``m`` (uint8 (H, W)): those of
    ``min_area`` pixels or more have [left, top, width, height, area] (OpenCV's statistics, in
    its order) written to the first rows of ``st``, in the raster order of their first pixels;
    the others are erased from ``m`` (set to 0).  Returns (how many kept, their total area).
    ``spans``, ``blob``, ``edge``, ``st``: :func:`scratch` (m.shape).  One call without the
    GIL."""
    height, width = m.shape
    n = 0
    for i in range(height):
        n = row_spans(m[i], i, n, spans, edge)
    n_labels = span_blobs(spans, n, blob)
    for k in range(n_labels):
        st[k, 0] = width
        st[k, 1] = -1
        st[k, 2] = 0
        st[k, 3] = 0
        st[k, 4] = 0
    for s in range(n):  # in raster order: a blob's first span gives its top, its last the bottom
        lab = blob[s]
        st[lab, 0] = min(st[lab, 0], spans[1, s])
        st[lab, 2] = max(st[lab, 2], spans[2, s])
        if st[lab, 1] < 0:
            st[lab, 1] = spans[0, s]
        st[lab, 3] = spans[0, s]
        st[lab, 4] += spans[2, s] - spans[1, s]
    for s in range(n):
        if st[blob[s], 4] < min_area:
            m[spans[0, s], spans[1, s]:spans[2, s]] = 0
    kept = 0
    area = 0
    for k in range(1, n_labels):
        if st[k, 4] < min_area:
            continue
        area += st[k, 4]
        left = st[k, 0]
        top = st[k, 1]
        st[kept, 0] = left
        st[kept, 1] = top
        st[kept, 2] = st[k, 2] - left
        st[kept, 3] = st[k, 3] - top + 1
        st[kept, 4] = st[k, 4]
        kept += 1
    return kept, area


def mask_blobs_numpy(m, min_area, spans, blob, edge, st):
    """:func:`mask_blobs` by OpenCV's labelling (the same result): its labels put in the
    raster order of their first pixels, which are the first pixels of spans."""
    import cv2

    n, labels, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8,
                                                           ltype=cv2.CV_32S)
    on = m != 0
    rows, cols = np.nonzero(on & ~np.pad(on, ((0, 0), (1, 0)))[:, :-1])  # the spans' starts
    first = labels[rows, cols]
    order = first[np.sort(np.unique(first, return_index=True)[1])]
    small = stats[:, cv2.CC_STAT_AREA] < min_area
    small[0] = False
    if small.any():
        m[small[labels]] = 0
    keep = order[~small[order]]
    st[:keep.size] = stats[keep]
    return keep.size, int(stats[keep, cv2.CC_STAT_AREA].sum())
