"""Vectorised NumPy versions of the kernels in :mod:`bgsub.model._kernels`, same arguments, same
state layout, bit-identical results.

They run while the Numba kernels are not yet compiled (a first run, see :mod:`bgsub.model._jit`):
a few frames at a fraction of the kernels' speed instead of a silent wait.  Every operation is
the kernel's float32 operation, in the kernel's order, applied to whole arrays of pixels, so
the output and the state are the same bit for bit whichever implementation ran a frame
(``tests/test_kernel.py`` checks both against ``tests/reference.py``).  This module,
:mod:`bgsub.model._kernels` and :mod:`bgsub.model._layout` are the three that know the state
layout.
"""

from __future__ import annotations

import math

import numpy as np

from bgsub.model._layout import MEAN, RHO_WEIGHT, U, VAR
from bgsub.model._speckle import speckle_clear_numpy

f32 = np.float32


def _records(hot):
    """``hot`` (H, R, W) as a contiguous (H, W, R) copy: one record per pixel, as in ``cold``
    (the functions here work on records, and write the copy back with :func:`_put_back`)."""
    return np.ascontiguousarray(hot.transpose(0, 2, 1))


def _put_back(hot, records):
    hot[...] = records.transpose(0, 2, 1)


def _ranked(records, cold):
    """Per rank k, a (H*W, R) view of every pixel's record of rank k (``records``: the rank-0
    records from :func:`_records`)."""
    n = records.shape[0] * records.shape[1]
    r = records.shape[2]
    return [records.reshape(n, r)] + [cold[k].reshape(n, r) for k in range(cold.shape[0])]


def _greater(ua, va, ub, vb):
    """Key of a > key of b (w/sigma), the kernel's comparison: ua ua vb > ub ub va."""
    return ua * ua * vb > ub * ub * va


def _general(x, P, sel_mask, learn, inc, inv_decay, rho_rule, alpha, thr2, bg_u, u_new, u_total,
             var_init, var_min, var_max, fg, shadow, tau, known_sel):
    """Every rule (the kernel's ``_pixel``) for the n pixels of ``P`` (K, n, R), a gathered copy
    of their records, and their values ``x`` (n, C) float32; returns their mask values and
    updates ``P`` in place.  ``known_sel``: bool (n,), pixels not learned."""
    n_comp, n, _ = P.shape
    n_ch = x.shape[1]
    zero = f32(0.0)
    rows = np.arange(n)
    # --- match ---------------------------------------------------------------------------
    matched = np.full(n, -1, np.int64)
    used = np.zeros(n, np.int64)
    prefix = np.zeros(n, np.float32)
    d2m = np.zeros(n, np.float32)
    active = np.ones(n, bool)
    for k in range(n_comp):
        u = P[k, :, U]
        active &= u > zero
        used[active] = k + 1
        d2 = np.zeros(n, np.float32)
        for c in range(n_ch):
            diff = x[:, c] - P[k, :, MEAN + c]
            d2 = d2 + diff * diff
        hit = active & (d2 < thr2 * P[k, :, VAR])
        matched[hit] = k
        d2m[hit] = d2[hit]
        active &= ~hit
        prefix = np.where(active, prefix + u, prefix)
    # --- classify ------------------------------------------------------------------------
    bg = (matched >= 0) & (prefix <= bg_u)
    out = np.where(bg, np.uint8(0), np.uint8(fg)).astype(np.uint8)
    if shadow:
        cand = ~bg
        is_sh = np.zeros(n, bool)
        pre = np.zeros(n, np.float32)
        for k in range(n_comp):
            u = P[k, :, U]
            cand &= (u > zero) & ~(pre > bg_u)
            num = np.zeros(n, np.float32)
            den = np.zeros(n, np.float32)
            for c in range(n_ch):
                m = P[k, :, MEAN + c]
                num = num + x[:, c] * m
                den = den + m * m
            with np.errstate(divide="ignore", invalid="ignore"):
                a = num / den
            ok = cand & (den > zero)
            ok &= (a <= f32(1.0)) & (a >= tau)
            dist = np.zeros(n, np.float32)
            for c in range(n_ch):
                e = a * P[k, :, MEAN + c] - x[:, c]
                dist = dist + e * e
            with np.errstate(invalid="ignore", over="ignore"):
                ok &= dist < thr2 * P[k, :, VAR] * a * a
            is_sh |= ok
            cand &= ~ok
            pre = pre + u
        out[is_sh] = np.uint8(shadow)
    if not learn:
        return out
    # --- known foreground: undo the decay -------------------------------------------------
    if known_sel is not None and known_sel.any():
        alive = known_sel.copy()
        for k in range(n_comp):
            u = P[k, :, U]
            alive &= u > zero
            P[k, alive, U] = u[alive] * inv_decay
        learning = ~known_sel
    else:
        learning = np.ones(n, bool)
    # --- update the matched component -----------------------------------------------------
    upd = learning & (matched >= 0)
    if upd.any():
        r = rows[upd]
        k = matched[upd]
        xs = x[upd]
        u_old = P[k, r, U]
        var_old = P[k, r, VAR]
        u1 = u_old + inc
        if rho_rule == RHO_WEIGHT:
            rho = inc / u1
        else:
            dm = d2m[upd]
            rho = np.array([f32(min(float(alpha) * (
                math.exp(-0.5 * float(d) / float(v)) * math.pow(2.0 * math.pi * float(v),
                                                               -0.5 * n_ch)), 1.0))
                for d, v in zip(dm, var_old)], np.float32).reshape(-1)
        for c in range(n_ch):
            m = P[k, r, MEAN + c]
            P[k, r, MEAN + c] = m + rho * (xs[:, c] - m)
        v1 = var_old + rho * (d2m[upd] * f32(1.0 / n_ch) - var_old)
        v1 = np.where(v1 < var_min, var_min, np.where(v1 > var_max, var_max, v1))
        P[k, r, U] = u1
        P[k, r, VAR] = v1
        fell = u1 * u1 * var_old < u_old * u_old * v1
        _bubble_down(P, r[fell], k[fell])
        _bubble_up(P, r[~fell], k[~fell])
    # --- no match: a new component replaces the weakest -------------------------------------
    new = learning & (matched < 0)
    if new.any():
        r = rows[new]
        slot = np.minimum(used[new], n_comp - 1)
        P[slot, r, U] = u_new
        P[slot, r, VAR] = var_init
        for c in range(n_ch):
            P[slot, r, MEAN + c] = x[new, c]
        total = np.zeros(r.size, np.float32)
        for k in range(n_comp):
            total = np.where(k <= slot, total + P[k, r, U], total)
        norm = u_total / total
        for k in range(n_comp):
            inside = k <= slot
            P[k, r[inside], U] = P[k, r[inside], U] * norm[inside]
        _bubble_up(P, r, slot)
    return out


