"""Numba kernels of the online per-pixel Gaussian mixture.

The state layout (``hot`` and ``cold``, the fields ``U``, ``VAR``, ``MEAN``, scaled weights) is
described in :mod:`bgsub.model._layout`; this module, that one and the NumPy twin
:mod:`bgsub.model._fallback` are the only code that knows it.

All arithmetic is float32 without fast-math, so a plain NumPy implementation of the same rules
performing the same operations in the same order gives bit-identical results (see
``tests/reference.py``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from bgsub.model._blob import row_spans, span_blobs
from bgsub.model._layout import MEAN, RHO_WEIGHT, U, VAR
from bgsub.model._prefetch import prefetch_write

SLICES = 64  # row slices of the model kernel's parallel loop
NB_CHUNK = 32  # columns per chunk of the neighbourhood rule's search for foreground
AHEAD = 8  # listed columns ahead whose lower ranks the second pass asks memory for

# the 8-connected blobs of the ghost rule's candidates, from their spans: a kernel of its own
ghost_blobs = span_blobs


@njit(cache=True, inline="always")
def _get(hot, cold, k, i, j, r):
    if k == 0:
        return hot[i, r, j]
    return cold[k - 1, i, j, r]


@njit(cache=True, inline="always")
def _put(hot, cold, k, i, j, r, v):
    if k == 0:
        hot[i, r, j] = v
    else:
        cold[k - 1, i, j, r] = v


@njit(cache=True, inline="always")
def _key_greater(hot, cold, a, b, i, j):
    """True when component ``a`` has a strictly larger w/sigma than component ``b``."""
    ua = _get(hot, cold, a, i, j, U)
    ub = _get(hot, cold, b, i, j, U)
    return ua * ua * _get(hot, cold, b, i, j, VAR) > ub * ub * _get(hot, cold, a, i, j, VAR)


@njit(cache=True, inline="always")
def _swap1(hot, cold, a, b, i, j, r):
    t = _get(hot, cold, a, i, j, r)
    _put(hot, cold, a, i, j, r, _get(hot, cold, b, i, j, r))
    _put(hot, cold, b, i, j, r, t)


@njit(cache=True, inline="always")
def _swap(hot, cold, a, b, i, j):
    if hot.shape[1] == 5:  # colour written out: a loop of a known count, unrolled
        for r in range(5):
            _swap1(hot, cold, a, b, i, j, r)
    else:
        for r in range(hot.shape[1]):
            _swap1(hot, cold, a, b, i, j, r)


@njit(cache=True, inline="always")
def _bubble_up(hot, cold, k, i, j):
    while k > 0 and _key_greater(hot, cold, k, k - 1, i, j):
        _swap(hot, cold, k, k - 1, i, j)
        k -= 1


@njit(cache=True, inline="always")
def _sink(hot, cold, k, i, j):
    """Move component ``k``, whose key fell, down past the used components that now outrank it."""
    n_comp = cold.shape[0] + 1
    while k + 1 < n_comp and _get(hot, cold, k + 1, i, j, U) > np.float32(0.0) and \
            _key_greater(hot, cold, k + 1, k, i, j):
        _swap(hot, cold, k, k + 1, i, j)
        k += 1


@njit(cache=True, inline="always")
def _dist2(frame, hot, cold, k, i, j, n_ch):
    d2 = np.float32(0.0)
    if n_ch == 3:  # colour written out: a loop of a known count, unrolled
        for c in range(3):
            diff = np.float32(frame[i, j, c]) - _get(hot, cold, k, i, j, MEAN + c)
            d2 += diff * diff
        return d2
    for c in range(n_ch):
        diff = np.float32(frame[i, j, c]) - _get(hot, cold, k, i, j, MEAN + c)
        d2 += diff * diff
    return d2


@njit(cache=True, inline="always")
def _is_shadow(frame, hot, cold, i, j, n_ch, bg_u, thr2, tau):
    """MOG2's test: the pixel is a darker copy of a background component -- brightness ratio
    a = <x, mu> / <mu, mu> in [tau, 1] and colour distortion |x - a mu|^2 < thr2 var a^2."""
    n_comp = cold.shape[0] + 1
    zero = np.float32(0.0)
    prefix = zero
    for k in range(n_comp):
        u = _get(hot, cold, k, i, j, U)
        if u <= zero or prefix > bg_u:
            break
        num = zero
        den = zero
        for c in range(n_ch):
            m = _get(hot, cold, k, i, j, MEAN + c)
            num += np.float32(frame[i, j, c]) * m
            den += m * m
        if den > zero:
            a = num / den
            if a <= np.float32(1.0) and a >= tau:
                dist = zero
                for c in range(n_ch):
                    e = a * _get(hot, cold, k, i, j, MEAN + c) - np.float32(frame[i, j, c])
                    dist += e * e
                if dist < thr2 * _get(hot, cold, k, i, j, VAR) * a * a:
                    return True
        prefix += u
    return False


@njit(cache=True, inline="always")
def _zivkovic_prune(hot, cold, i, j, prune, u_total):
    """Zivkovic's Dirichlet prior: every weight loses ``prune``; those that reach zero are
    dropped (the survivors move up in order); then renormalise and restore the w/sigma order."""
    n_comp = cold.shape[0] + 1
    n_rec = hot.shape[1]
    zero = np.float32(0.0)
    kept = 0
    used = 0
    for k in range(n_comp):
        u = _get(hot, cold, k, i, j, U)
        if u <= zero:
            break
        used = k + 1
        u = u - prune
        if u > zero:
            if kept != k:
                for r in range(n_rec):
                    _put(hot, cold, kept, i, j, r, _get(hot, cold, k, i, j, r))
            _put(hot, cold, kept, i, j, U, u)
            kept += 1
    for k in range(kept, used):  # freed slots: cleared whole
        for r in range(n_rec):
            _put(hot, cold, k, i, j, r, zero)
    total = zero
    for k in range(kept):
        total += _get(hot, cold, k, i, j, U)
    norm = u_total / total
    for k in range(kept):
        _put(hot, cold, k, i, j, U, _get(hot, cold, k, i, j, U) * norm)
    for k in range(1, kept):
        _bubble_up(hot, cold, k, i, j)


@njit(cache=True, inline="always")
def _pixel(frame, hot, cold, mask, known, use_known, learn, inc, inv_decay, rho_rule, alpha,
           thr2, bg_u, u_new, u_total, var_init, var_min, var_max, fg, shadow, tau, i, j,
           k0=0, prefix0=np.float32(0.0)):
    """Every rule for pixel (i, j): match, classify, update, keep the order.  ``k0`` > 0: the
    caller found components 0 .. k0 - 1 used and not matching, their weights summing (in
    order, from zero) to ``prefix0``; the match starts at rank ``k0``."""
    n_comp = cold.shape[0] + 1
    n_ch = hot.shape[1] - 2
    zero = np.float32(0.0)
    inv_c = np.float32(1.0 / n_ch)
    # --- match: the first component by w/sigma within the threshold ---------------
    matched = -1
    used = k0
    prefix = prefix0
    d2m = zero
    for k in range(k0, n_comp):
        u = _get(hot, cold, k, i, j, U)
        if u <= zero:
            break
        used = k + 1
        d2 = _dist2(frame, hot, cold, k, i, j, n_ch)
        if d2 < thr2 * _get(hot, cold, k, i, j, VAR):
            matched = k
            d2m = d2
            break
        prefix += u
    # --- classify: background when the match lies within the first B components ---
    if matched >= 0 and prefix <= bg_u:
        mask[i, j] = np.uint8(0)
    elif shadow and _is_shadow(frame, hot, cold, i, j, n_ch, bg_u, thr2, tau):
        mask[i, j] = shadow
    else:
        mask[i, j] = fg
    if not learn:
        return
    if use_known and known[i, j] != 0:
        # not learned: undo this frame's decay so that the true weights stay put
        for k in range(n_comp):
            u = _get(hot, cold, k, i, j, U)
            if u <= zero:
                break
            _put(hot, cold, k, i, j, U, u * inv_decay)
        return
    if matched >= 0:
        # --- update the matched component -------------------------------------------
        k = matched
        u_old = _get(hot, cold, k, i, j, U)
        var_old = _get(hot, cold, k, i, j, VAR)
        u1 = u_old + inc
        if rho_rule == RHO_WEIGHT:
            rho = inc / u1
        else:
            dens = math.exp(-0.5 * float(d2m) / float(var_old)) * math.pow(
                2.0 * math.pi * float(var_old), -0.5 * n_ch)
            rho = np.float32(min(float(alpha) * dens, 1.0))
        if n_ch == 3:  # colour written out: a loop of a known count, unrolled
            for c in range(3):
                m = _get(hot, cold, k, i, j, MEAN + c)
                _put(hot, cold, k, i, j, MEAN + c, m + rho * (np.float32(frame[i, j, c]) - m))
        else:
            for c in range(n_ch):
                m = _get(hot, cold, k, i, j, MEAN + c)
                _put(hot, cold, k, i, j, MEAN + c, m + rho * (np.float32(frame[i, j, c]) - m))
        v1 = var_old + rho * (d2m * inv_c - var_old)
        if v1 < var_min:
            v1 = var_min
        elif v1 > var_max:
            v1 = var_max
        _put(hot, cold, k, i, j, U, u1)
        _put(hot, cold, k, i, j, VAR, v1)
        # --- keep the order: only the matched component's key changed -------------
        if u1 * u1 * var_old < u_old * u_old * v1:
            _sink(hot, cold, k, i, j)  # its key fell: it may move down
        else:
            _bubble_up(hot, cold, k, i, j)
    else:
        # --- no match: a new component replaces the weakest (or fills a free slot) ----
        slot = used if used < n_comp else n_comp - 1
        _put(hot, cold, slot, i, j, U, u_new)
        _put(hot, cold, slot, i, j, VAR, var_init)
        if n_ch == 3:  # colour written out: a loop of a known count, unrolled
            for c in range(3):
                _put(hot, cold, slot, i, j, MEAN + c, np.float32(frame[i, j, c]))
        else:
            for c in range(n_ch):
                _put(hot, cold, slot, i, j, MEAN + c, np.float32(frame[i, j, c]))
        total = zero
        for k in range(slot + 1):
            total += _get(hot, cold, k, i, j, U)
        norm = u_total / total
        for k in range(slot + 1):
            _put(hot, cold, k, i, j, U, _get(hot, cold, k, i, j, U) * norm)
        _bubble_up(hot, cold, slot, i, j)


@njit(cache=True, inline="always")
def _match_rank1(frame, hot, cold, mask, i, j, n_ch, u0, v0, thr2, bg_u, inc, inv_c, var_min,
                 var_max, fg, shadow, tau):
    """The rules of :func:`_pixel` for a pixel that does not match rank 0 and does match rank 1,
    written out.  Returns 0 when done; having written nothing, 1 when rank 1 matches but this
    does not apply (the matched key fell and a rank-2 component exists, or a foreground pixel
    needs the shadow test), 2 when rank 1 does not match.

    The matched component's update (u + inc, rho = inc / u, the clamped variance) is written
    out here, in :func:`_pixel` and in the rank-0 path rather than shared through a helper
    returning a tuple: the helper version measured 4-5% slower at 1920x1080 (code generation
    of the whole row loop), and the NumPy reference test pins all three to the same rules."""
    zero = np.float32(0.0)
    u1 = cold[0, i, j, U]
    v1 = cold[0, i, j, VAR]
    d2 = zero
    if n_ch == 3:  # colour written out: a loop of a known count, unrolled
        for c in range(3):
            diff = np.float32(frame[i, j, c]) - cold[0, i, j, MEAN + c]
            d2 += diff * diff
    else:
        for c in range(n_ch):
            diff = np.float32(frame[i, j, c]) - cold[0, i, j, MEAN + c]
            d2 += diff * diff
    if not d2 < thr2 * v1:
        return 2
    un = u1 + inc
    rho = inc / un
    vn = v1 + rho * (d2 * inv_c - v1)
    if vn < var_min:
        vn = var_min
    elif vn > var_max:
        vn = var_max
    fell = un * un * v1 < u1 * u1 * vn
    if fell and cold.shape[0] > 1 and cold[1, i, j, U] > zero:
        return 1
    if u0 > bg_u and shadow:
        return 1  # foreground that may be a shadow: the general path decides
    mask[i, j] = np.uint8(0) if u0 <= bg_u else fg
    cold[0, i, j, U] = un
    cold[0, i, j, VAR] = vn
    if n_ch == 3:  # colour written out: a loop of a known count, unrolled
        for c in range(3):
            m = cold[0, i, j, MEAN + c]
            cold[0, i, j, MEAN + c] = m + rho * (np.float32(frame[i, j, c]) - m)
    else:
        for c in range(n_ch):
            m = cold[0, i, j, MEAN + c]
            cold[0, i, j, MEAN + c] = m + rho * (np.float32(frame[i, j, c]) - m)
    if not fell and un * un * v0 > u0 * u0 * vn:
        # it now outranks rank 0: swap the two records
        if hot.shape[1] == 5:  # colour written out: a loop of a known count, unrolled
            for r in range(5):
                t = hot[i, r, j]
                hot[i, r, j] = cold[0, i, j, r]
                cold[0, i, j, r] = t
        else:
            for r in range(hot.shape[1]):
                t = hot[i, r, j]
                hot[i, r, j] = cold[0, i, j, r]
                cold[0, i, j, r] = t
    return 0


@njit(cache=True, inline="always", error_model="numpy")
def _rank0_step(u0, v0, d2, kn_j, inc, thr2, inv_c, var_min, var_max, single):
    """One pixel of :func:`_fast_row` given its squared distance ``d2`` to rank 0: (ok, rho,
    u1, v1, code), with ``ok`` whether it matches (then u1, v1 and rho update the component)
    and ``code`` as in :func:`_fast_row`.  Branch-free."""
    zero = np.float32(0.0)
    u1 = u0 + inc
    rho = inc / u1
    v1 = v0 + rho * (d2 * inv_c - v0)
    v1 = var_min if v1 < var_min else v1
    v1 = var_max if v1 > var_max else v1
    ok = (u0 > zero) & (d2 < thr2 * v0) & (kn_j == 0)
    fell = (u1 * u1 * v0 < u0 * u0 * v1) & (not single)
    miss = (u0 > zero) & (kn_j == 0)  # when not ok: no match at rank 0
    code = (np.uint8(2) if fell else np.uint8(0)) if ok else (
        np.uint8(3) if miss else np.uint8(1))
    return ok, rho, u1, v1, code


@njit(cache=True, nogil=True, error_model="numpy")
def _fast_row(x, h, mask, kn, code, slow, inc, thr2, inv_c, var_min, var_max, single):
    """The common case of one row: a pixel that matches its first component is classified
    (background) and learned here.  ``code[j]``: 0 done; 2 done, but the component's key fell
    and a rank 1 may now outrank it (never when ``single``: K = 1); left untouched: 3 a used
    rank 0 that does not match, 1 any other (an empty model, known foreground ``kn[j]``).
    ``slow`` lists the columns whose code is not 0, in order; returns how many.

    x: the frame's row, flat (W C,) uint8; h: the row of ``hot``, (R, W); mask, kn, code, slow:
    (W,).  Branch-free: each pixel computes its update and stores either it or the old values,
    so that the loop runs in SIMD lanes.  Not inlined into :func:`apply_frame` (inlined, the
    loop was not vectorised), and with NumPy's error model (Python's tests every division for
    zero, a branch that stops vectorisation; ``u + inc`` is never zero).  The same float32
    operations, in the same order, as :func:`_pixel`."""
    width = h.shape[1]
    if h.shape[0] == 5:
        for j in range(width):
            u0 = h[U, j]
            v0 = h[VAR, j]
            m0 = h[MEAN, j]
            m1 = h[MEAN + 1, j]
            m2 = h[MEAN + 2, j]
            e0 = np.float32(x[3 * j]) - m0
            e1 = np.float32(x[3 * j + 1]) - m1
            e2 = np.float32(x[3 * j + 2]) - m2
            d2 = e0 * e0
            d2 += e1 * e1
            d2 += e2 * e2
            ok, rho, u1, v1, code[j] = _rank0_step(u0, v0, d2, kn[j], inc, thr2, inv_c,
                                                   var_min, var_max, single)
            mask[j] = np.uint8(0)
            h[U, j] = u1 if ok else u0
            h[VAR, j] = v1 if ok else v0
            h[MEAN, j] = m0 + rho * e0 if ok else m0
            h[MEAN + 1, j] = m1 + rho * e1 if ok else m1
            h[MEAN + 2, j] = m2 + rho * e2 if ok else m2
    else:
        for j in range(width):
            u0 = h[U, j]
            v0 = h[VAR, j]
            m0 = h[MEAN, j]
            e0 = np.float32(x[j]) - m0
            d2 = e0 * e0
            ok, rho, u1, v1, code[j] = _rank0_step(u0, v0, d2, kn[j], inc, thr2, inv_c,
                                                   var_min, var_max, single)
            mask[j] = np.uint8(0)
            h[U, j] = u1 if ok else u0
            h[VAR, j] = v1 if ok else v0
            h[MEAN, j] = m0 + rho * e0 if ok else m0
    n_slow = 0
    for j in range(width):  # the list of the others, without a branch
        slow[n_slow] = j
        n_slow += code[j] != 0
    return n_slow


@njit(cache=True, inline="always", error_model="numpy")
def _neighbour_test(d2, hot, ii, jj, inside, thr2n, bg_u):
    """One neighbour (ii, jj) of a pixel at squared distance ``d2`` from its rank-0 mean: (hit,
    reach), hit when that component is used and d2 < thr2n var, reach when its background
    reaches past rank 0 (0 < u <= bg_u); both False when not ``inside`` (a row beyond the
    frame, whose clamped stand-in ``ii`` must not count).  Branch-free."""
    u = hot[ii, U, jj]
    used = (u > np.float32(0.0)) & inside
    return (d2 < thr2n * hot[ii, VAR, jj]) & used, used & (u <= bg_u)


@njit(cache=True, inline="always", error_model="numpy")
def _d2_1(x0, hot, ii, jj):
    e = x0 - hot[ii, MEAN, jj]
    return e * e


@njit(cache=True, inline="always", error_model="numpy")
def _d2_3(x0, x1, x2, hot, ii, jj):
    e0 = x0 - hot[ii, MEAN, jj]
    e1 = x1 - hot[ii, MEAN + 1, jj]
    e2 = x2 - hot[ii, MEAN + 2, jj]
    d2 = e0 * e0
    d2 += e1 * e1
    d2 += e2 * e2
    return d2


@njit(cache=True, inline="always", error_model="numpy")
def _settle(m, fg, cand, p, a, r):
    """Pixel ``p`` after its 8 rank-0 tests (``a``: one matched; ``r``: a neighbour's
    background reaches past rank 0): a foreground pixel that matched becomes background;
    ``cand[p]`` = 1 for one that did not and has such a neighbour, else 0.  Branch-free."""
    f = m[p] == fg
    m[p] = np.uint8(0) if f & a else m[p]
    cand[p] = np.uint8(1) if f & (not a) & r else np.uint8(0)


@njit(cache=True, inline="always", error_model="numpy")
def _eight_1(x0, hot, i, j, up, dn, above, below, t, bu):
    """(hit, reach) of :func:`_neighbour_test` over the 8 neighbours of pixel (i, j + 1),
    gray; t: thr2n, bu: bg_u."""
    a0, r0 = _neighbour_test(_d2_1(x0, hot, up, j), hot, up, j, above, t, bu)
    a1, r1 = _neighbour_test(_d2_1(x0, hot, up, j + 1), hot, up, j + 1, above, t, bu)
    a2, r2 = _neighbour_test(_d2_1(x0, hot, up, j + 2), hot, up, j + 2, above, t, bu)
    a3, r3 = _neighbour_test(_d2_1(x0, hot, i, j), hot, i, j, True, t, bu)
    a4, r4 = _neighbour_test(_d2_1(x0, hot, i, j + 2), hot, i, j + 2, True, t, bu)
    a5, r5 = _neighbour_test(_d2_1(x0, hot, dn, j), hot, dn, j, below, t, bu)
    a6, r6 = _neighbour_test(_d2_1(x0, hot, dn, j + 1), hot, dn, j + 1, below, t, bu)
    a7, r7 = _neighbour_test(_d2_1(x0, hot, dn, j + 2), hot, dn, j + 2, below, t, bu)
    return (a0 | a1 | a2 | a3 | a4 | a5 | a6 | a7), (r0 | r1 | r2 | r3 | r4 | r5 | r6 | r7)


@njit(cache=True, inline="always", error_model="numpy")
def _eight_3(x0, x1, x2, hot, i, j, up, dn, above, below, t, bu):
    """(hit, reach) of :func:`_neighbour_test` over the 8 neighbours of pixel (i, j + 1),
    colour; t: thr2n, bu: bg_u."""
    a0, r0 = _neighbour_test(_d2_3(x0, x1, x2, hot, up, j), hot, up, j, above, t, bu)
    a1, r1 = _neighbour_test(_d2_3(x0, x1, x2, hot, up, j + 1), hot, up, j + 1, above, t, bu)
    a2, r2 = _neighbour_test(_d2_3(x0, x1, x2, hot, up, j + 2), hot, up, j + 2, above, t, bu)
    a3, r3 = _neighbour_test(_d2_3(x0, x1, x2, hot, i, j), hot, i, j, True, t, bu)
    a4, r4 = _neighbour_test(_d2_3(x0, x1, x2, hot, i, j + 2), hot, i, j + 2, True, t, bu)
    a5, r5 = _neighbour_test(_d2_3(x0, x1, x2, hot, dn, j), hot, dn, j, below, t, bu)
    a6, r6 = _neighbour_test(_d2_3(x0, x1, x2, hot, dn, j + 1), hot, dn, j + 1, below, t, bu)
    a7, r7 = _neighbour_test(_d2_3(x0, x1, x2, hot, dn, j + 2), hot, dn, j + 2, below, t, bu)
    return (a0 | a1 | a2 | a3 | a4 | a5 | a6 | a7), (r0 | r1 | r2 | r3 | r4 | r5 | r6 | r7)


@njit(cache=True, nogil=True, error_model="numpy")
def _neighbour_hits(x, m, fg, hot, i, cand, p0, p1, thr2n, bg_u):
    """The rank-0 part of the neighbourhood rule for the pixels p in [p0, p1) of row ``i``
    (the first and last column excepted: see :func:`_neighbour_edge`) against its 8
    neighbours: a foreground pixel (``m[p] == fg``) that one matches becomes background; one
    that none matches gets ``cand[p]`` = 1 if a neighbour's background reaches past rank 0 (0
    otherwise), for :func:`_neighbour_cold`.

    x: the frame's row, flat (W C,) uint8; m: the mask's row.  Branch-free, over every pixel
    of the span whatever its label, so that the loop runs in SIMD lanes (the caller keeps the
    spans to where there is foreground).  The neighbours' weights and variances are read here,
    in the spans only, rather than digested for every row of the frame beforehand, which cost
    more than the tests (the pass 0.80 -> 0.65 ms a frame at 640x360 gray).  Indexed from a
    non-negative base so that Numba's negative-index wrap-around does not stop the
    vectoriser."""
    up = max(i - 1, 0)  # a row beyond the frame: a clamped stand-in that does not count
    dn = min(i + 1, hot.shape[0] - 1)
    above = i > 0
    below = i + 1 < hot.shape[0]
    p0 = max(p0, 1)
    p1 = min(p1, hot.shape[2] - 1)
    if hot.shape[1] == 5:
        for q in range(p1 - p0):
            p = p0 + q
            a, r = _eight_3(np.float32(x[3 * p]), np.float32(x[3 * p + 1]),
                            np.float32(x[3 * p + 2]), hot, i, p - 1, up, dn, above, below,
                            thr2n, bg_u)
            _settle(m, fg, cand, p, a, r)
    else:
        for q in range(p1 - p0):
            p = p0 + q
            a, r = _eight_1(np.float32(x[p]), hot, i, p - 1, up, dn, above, below, thr2n,
                            bg_u)
            _settle(m, fg, cand, p, a, r)


@njit(cache=True, nogil=True)
def _neighbour_edge(x, m, fg, hot, i, cand, p, thr2n, bg_u):
    """:func:`_neighbour_hits` for the one pixel ``p``, any column (the first and the last)."""
    height = hot.shape[0]
    width = hot.shape[2]
    n_ch = hot.shape[1] - 2
    h = False
    c = False
    for ii in range(max(i - 1, 0), min(i + 2, height)):
        for jj in range(max(p - 1, 0), min(p + 2, width)):
            if ii == i and jj == p:
                continue
            d2 = np.float32(0.0)
            for ch in range(n_ch):
                e = np.float32(x[n_ch * p + ch]) - hot[ii, MEAN + ch, jj]
                d2 += e * e
            b, s = _neighbour_test(d2, hot, ii, jj, True, thr2n, bg_u)
            h |= b
            c |= s
    _settle(m, fg, cand, p, h, c)


@njit(cache=True, nogil=True)
def _foreground_spans(m, fg, spans):
    """The spans of NB_CHUNK-column chunks of the mask row ``m`` that hold a pixel ``fg``, as
    [p0, p1) pairs in ``spans``, adjacent chunks merged; returns how many."""
    width = m.shape[0]
    one = np.uint8(1)
    zero = np.uint8(0)
    a = zero
    for j in range(width):  # most rows of most frames have none: one vectorised test
        a |= one if m[j] == fg else zero
    if a == 0:
        return 0
    n = 0
    prev = False
    for c in range((width + NB_CHUNK - 1) // NB_CHUNK):
        c0 = c * NB_CHUNK
        c1 = min(c0 + NB_CHUNK, width)
        a = zero
        for q in range(c1 - c0):
            a |= one if m[c0 + q] == fg else zero
        if a != 0:
            if prev:
                spans[2 * n - 1] = c1
            else:
                spans[2 * n] = c0
                spans[2 * n + 1] = c1
                n += 1
        prev = a != 0
    return n


@njit(cache=True, nogil=True)
def _neighbour_cold(frame, hot, cold, i, j, thr2n, bg_u):
    """Whether pixel (i, j) matches a background component beyond rank 0 of one of its 8
    neighbours: read in ``cold`` only while the neighbour's prefix weight is within
    ``bg_u``."""
    height = hot.shape[0]
    width = hot.shape[2]
    n_ch = hot.shape[1] - 2
    zero = np.float32(0.0)
    for ii in range(max(i - 1, 0), min(i + 2, height)):
        for jj in range(max(j - 1, 0), min(j + 2, width)):
            if ii == i and jj == j:
                continue
            prefix = hot[ii, U, jj]
            if prefix <= zero:
                continue
            for k in range(cold.shape[0]):
                if prefix > bg_u:
                    break
                u = cold[k, ii, jj, U]
                if u <= zero:
                    break
                d2 = zero
                for c in range(n_ch):
                    diff = np.float32(frame[i, j, c]) - cold[k, ii, jj, MEAN + c]
                    d2 += diff * diff
                if d2 < thr2n * cold[k, ii, jj, VAR]:
                    return True
                prefix += u
    return False


@njit(cache=True, nogil=True)
def _neighbour_row(frame, hot, cold, mask, i, fg, thr2n, bg_u, cand, spans, todo):
    """The neighbourhood rule on row ``i`` of the updated model: a foreground pixel (``fg``)
    whose value matches (d2 < thr2n var) a background component (the first B, as in the
    classification) of one of its 8 neighbours becomes background.  Swaying leaves and waves
    that move a few pixels land on a neighbour's background; an object covers its neighbours'
    background too.  Reads the state, writes only the mask.

    Only the spans of the row that hold foreground are visited (:func:`_foreground_spans`).
    There the neighbours' rank-0 components are tried for every pixel in SIMD lanes
    (:func:`_neighbour_hits`); a foreground pixel that none matches, and that has a
    neighbour whose background reaches past rank 0, then tries that neighbour's other
    components (:func:`_neighbour_cold`).  The same test over the
    same components as trying each neighbour's in turn, in another order.  cand, todo: (W +
    8,) scratch, cand zeroed and 8-byte words; spans: (2 (W / NB_CHUNK + 1),) scratch."""
    width = hot.shape[2]
    m = mask[i]
    x = frame[i].reshape(width * (hot.shape[1] - 2))
    c64 = cand.view(np.uint64)
    for s in range(_foreground_spans(m, fg, spans)):
        p0 = spans[2 * s]
        p1 = spans[2 * s + 1]
        _neighbour_hits(x, m, fg, hot, i, cand, p0, p1, thr2n, bg_u)
        for e in range(2 if width > 1 else 1):  # the first and last column, if in the span
            p = e * (width - 1)
            if p0 <= p < p1:
                _neighbour_edge(x, m, fg, hot, i, cand, p, thr2n, bg_u)
        # the candidates, 8 at a time (p0 is a multiple of NB_CHUNK; cand's bytes from the
        # width on stay 0): most words hold none
        n = 0
        for w in range(p0 // 8, (p1 + 7) // 8):
            if c64[w] != 0:
                for j in range(8 * w, 8 * w + 8):
                    todo[n] = j
                    n += cand[j] != 0
        for t in range(n):
            j = todo[t]
            if _neighbour_cold(frame, hot, cold, i, j, thr2n, bg_u):
                m[j] = np.uint8(0)


@njit(cache=True, nogil=True)
def _neighbour_block(frame, hot, cold, mask, i0, i1, fg, thr2n, bg_u):
    """:func:`_neighbour_row` on rows [i0, i1), with its scratch."""
    width = hot.shape[2]
    cand = np.zeros(width // 8 * 8 + 8, np.uint8)
    spans = np.empty(2 * (width // NB_CHUNK + 1), np.int64)
    todo = np.empty(width + 8, np.int64)
    for i in range(i0, i1):
        _neighbour_row(frame, hot, cold, mask, i, fg, thr2n, bg_u, cand, spans, todo)


@njit(cache=True, inline="always")
def _bitrev(t):
    """``t`` in [0, SLICES) with its bits reversed."""
    r = 0
    bit = 1
    while bit < SLICES:
        r = r * 2 + (1 if t & bit else 0)
        bit *= 2
    return r


@njit(cache=True, parallel=True, nogil=True)
def apply_frame(frame, hot, cold, mask, known, use_known, learn, inc, inv_decay, rho_rule, alpha,
                thr2, bg_u, u_new, u_total, var_init, var_min, var_max, fg, shadow, tau, thr2n,
                runs, ghost, rows):
    """Classify one frame and update the mixture in place.

    frame: uint8 (H, W, C); hot, cold: the state (see :func:`views`); mask: uint8 (H, W) output;
    known: uint8 (H, W), nonzero = known foreground (classified, not learned), read only when
    ``use_known``.  The scalars are those of :class:`FrameParams`, plus the variance bounds;
    ``fg``: the value written for foreground (uint8 255, or 1 for a mask to be voted on);
    ``shadow``: the value written for a shadow (127, or 2 before a vote; 0 = no shadow test);
    ``tau``: the lowest brightness ratio that counts as a shadow; ``thr2n`` > 0: then the
    neighbourhood rule (:func:`_neighbour_row`) runs over the updated model.  ``ghost`` > 0
    (and ``learn``): ``runs`` (uint16 (H, W)) counts each pixel's frames labelled ``fg`` in a
    row (:func:`_count_runs`, once the row is classified) and ``rows[i]`` (uint8 (H,)) is set
    where a run has passed ``ghost`` frames, for :func:`ghost_candidates`.

    Each row takes two passes.  The first (:func:`_fast_row`) does the common case -- learning,
    the pixel matches its first component -- in SIMD lanes, touching ``hot`` only, and marks
    the other columns.  The second visits those: a match at
    rank 1 (:func:`_match_rank1`), else :func:`_pixel`, which implements all the rules (and
    gives the same result for the common case).  It asks memory for the lower ranks of the
    column AHEAD places down its list while it works on this one (:mod:`bgsub.model._prefetch`).
    """
    height = hot.shape[0]
    width = hot.shape[2]
    n_ch = hot.shape[1] - 2
    inv_c = np.float32(1.0 / n_ch)
    zero = np.float32(0.0)
    fast = learn and rho_rule == RHO_WEIGHT
    single = cold.shape[0] == 0
    count = learn and ghost > 0
    # rows dealt to SLICES interleaved slices (bands of SLICES / n_threads rows per thread):
    # moving objects, the expensive pixels, come in bands, and halves would load one thread
    for t in prange(SLICES):
        code = np.ones(width, np.uint8)  # what the second pass does: see _fast_row
        slow = np.arange(width)  # the columns for the second pass
        n_slow = width
        no_known = np.zeros(width, np.uint8)
        for i in range(t, height, SLICES):
            if fast:
                kn = known[i] if use_known else no_known
                n_slow = _fast_row(frame[i].reshape(width * n_ch), hot[i], mask[i], kn, code,
                                   slow, inc, thr2, inv_c, var_min, var_max, single)
            for s in range(n_slow):
                j = slow[s]
                if not single and s + AHEAD < n_slow:  # the lower ranks, AHEAD columns on
                    prefetch_write(cold, (0, i, slow[s + AHEAD], 0))
                c = code[j]
                if c == 2:
                    _sink(hot, cold, 0, i, j)
                    continue
                k0 = 0
                prefix0 = zero
                if c == 3 and not single and cold[0, i, j, U] > zero:
                    # second most common: no match at rank 0, maybe one at rank 1
                    u0 = hot[i, U, j]
                    r1 = _match_rank1(frame, hot, cold, mask, i, j, n_ch, u0, hot[i, VAR, j],
                                      thr2, bg_u, inc, inv_c, var_min, var_max, fg, shadow, tau)
                    if r1 == 0:
                        continue
                    if r1 == 2:  # neither rank 0 nor rank 1 matches: start at rank 2
                        k0 = 2
                        prefix0 = (zero + u0) + cold[0, i, j, U]
                _pixel(frame, hot, cold, mask, known, use_known, learn, inc, inv_decay, rho_rule,
                       alpha, thr2, bg_u, u_new, u_total, var_init, var_min, var_max, fg, shadow,
                       tau, i, j, k0, prefix0)
            if count and _count_runs(mask[i], fg, runs[i]) > ghost:
                rows[i] = np.uint8(1)
    if thr2n > zero:
        # a second parallel loop: the neighbours' models must all be updated first; blocks
        # of rows in bit-reversed order, so that each thread has blocks all over the frame and
        # a row's neighbours are still in cache from the row before
        for t in prange(SLICES):
            b = _bitrev(t)
            _neighbour_block(frame, hot, cold, mask, b * height // SLICES,
                             (b + 1) * height // SLICES, fg, thr2n, bg_u)


@njit(cache=True, parallel=True, nogil=True)
def apply_frame_zivkovic(frame, hot, cold, mask, known, use_known, learn, inc, inv_decay,
                         rho_rule, alpha, thr2, bg_u, u_new, u_total, var_init, var_min,
                         var_max, fg, shadow, tau, thr2n, runs, ghost, rows, prune):
    """:func:`apply_frame` with Zivkovic's prior: after its update, every weight of a learning
    pixel loses ``prune`` (alpha c_T in scaled units) and exhausted components are dropped.
    A kernel of its own, so that the default kernel's loop stays small."""
    height = hot.shape[0]
    width = hot.shape[2]
    for i in prange(height):
        for j in range(width):
            _pixel(frame, hot, cold, mask, known, use_known, learn, inc, inv_decay, rho_rule,
                   alpha, thr2, bg_u, u_new, u_total, var_init, var_min, var_max, fg, shadow,
                   tau, i, j)
            if learn and not (use_known and known[i, j] != 0):
                _zivkovic_prune(hot, cold, i, j, prune, u_total)
        if learn and ghost > 0 and _count_runs(mask[i], fg, runs[i]) > ghost:
            rows[i] = np.uint8(1)
    if thr2n > np.float32(0.0):
        for t in prange(SLICES):
            _neighbour_block(frame, hot, cold, mask, t * height // SLICES,
                             (t + 1) * height // SLICES, fg, thr2n, bg_u)


@njit(cache=True, nogil=True, error_model="numpy")
def _count_runs(mask, fg, runs):
    """One row's runs of foreground, once its pixels are classified: where ``mask`` is ``fg``
    the run (``runs``: the frames in a row the pixel has been ``fg``) grows by one, up to
    65535; elsewhere it ends: 0.  Returns the row's longest run.  A loop of its own, in SIMD
    lanes (counted pixel by pixel in the second pass, the runs cost 7% of the model's time at
    640x360 gray)."""
    top = np.uint16(0)
    for j in range(runs.shape[0]):
        r = runs[j]
        r = np.uint16(r + np.uint16(r < np.uint16(65535)))
        r = r if mask[j] == fg else np.uint16(0)
        runs[j] = r
        top = max(top, r)
    return top


@njit(cache=True, inline="always")
def _neighbour_evidence(frame, hot, i, j, ii, jj, n_ch, thr2, thr2e):
    """Whether the background neighbour (ii, jj) of pixel (i, j) (:func:`_still`; the caller
    checks that) shows the pixel to be a ghost's: its rank 0 is used, the pixel's value is
    close to that component (d2 < thr2e var) -- in the frame there is no edge between them --
    and the pixel's own rank-0 mean does not match it (d2 < thr2 var) -- in the model there
    is one.  Branch-free."""
    var = hot[ii, VAR, jj]
    d2 = np.float32(0.0)
    e2 = np.float32(0.0)
    for c in range(n_ch):
        m = hot[ii, MEAN + c, jj]
        diff = np.float32(frame[i, j, c]) - m
        d2 += diff * diff
        e = hot[i, MEAN + c, j] - m
        e2 += e * e
    return ((hot[ii, U, jj] > np.float32(0.0)) & (d2 < thr2e * var)
            & (not e2 < thr2 * var))


@njit(cache=True, inline="always")
def _ghost_evidence(frame, hot, mask, runs, i, j, n_ch, thr2, thr2e):
    """Whether one of the 8 neighbours of pixel (i, j) that is background (mask 0 and run 0)
    shows it to be a ghost's (:func:`_neighbour_evidence`).  Stops at the first that does, and
    looks at no other: 1.5x faster on the bridge video's blobs than testing all eight without
    a branch (most neighbours of a border pixel are in its blob)."""
    height = hot.shape[0]
    width = hot.shape[2]
    for ii in range(max(i - 1, 0), min(i + 2, height)):
        for jj in range(max(j - 1, 0), min(j + 2, width)):
            if ((ii == i and jj == j) or mask[ii, jj] != np.uint8(0)
                    or runs[ii, jj] != np.uint16(0)):
                continue
            if _neighbour_evidence(frame, hot, i, j, ii, jj, n_ch, thr2, thr2e):
                return True
    return False


@njit(cache=True, inline="always")
def _value_component(frame, hot, cold, i, j, n_ch, thr2):
    """(rank, number of used components) of the first component at rank >= 1 that pixel
    (i, j)'s value matches (d2 < thr2 var); rank -1 when none does."""
    n_comp = cold.shape[0] + 1
    used = 1
    k = -1
    for r in range(1, n_comp):
        if cold[r - 1, i, j, U] <= np.float32(0.0):
            break
        used = r + 1
        if k < 0 and _dist2(frame, hot, cold, r, i, j, n_ch) < thr2 * cold[r - 1, i, j, VAR]:
            k = r
    return k, used


@njit(cache=True, inline="always")
def _still(mask, runs, j):
    """0 where pixel ``j`` of a row is background to the ghost rule: 0 in ``mask`` and
    background in the model's own pass (its run 0: not a pixel the neighbourhood rule cleared,
    whose model is still the foreground's), else 1."""
    return np.uint8((mask[j] != np.uint8(0)) | (runs[j] != np.uint16(0)))


@njit(cache=True, inline="always")
def _candidate(up, mid, dn, rup, rmid, rdn, kn, free, ghost, out, j, a, b):
    """Pixel ``j`` of a row of :func:`ghost_candidates` (``mid`` of the mask, between ``up`` and
    ``dn``; ``rup``, ``rmid``, ``rdn`` the same rows of the runs): ``out[j]`` 3 (a candidate
    with a background neighbour (:func:`_still`): the columns ``a``, ``j``, ``b`` of the three
    rows, where ``a`` or ``b`` is ``j`` at the frame's edge and ``up`` or ``dn`` is ``mid``), 1
    (a candidate) or 0.  ``free``: no known foreground (``kn`` is then not read for the
    result).  Branch-free."""
    z = np.uint8(0)
    low = min(min(min(_still(up, rup, a), _still(up, rup, j)),
                  min(_still(up, rup, b), _still(mid, rmid, a))),
              min(min(_still(mid, rmid, b), _still(dn, rdn, a)),
                  min(_still(dn, rdn, j), _still(dn, rdn, b))))
    on = (rmid[j] > ghost) & (free | (kn[j] == z))
    out[j] = (np.uint8(3) if low == z else np.uint8(1)) if on else z


@njit(cache=True, inline="always")
def _candidate_row(mask, known, use_known, runs, ghost, rows, cand, i):
    """Row ``i`` of :func:`ghost_candidates`' ``cand``; returns its number of spans."""
    if rows[i] == 0:
        return 0
    width = mask.shape[1]
    out = cand[i]
    iu = max(i - 1, 0)
    idn = min(i + 1, mask.shape[0] - 1)
    up, mid, dn = mask[iu], mask[i], mask[idn]
    rup, rmid, rdn = runs[iu], runs[i], runs[idn]
    kn = known[i] if use_known else mid
    free = not use_known
    _candidate(up, mid, dn, rup, rmid, rdn, kn, free, ghost, out, 0, 0, min(1, width - 1))
    for j in range(1, width - 1):
        _candidate(up, mid, dn, rup, rmid, rdn, kn, free, ghost, out, j, j - 1, j + 1)
    if width > 1:
        _candidate(up, mid, dn, rup, rmid, rdn, kn, free, ghost, out, width - 1, width - 2,
                   width - 1)
    z = np.uint8(0)
    n = np.int64(out[0] != z)
    for j in range(1, width):  # a loop of its own: with the count, the one above ran 2.4x slower
        n += (out[j] != z) & (out[j - 1] == z)
    return n


@njit(cache=True, inline="always")
def _list_spans(cand, i, n, spans):
    """The spans of candidates of row ``i`` of ``cand`` into ``spans`` from entry ``n`` on, in
    order (:func:`bgsub.model._blob.row_spans`, with a scratch row of its own: rows are listed
    in parallel)."""
    edge = np.zeros(8 * (cand.shape[1] // 8 + 1), np.uint8)
    row_spans(cand[i], i, n, spans, edge)


@njit(cache=True, parallel=True, nogil=True)
def ghost_candidates(mask, known, use_known, runs, ghost, rows, cand, spans):
    """cand (uint8 (H, W)) nonzero where the ghost rule may apply: foreground in the model's
    own pass for more than ``ghost`` frames in a row (runs > ghost; :func:`apply_frame` counted
    the runs and flagged their rows in ``rows``; the neighbourhood rule may have cleared some in
    ``mask`` since: they belong to their blob), not known foreground: 3 on its blob's border
    (one of its 8 neighbours is background, :func:`_still`), else 1, 0 elsewhere, in the
    flagged rows only (the others are neither written nor read: the blobs and the decision
    work from the spans).  Their spans (runs of
    candidates along a row: each in one blob), in raster order, go to ``spans`` (int32 (3, n):
    row, first column, end column) for :func:`ghost_absorb`.  Returns the first and last
    flagged rows (-1, -1 when none) and the number of spans.

    Two parallel passes over the band's rows: the candidates and their spans' count per row,
    then, each row's place in ``spans`` known, the list."""
    r0 = -1
    r1 = -1
    for i in range(mask.shape[0]):
        if rows[i] != 0:
            r0 = i if r0 < 0 else r0
            r1 = i
    if r0 < 0:
        return r0, r1, 0
    first = np.empty(r1 - r0 + 2, np.int64)  # row r0 + k's first entry in spans; then the total
    for k in prange(r1 - r0 + 1):
        first[k + 1] = _candidate_row(mask, known, use_known, runs, ghost, rows, cand, r0 + k)
    first[0] = 0
    for k in range(r1 - r0 + 1):
        first[k + 1] += first[k]
    for k in prange(r1 - r0 + 1):
        if first[k + 1] > first[k]:
            _list_spans(cand, r0 + k, first[k], spans)
    return r0, r1, first[r1 - r0 + 1]


@njit(cache=True, nogil=True)
def ghost_absorb(frame, hot, cold, mask, runs, cand, spans, n_spans, blob, n_labels, thr2, thr2e,
                 u_min, frac, stable, min_px):
    """The ghost rule's decision and its effect, on the candidates marked in ``cand`` (3 on a
    border) and listed as ``n_spans`` spans in ``spans`` by :func:`ghost_candidates`, and their
    8-connected blobs (``blob[s]``, 1 .. n_labels - 1, of each span: :func:`ghost_blobs`).

    A blob is a ghost when it has ``min_px`` pixels or more, at least ``frac`` of its border pixels
    (those with a background neighbour) show evidence of one (:func:`_ghost_evidence`: no edge in
    the frame where the model has one) and at least ``stable`` of its pixels match a component of
    rank >= 1 with a scaled weight of ``u_min`` or more (what they show has been seen for a while:
    a revealed background is still, a waving tree or a person is not).  A stopped object has an
    edge in the frame along its border and stays.  Every pixel of a ghost takes the component that
    matches its value as its background (it and rank 0 exchange weights, then the order by w/sigma
    is restored as in :func:`_bubble_up`) and is labelled background.  Serial: the evidence of
    every blob is gathered from the state before any pixel is absorbed; a blob's evidence is
    gathered until it has failed the border test.  Returns the number of pixels absorbed."""
    n_ch = hot.shape[1] - 2
    one = np.uint8(1)
    counts = np.zeros((n_labels, 4), np.int64)  # pixels, border, no evidence, stable
    for s in range(n_spans):  # a span lies in one blob
        i = spans[0, s]
        j0 = spans[1, s]
        j1 = spans[2, s]
        lab = blob[s]
        n_border = 0
        for j in range(j0, j1):
            n_border += cand[i, j] > one
        counts[lab, 0] += j1 - j0
        counts[lab, 1] += n_border
    live = np.zeros(n_labels, np.bool_)
    for lab in range(1, n_labels):
        live[lab] = counts[lab, 0] >= min_px and counts[lab, 1] > 0
    # the evidence of each border pixel, until its blob has too many without (most blobs are
    # moving objects with an edge all round: they fail within the first third of their border)
    for s in range(n_spans):
        i = spans[0, s]
        lab = blob[s]
        for j in range(spans[1, s], spans[2, s]):
            if not live[lab]:
                break
            if cand[i, j] > one and not _ghost_evidence(frame, hot, mask, runs, i, j, n_ch,
                                                        thr2, thr2e):
                counts[lab, 2] += 1
                live[lab] = counts[lab, 1] - counts[lab, 2] >= frac * counts[lab, 1]
    n_live = 0
    for lab in range(1, n_labels):
        n_live += live[lab]
    if n_live == 0:
        return 0
    for s in range(n_spans):  # the stable count, of the blobs that passed the border test only
        i = spans[0, s]
        lab = blob[s]
        if live[lab]:
            for j in range(spans[1, s], spans[2, s]):
                k, _ = _value_component(frame, hot, cold, i, j, n_ch, thr2)
                counts[lab, 3] += k > 0 and cold[k - 1, i, j, U] >= u_min
    n = 0
    for s in range(n_spans):
        i = spans[0, s]
        lab = blob[s]
        if not (live[lab] and counts[lab, 3] >= stable * counts[lab, 0]):
            continue
        for j in range(spans[1, s], spans[2, s]):
            k, used = _value_component(frame, hot, cold, i, j, n_ch, thr2)
            if k < 0:
                continue
            u0 = hot[i, U, j]
            hot[i, U, j] = cold[k - 1, i, j, U]
            cold[k - 1, i, j, U] = u0
            for r in range(1, used):
                _bubble_up(hot, cold, r, i, j)
            mask[i, j] = np.uint8(0)
            n += 1
    return n


@njit(cache=True, parallel=True, nogil=True, error_model="numpy")
def clear_clipped(frame, hot, mask, level, thr2, fg):
    """After a global brightening the camera clips at 255 what the model knows as bright
    background; divided by the gain (``gain_compensation``) every such pixel shows ``level``
    (255 / gain, rounded), below its true value, and would be foreground for good.  A
    foreground pixel (``fg``) at ``level`` in every channel becomes background when its rank-0
    component is within the match distance of the clipped region: the squared distance from
    its mean to [level, 255] in each channel, summed, below thr2 var.  Writes ``mask`` only."""
    height = mask.shape[0]
    width = mask.shape[1]
    n_ch = frame.shape[2]
    lv = np.float32(level)
    zero = np.float32(0.0)
    for i in prange(height):
        for j in range(width):
            if mask[i, j] != fg or hot[i, U, j] <= zero:
                continue
            clipped = True
            d2 = zero
            for c in range(n_ch):
                clipped &= frame[i, j, c] == level
                gap = max(lv - hot[i, MEAN + c, j], zero)
                d2 += gap * gap
            if clipped and d2 < thr2 * hot[i, VAR, j]:
                mask[i, j] = 0


@njit(cache=True, nogil=True)
def init_from_frame(frame, hot, cold, var_init, clear_cold):
    """Re-initialise every pixel to one component centred on ``frame`` (weight 1, scale 1).

    clear_cold=False skips zeroing the other components: only for a state known to be empty.
    """
    height = hot.shape[0]
    width = hot.shape[2]
    n_ch = hot.shape[1] - 2
    for i in range(height):
        if clear_cold:
            cold[:, i, :, :] = np.float32(0.0)
        for j in range(width):
            hot[i, U, j] = np.float32(1.0)
            hot[i, VAR, j] = var_init
            for c in range(n_ch):
                hot[i, MEAN + c, j] = np.float32(frame[i, j, c])


@njit(cache=True, nogil=True)
def scale_weights(hot, cold, factor):
    """Multiply every weight by ``factor``."""
    for i in range(hot.shape[0]):
        for j in range(hot.shape[2]):
            hot[i, U, j] *= factor
            for k in range(cold.shape[0]):
                cold[k, i, j, U] *= factor


@njit(cache=True, nogil=True)
def background_image(hot, cold, background_ratio, out):
    """Weighted mean of each pixel's background components into ``out`` (uint8 (H, W, C))."""
    n_comp = cold.shape[0] + 1
    height = hot.shape[0]
    width = hot.shape[2]
    n_ch = hot.shape[1] - 2
    for i in range(height):
        for j in range(width):
            total = 0.0
            for k in range(n_comp):
                u = _get(hot, cold, k, i, j, U)
                if u <= 0.0:
                    break
                total += u
            for c in range(n_ch):
                out[i, j, c] = 0
            if total <= 0.0:
                continue
            limit = background_ratio * total
            prefix = 0.0
            acc0 = 0.0
            acc1 = 0.0
            acc2 = 0.0
            wsum = 0.0
            for k in range(n_comp):
                u = _get(hot, cold, k, i, j, U)
                if u <= 0.0 or prefix > limit:
                    break
                prefix += u
                wsum += u
                acc0 += u * _get(hot, cold, k, i, j, MEAN)
                if n_ch == 3:
                    acc1 += u * _get(hot, cold, k, i, j, MEAN + 1)
                    acc2 += u * _get(hot, cold, k, i, j, MEAN + 2)
            out[i, j, 0] = _to_u8(acc0 / wsum)
            if n_ch == 3:
                out[i, j, 1] = _to_u8(acc1 / wsum)
                out[i, j, 2] = _to_u8(acc2 / wsum)


@njit(cache=True, inline="always")
def _to_u8(v):
    return np.uint8(min(max(v + 0.5, 0.0), 255.0))


@njit(cache=True, inline="always")
def _select(a, k):
    """Reorder ``a`` (float32, no NaN) in place so that a[k] is its k-th smallest value and
    a[:k] holds values <= a[k]; returns a[k].  A quickselect with three-way partitions (the
    gain's ratios repeat values: a two-way partition of equal values would go quadratic)."""
    lo = 0
    hi = a.size - 1
    while lo < hi:
        x = a[lo]
        y = a[(lo + hi) // 2]
        z = a[hi]
        pivot = max(min(x, y), min(max(x, y), z))  # the median of the three
        lt = lo  # a[lo:lt] < pivot, a[lt:q] == pivot, a[gt + 1:hi + 1] > pivot
        gt = hi
        q = lo
        while q <= gt:
            v = a[q]
            if v < pivot:
                a[q] = a[lt]
                a[lt] = v
                lt += 1
                q += 1
            elif v > pivot:
                a[q] = a[gt]
                a[gt] = v
                gt -= 1
            else:
                q += 1
        if k < lt:
            hi = lt - 1
        elif k > gt:
            lo = gt + 1
        else:
            return a[k]
    return a[k]


@njit(cache=True, nogil=True)
def _median(a):
    """NumPy's median of a non-empty float32 array, bit for bit: the middle value, or for an
    even count the float32 mean of the middle two.  Reorders ``a``.  Written without
    ``np.partition`` and ``max()``: a kernel that calls NumPy's sorting code makes each run
    import Numba's ``numba.np.arraymath`` when it loads the kernel (and scipy's BLAS where
    scipy is installed), 0.08 s of the run's start on the critical path."""
    n = a.size
    k = n // 2
    hi = _select(a, k)
    if n % 2:
        return hi
    lo = a[0]
    for q in range(1, k):
        lo = max(lo, a[q])
    return (lo + hi) * np.float32(0.5)


@njit(cache=True, nogil=True)
def gain_estimate(frame, hot, channel, start, step, prev_bg, use_prev, ratios):
    """The samples of the global gain (see ``MixtureSubtractor.gain_compensation``): on the
    grid of rows and columns ``start``, ``start + step``, ..., the ratio of the frame's
    ``channel`` to its rank-0 mean, x / max(mu, 1), where mu is in [16, 240], x in [4, 251]
    and, when ``use_prev``, the grid pixel was background in the last mask (``prev_bg``, bool,
    the grid's shape).  Writes the ratios to ``ratios`` (scratch: the median leaves them
    reordered) and returns (how many, their median; 0 when none).  One call, without the GIL:
    run beside the reader and the post-processing threads, the same steps as NumPy calls
    measured about a third of the model stage's own time."""
    height = frame.shape[0]
    width = frame.shape[1]
    lo = np.float32(16.0)
    hi = np.float32(240.0)
    one = np.float32(1.0)
    n = 0
    gi = 0
    for y in range(start, height, step):
        gj = 0
        for x in range(start, width, step):
            mu = hot[y, MEAN + channel, x]
            v = frame[y, x, channel]
            if mu >= lo and mu <= hi and v >= 4 and v <= 251 and (not use_prev
                                                                or prev_bg[gi, gj]):
                ratios[n] = np.float32(v) / max(mu, one)
                n += 1
            gj += 1
        gi += 1
    if n == 0:
        return 0, np.float32(0.0)
    return n, _median(ratios[:n])


@njit(cache=True, nogil=True)
def grid_background(mask, start, step, out):
    """out (bool, the grid's shape) = whether ``mask`` is 0 on the grid of
    :func:`gain_estimate`."""
    gi = 0
    for y in range(start, mask.shape[0], step):
        gj = 0
        for x in range(start, mask.shape[1], step):
            out[gi, gj] = mask[y, x] == 0
            gj += 1
        gi += 1


@njit(cache=True, nogil=True)
def shift_points(hot, channel, mask, radius, step, grad, pts):
    """The points a shaking camera's frames are aligned on (see ``MixtureSubtractor.max_shift``):
    pixels of every ``step``-th row and column from ``radius`` + 1 to as far from the far border,
    background in ``mask`` (0) and with texture (the rank-0 mean of ``channel`` differs by more
    than ``grad`` from the pixel's left or upper neighbour's), at most ``pts.size`` of them,
    spread evenly over the candidates in raster order.  Writes their flat indices (i W + j) to
    ``pts``; returns how many."""
    height = hot.shape[0]
    width = hot.shape[2]
    m = MEAN + channel
    r = radius + 1
    n_max = pts.size
    cand = np.empty(max(0, (height - 2 * r) // step + 1) * max(0, (width - 2 * r) // step + 1),
                    np.int32)
    n_cand = 0
    for i in range(r, height - r, step):
        row = hot[i, m]
        up = hot[i - 1, m]
        mrow = mask[i]
        for j in range(r, width - r, step):  # the list without a branch
            mu = row[j]
            cand[n_cand] = i * width + j
            n_cand += (mrow[j] == 0) & ((abs(mu - row[j - 1]) > grad) | (abs(mu - up[j]) > grad))
    if n_cand <= n_max:
        pts[:n_cand] = cand[:n_cand]
        return n_cand
    n = 0
    for q in range(n_cand):  # every (n_cand / n_max)-th
        if (q * n_max) // n_cand != ((q + 1) * n_max) // n_cand:
            pts[n] = cand[q]
            n += 1
    return n


@njit(cache=True, inline="always")
def _agree(flat, n_ch, channel, pts, ref, n_pts, off, tol):
    """How many points p have |frame[p + off] - ref| < tol (``flat``: the frame, flat)."""
    n = 0
    for q in range(n_pts):
        v = np.float32(flat[(pts[q] + off) * n_ch + channel])
        n += abs(v - ref[q]) < tol
    return n


@njit(cache=True, nogil=True)
def shift_estimate(frame, hot, channel, pts, n_pts, ref, seen, prev_dx, prev_dy, radius, tol,
                   enough, gain):
    """The shift (dx, dy), |dx| and |dy| at most ``radius``, that best aligns ``frame`` with the
    model: the most points ``pts[:n_pts]`` (:func:`shift_points`) whose value of ``channel`` at
    (i + dy, j + dx) is within ``tol`` of their rank-0 mean at (i, j).  Found by climbing, from
    (prev_dx, prev_dy) and then from (0, 0), to the best of the 3 x 3 shifts around while that
    is better; the second climb is left out when the first ends where ``enough`` points agree
    and ``gain`` more than at (0, 0) (the last shift still holds).  Returns (dx, dy, points
    agreeing there, points agreeing at (0, 0)).  ``ref`` (float32, at least n_pts) and ``seen``
    (int64, at least (2 radius + 1)^2) are scratch."""
    width = hot.shape[2]
    n_ch = frame.shape[2]
    flat = frame.reshape(frame.size)
    m = MEAN + channel
    for q in range(n_pts):
        ref[q] = hot[pts[q] // width, m, pts[q] % width]
    side = 2 * radius + 1
    seen[:] = -1
    at0 = _agree(flat, n_ch, channel, pts, ref, n_pts, 0, tol)
    seen[radius * side + radius] = at0
    best = -1
    bx = 0
    by = 0
    for start in range(2):
        cx = prev_dx if start == 0 else 0
        cy = prev_dy if start == 0 else 0
        while True:
            nx = cx
            ny = cy
            nv = seen[(cy + radius) * side + cx + radius]
            if nv < 0:
                nv = _agree(flat, n_ch, channel, pts, ref, n_pts, cy * width + cx, tol)
                seen[(cy + radius) * side + cx + radius] = nv
            for a in range(-1, 2):
                for b in range(-1, 2):
                    qx = cx + a
                    qy = cy + b
                    if abs(qx) > radius or abs(qy) > radius:
                        continue
                    k = (qy + radius) * side + qx + radius
                    if seen[k] < 0:
                        seen[k] = _agree(flat, n_ch, channel, pts, ref, n_pts,
                                         qy * width + qx, tol)
                    if seen[k] > nv:
                        nx = qx
                        ny = qy
                        nv = seen[k]
            if nx == cx and ny == cy:
                break
            cx = nx
            cy = ny
        v = seen[(cy + radius) * side + cx + radius]
        if v > best:
            best = v
            bx = cx
            by = cy
        if best >= enough and best - at0 >= gain:
            break
    return bx, by, best, at0