def _swap(P, r, a, b):
    t = P[a, r].copy()
    P[a, r] = P[b, r]
    P[b, r] = t


def _bubble_up(P, r, k):
    """The kernel's ``_bubble_up`` for pixels ``r`` (component at rank ``k``), in lockstep."""
    r = r.copy()
    k = k.copy()
    while r.size:
        go = k > 0
        r, k = r[go], k[go]
        if not r.size:
            break
        go = _greater(P[k, r, U], P[k, r, VAR], P[k - 1, r, U], P[k - 1, r, VAR])
        r, k = r[go], k[go]
        _swap(P, r, k, k - 1)
        k = k - 1


def _bubble_down(P, r, k):
    """The kernel's move down after a fall: while the next component is used and outranks."""
    n_comp = P.shape[0]
    r = r.copy()
    k = k.copy()
    while r.size:
        go = k + 1 < n_comp
        r, k = r[go], k[go]
        if not r.size:
            break
        nu = P[k + 1, r, U]
        go = (nu > f32(0.0)) & _greater(nu, P[k + 1, r, VAR], P[k, r, U], P[k, r, VAR])
        r, k = r[go], k[go]
        _swap(P, r, k, k + 1)
        k = k + 1


def apply_frame(frame, hot, cold, mask, known, use_known, learn, inc, inv_decay, rho_rule, alpha,
                thr2, bg_u, u_new, u_total, var_init, var_min, var_max, fg, shadow, tau, thr2n,
                runs, ghost, rows):
    """:func:`bgsub.model._kernels.apply_frame` in NumPy, bit for bit."""
    records = _records(hot)
    _model(frame, records, cold, mask, known, use_known, learn, inc, inv_decay, rho_rule, alpha,
           thr2, bg_u, u_new, u_total, var_init, var_min, var_max, fg, shadow, tau)
    if learn and ghost > 0:
        _count_runs(mask, fg, runs, ghost, rows)
    if thr2n > f32(0.0):
        _neighbours(frame, records, cold, mask, fg, thr2n, bg_u)
    _put_back(hot, records)


def _count_runs(mask, fg, runs, ghost, rows):
    """The kernel's ``_end_runs`` and ``_count_run`` for every pixel."""
    on = mask == fg
    runs[on] += runs[on] < 65535
    runs[~on] = 0
    rows[(on & (runs > ghost)).any(axis=1)] = 1


def ghost_candidates(mask, known, use_known, runs, ghost, rows, cand, spans):
    """:func:`bgsub.model._kernels.ghost_candidates` in NumPy."""
    flagged = np.flatnonzero(rows)
    on = (runs > ghost) & (rows[:, None] != 0)
    if use_known:
        on &= known == 0
    still = (mask == 0) & (runs == 0)  # background to the ghost rule: the kernel's _still
    zero = np.pad(still, 1, mode="edge")  # a pixel's own value stands in outside the frame
    h, w = mask.shape
    near = np.zeros((h, w), bool)
    for di in range(3):
        for dj in range(3):
            near |= zero[di:di + h, dj:dj + w]
    cand[...] = np.where(on, np.where(near, 3, 1), 0)
    if not flagged.size:
        return -1, -1, 0
    edges = np.diff(np.pad(on.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    starts = np.nonzero(edges == 1)  # both in raster order, one end per start
    ends = np.nonzero(edges == -1)
    n = starts[0].size
    spans[0, :n] = starts[0]
    spans[1, :n] = starts[1]
    spans[2, :n] = ends[1]
    return int(flagged[0]), int(flagged[-1]), n


def _span_pixels(spans, n_spans):
    """(rows, columns) of the pixels of the first ``n_spans`` spans, in order."""
    rows, first, end = (spans[r, :n_spans].astype(np.intp) for r in range(3))
    jj = np.concatenate([np.arange(a, b) for a, b in zip(first, end)] or [np.zeros(0, np.intp)])
    return np.repeat(rows, end - first), jj


def ghost_blobs(spans, n_spans, blob):
    """:func:`bgsub.model._kernels.ghost_blobs` by OpenCV's labelling of the spans' image,
    renumbered in the order of the blobs' first spans."""
    import cv2

    if n_spans == 0:
        return 1
    ii, jj = _span_pixels(spans, n_spans)
    r0 = int(ii.min())
    image = np.zeros((int(ii.max()) - r0 + 1, int(jj.max()) + 1), np.uint8)
    image[ii - r0, jj] = 1
    _, labels = cv2.connectedComponents(image, connectivity=8, ltype=cv2.CV_32S)
    first_label = labels[spans[0, :n_spans] - r0, spans[1, :n_spans]]
    order = np.unique(first_label, return_index=True)[1]  # each blob's first span
    number = np.zeros(labels.max() + 1, np.int32)
    number[first_label[np.sort(order)]] = np.arange(1, order.size + 1)
    blob[:n_spans] = number[first_label]
    return order.size + 1


def ghost_absorb(frame, hot, cold, mask, runs, cand, spans, n_spans, blob, n_labels, thr2, thr2e,
                 u_min, frac, stable, min_px):
    """:func:`bgsub.model._kernels.ghost_absorb` in NumPy, bit for bit (its border found here
    again rather than read from ``cand``)."""
    h, w, n_ch = frame.shape
    ii, jj = _span_pixels(spans, n_spans)
    if not ii.size:
        return 0
    lab = np.repeat(blob[:n_spans], spans[2, :n_spans] - spans[1, :n_spans])
    x = frame[ii, jj].astype(np.float32)
    own = hot[ii, MEAN:, jj]
    border = np.zeros(ii.size, bool)
    evidence = np.zeros(ii.size, bool)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if di == 0 and dj == 0:
                continue
            ni, nj = ii + di, jj + dj
            sel = np.flatnonzero((ni >= 0) & (ni < h) & (nj >= 0) & (nj < w))
            ni, nj = ni[sel], nj[sel]
            bg = (mask[ni, nj] == 0) & (runs[ni, nj] == 0)
            border[sel[bg]] = True
            ok = bg & (hot[ni, U, nj] > f32(0.0))
            var = hot[ni, VAR, nj]
            d2 = np.zeros(sel.size, np.float32)
            e2 = np.zeros(sel.size, np.float32)
            for c in range(n_ch):
                m = hot[ni, MEAN + c, nj]
                diff = x[sel, c] - m
                d2 = d2 + diff * diff
                e = own[sel, c] - m
                e2 = e2 + e * e
            evidence[sel[ok & (d2 < thr2e * var) & ~(e2 < thr2 * var)]] = True
    ks = [_value_component(xv, hot, cold, i, j, thr2) for i, j, xv in zip(ii, jj, x)]
    stable_px = np.array([k > 0 and cold[k - 1, i, j, U] >= u_min
                          for (k, _), i, j in zip(ks, ii, jj)], bool)
    counts = [np.bincount(lab, weights=v, minlength=n_labels) for v in
              (np.ones(ii.size), border, evidence, stable_px)]
    ghost = ((counts[0] >= min_px) & (counts[1] > 0) & (counts[2] >= frac * counts[1])
             & (counts[3] >= stable * counts[0]))
    n = 0
    for idx in np.flatnonzero(ghost[lab]):
        i, j = ii[idx], jj[idx]
        k, used = ks[idx]
        if k < 0:
            continue
        P = np.concatenate([hot[i, :, j][None], cold[:used - 1, i, j]])  # (used, R)
        P[0, U], P[k, U] = P[k, U], P[0, U]
        for r in range(1, used):  # insertion, as the kernel's _bubble_up
            while r > 0 and _greater(P[r, U], P[r, VAR], P[r - 1, U], P[r - 1, VAR]):
                P[[r - 1, r]] = P[[r, r - 1]]
                r -= 1
        hot[i, :, j] = P[0]
        cold[:used - 1, i, j] = P[1:]
        mask[i, j] = 0
        n += 1
    return n


def _value_component(x, hot, cold, i, j, thr2):
    """The kernel's ``_value_component`` for pixel (i, j) with value ``x`` (float32 (C,))."""
    n_comp = cold.shape[0] + 1
    k = -1
    used = 1
    for r in range(1, n_comp):
        rec = cold[r - 1, i, j]
        if rec[U] <= f32(0.0):
            break
        used = r + 1
        if k < 0:
            d2 = f32(0.0)
            for c in range(x.size):
                diff = x[c] - rec[MEAN + c]
                d2 = f32(d2 + f32(diff * diff))
            if d2 < f32(thr2 * rec[VAR]):
                k = r
    return k, used


def _neighbours(frame, records, cold, mask, fg, thr2n, bg_u):
    """The kernel's neighbourhood rule (``_neighbour_row``) on the updated model."""
    h, w, n_ch = frame.shape
    ii, jj = np.nonzero(mask == fg)
    if not ii.size:
        return
    x = frame[ii, jj].astype(np.float32)  # (n, C)
    ranks = [records] + [cold[k] for k in range(cold.shape[0])]
    zero = f32(0.0)
    hit = np.zeros(ii.size, bool)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if di == 0 and dj == 0:
                continue
            ni, nj = ii + di, jj + dj
            inside = (ni >= 0) & (ni < h) & (nj >= 0) & (nj < w)
            sel = np.flatnonzero(inside & ~hit)
            if not sel.size:
                continue
            ni, nj = ni[sel], nj[sel]
            alive = np.ones(sel.size, bool)
            prefix = np.zeros(sel.size, np.float32)
            found = np.zeros(sel.size, bool)
            for rk in ranks:
                rec = rk[ni, nj]  # (n, R)
                u = rec[:, U]
                alive &= ~((u <= zero) | (prefix > bg_u))
                d2 = np.zeros(sel.size, np.float32)
                for c in range(n_ch):
                    diff = x[sel, c] - rec[:, MEAN + c]
                    d2 = d2 + diff * diff
                found |= alive & (d2 < thr2n * rec[:, VAR])
                alive &= ~found
                prefix = np.where(alive, prefix + u, prefix)
            hit[sel[found]] = True
    mask[ii[hit], jj[hit]] = 0


def _model(frame, records, cold, mask, known, use_known, learn, inc, inv_decay, rho_rule, alpha,
           thr2, bg_u, u_new, u_total, var_init, var_min, var_max, fg, shadow, tau):
    h, w, n_ch = frame.shape
    n = h * w
    x = frame.reshape(n, n_ch).astype(np.float32)
    ranks = _ranked(records, cold)
    hot2 = ranks[0]
    m_out = mask.reshape(n)
    zero = f32(0.0)
    kn = known.reshape(n) != 0 if use_known else None
    rest = np.ones(n, bool)
    if learn and rho_rule == RHO_WEIGHT:
        # the kernel's common case: a match at rank 0 that stays first touches records only
        u0 = hot2[:, U]
        v0 = hot2[:, VAR]
        d2 = np.zeros(n, np.float32)
        for c in range(n_ch):
            e = x[:, c] - hot2[:, MEAN + c]
            d2 = d2 + e * e
        u1 = u0 + inc
        with np.errstate(divide="ignore", invalid="ignore"):
            rho = inc / u1
        v1 = v0 + rho * (d2 * f32(1.0 / n_ch) - v0)
        v1 = np.where(v1 < var_min, var_min, np.where(v1 > var_max, var_max, v1))
        stays = ~(u1 * u1 * v0 < u0 * u0 * v1)
        if cold.shape[0] == 0:
            stays[:] = True
        else:
            stays |= ranks[1][:, U] <= zero
        fast = (u0 > zero) & (d2 < thr2 * v0) & stays
        if kn is not None:
            fast &= ~kn
        idx = np.flatnonzero(fast)
        m_out[idx] = 0
        rho_f = rho[idx]
        for c in range(n_ch):
            m = hot2[idx, MEAN + c]
            hot2[idx, MEAN + c] = m + rho_f * (x[idx, c] - m)
        hot2[idx, U] = u1[idx]
        hot2[idx, VAR] = v1[idx]
        rest = ~fast
    idx = np.flatnonzero(rest)
    if not idx.size:
        return
    P = np.stack([rk[idx] for rk in ranks])  # (K, n, R) copy of the other pixels' records
    vals = _general(x[idx], P, None, learn, inc, inv_decay, rho_rule, alpha, thr2, bg_u, u_new,
                    u_total, var_init, var_min, var_max, fg, shadow, tau,
                    kn[idx] if kn is not None else None)
    m_out[idx] = vals
    if learn:
        for k, rk in enumerate(ranks):
            rk[idx] = P[k]


def init_from_frame(frame, hot, cold, var_init, clear_cold):
    if clear_cold:
        cold[...] = f32(0.0)
    hot[:, U, :] = f32(1.0)
    hot[:, VAR, :] = var_init
    hot[:, MEAN:, :] = frame.transpose(0, 2, 1)


def scale_weights(hot, cold, factor):
    hot[:, U, :] *= factor
    cold[:, :, :, U] *= factor


def background_image(hot, cold, background_ratio, out):
    records = _records(hot)
    h, w, r = records.shape
    n_ch = r - 2
    n = h * w
    ranks = _ranked(records, cold)
    total = np.zeros(n)
    alive = np.ones(n, bool)
    for rk in ranks:
        u = rk[:, U]
        alive &= u > 0.0
        total = np.where(alive, total + u.astype(np.float64), total)
    limit = background_ratio * total
    prefix = np.zeros(n)
    wsum = np.zeros(n)
    acc = np.zeros((n_ch, n))
    alive = np.ones(n, bool)
    for rk in ranks:
        u = rk[:, U]
        alive &= ~((u <= 0.0) | (prefix > limit))
        u64 = u.astype(np.float64)
        prefix = np.where(alive, prefix + u64, prefix)
        wsum = np.where(alive, wsum + u64, wsum)
        for c in range(n_ch):
            prod = (u * rk[:, MEAN + c]).astype(np.float64)  # float32 product, as the kernel
            acc[c] = np.where(alive, acc[c] + prod, acc[c])
    o = out.reshape(n, n_ch)
    empty = total <= 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        for c in range(n_ch):
            v = np.minimum(np.maximum(acc[c] / wsum + 0.5, 0.0), 255.0)
            o[:, c] = np.where(empty, 0, np.nan_to_num(v)).astype(np.uint8)


def clear_clipped(frame, hot, mask, level, thr2, fg):
    """:func:`bgsub.model._kernels.clear_clipped` in NumPy."""
    zero = np.float32(0.0)
    lv = np.float32(level)
    clipped = (mask == fg) & (hot[:, U, :] > zero) & np.all(frame == level, axis=2)
    d2 = np.zeros(mask.shape, np.float32)
    for c in range(frame.shape[2]):
        gap = np.maximum(lv - hot[:, MEAN + c, :], zero)
        d2 += gap * gap
    mask[clipped & (d2 < np.float32(thr2) * hot[:, VAR, :])] = 0


def gain_grid(frame, hot, channel, start, step, prev_bg, use_prev):
    """(ratios, selected) on the grid of :func:`bgsub.model._kernels.gain_estimate`, both (grid
    rows, grid columns): every grid pixel's ratio, and which of them are samples."""
    mu = hot[start::step, MEAN + channel, start::step]
    x = frame[start::step, start::step, channel]
    sel = (mu >= f32(16.0)) & (mu <= f32(240.0)) & (x >= 4) & (x <= 251)
    if use_prev:
        sel &= prev_bg
    return x / np.maximum(mu, f32(1.0)), sel


def gain_estimate(frame, hot, channel, start, step, prev_bg, use_prev, ratios):
    """:func:`bgsub.model._kernels.gain_estimate` in NumPy."""
    r, sel = gain_grid(frame, hot, channel, start, step, prev_bg, use_prev)
    r = r[sel]
    ratios[:r.size] = r
    return r.size, (np.float32(np.median(r)) if r.size else f32(0.0))


def grid_background(mask, start, step, out):
    out[...] = mask[start::step, start::step] == 0


def shift_points(hot, channel, mask, radius, step, grad, pts):
    """:func:`bgsub.model._kernels.shift_points` in NumPy."""
    h, _, w = hot.shape
    mu = hot[:, MEAN + channel, :]
    r = radius + 1
    rows, cols = slice(r, h - r, step), slice(r, w - r, step)
    inner = mu[rows, cols]
    left = mu[rows, r - 1:w - r - 1:step]
    up = mu[r - 1:h - r - 1:step, cols]
    ok = (mask[rows, cols] == 0) & ((np.abs(inner - left) > grad) | (np.abs(inner - up) > grad))
    ii, jj = np.nonzero(ok)
    flat = (ii * step + r) * w + jj * step + r
    n_cand, n_max = flat.size, pts.size
    if n_cand > n_max:
        q = np.arange(n_cand)
        flat = flat[(q * n_max) // n_cand != ((q + 1) * n_max) // n_cand]
    pts[:flat.size] = flat
    return flat.size


def shift_estimate(frame, hot, channel, pts, n_pts, ref, seen, prev_dx, prev_dy, radius, tol,
                   enough, gain):
    """:func:`bgsub.model._kernels.shift_estimate` in NumPy."""
    w = hot.shape[2]
    p = pts[:n_pts].astype(np.int64)
    ref[:n_pts] = hot[p // w, MEAN + channel, p % w]
    r = ref[:n_pts]
    x = frame.reshape(-1, frame.shape[2])[:, channel]
    side = 2 * radius + 1
    seen[:] = -1

    def agree(dx, dy):
        k = (dy + radius) * side + dx + radius
        if seen[k] < 0:
            seen[k] = np.count_nonzero(np.abs(x[p + dy * w + dx].astype(np.float32) - r) < tol)
        return int(seen[k])

    at0 = agree(0, 0)
    best, bx, by = -1, 0, 0
    for cx, cy in ((prev_dx, prev_dy), (0, 0)):
        while True:
            nx, ny, nv = cx, cy, agree(cx, cy)
            for a in (-1, 0, 1):
                for b in (-1, 0, 1):
                    qx, qy = cx + a, cy + b
                    if abs(qx) <= radius and abs(qy) <= radius and agree(qx, qy) > nv:
                        nx, ny, nv = qx, qy, agree(qx, qy)
            if (nx, ny) == (cx, cy):
                break
            cx, cy = nx, ny
        if agree(cx, cy) > best:
            best, bx, by = agree(cx, cy), cx, cy
        if best >= enough and best - at0 >= gain:
            break
    return bx, by, best, at0


def _window_sums(fg, radius):
    """The number of 1s of ``fg`` in the (2 radius + 1)^2 window around each pixel, edges
    replicated."""
    h, w = fg.shape
    padded = np.pad(fg, radius, mode="edge")
    c = np.cumsum(np.cumsum(padded, 0), 1)
    c = np.pad(c, ((1, 0), (1, 0)))
    s = 2 * radius + 1
    return c[s:s + h, s:s + w] - c[:h, s:s + w] - c[s:s + h, :w] + c[:h, :w]


def vote_mask(raw, out, radius, need, solid_radius, speckle_radius, bands):
    """:func:`bgsub.model._vote.vote_mask` in NumPy (integer counts, exact; ``bands`` unused)."""
    voters = raw if speckle_radius == 0 else speckle_clear_numpy(raw, np.empty_like(raw),
                                                                  speckle_radius)
    fg = (voters & np.uint8(1)).astype(np.int32)
    keep = (_window_sums(fg, radius) >= need) | (raw >= 4)
    if solid_radius > 0:
        keep |= _window_sums(fg, solid_radius) == (2 * solid_radius + 1) ** 2
    out[...] = np.where(keep, np.uint8(255), np.where(raw == 2, np.uint8(127), np.uint8(0)))
