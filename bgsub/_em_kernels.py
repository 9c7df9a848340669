"""Numba kernels of batch EM for Gaussian mixtures (any dimension, four covariance types).

Parameters arrive in scikit-learn's form: ``means`` (K, D); ``prec`` the precision Cholesky
factors, (K, D, D) for "full" and "tied" (tied repeated K times), or (K, D, 1)
for "diag" and "spherical" (spherical repeated over D); ``log_det`` (K,) the log-determinant of
each factor; ``log_w`` (K,) log weights.

One pass over the data both evaluates the responsibilities of the current parameters (the
E-step, with a stable log-sum-exp) and accumulates what the M-step needs, per chunk of rows:
the responsibility sums, first moments and second moments (full matrices for full/tied,
diagonals for diag/spherical), taken about a fixed ``shift`` (the data mean) so that the
one-pass variance does not cancel.  Chunks are processed in parallel and their partial sums
added in a fixed order, so results do not depend on the thread count.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

FULL, TIED, DIAG, SPHERICAL = 0, 1, 2, 3
LOG_2PI = math.log(2.0 * math.pi)

# exp on (-50, 0]: Cody-Waite reduction x = k ln2 + r, |r| <= ln2 / 2, a degree-13 Taylor
# polynomial for e^r (truncation below 1e-17 relative) and 2^-k from a table
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_POW2_NEG = np.array([2.0 ** -j for j in range(80)])


@njit(cache=True, inline="always")
def _exp_neg(x, pow2_neg):
    """e^x for -50 < x <= 0, to a few ulp (libm's exp is several times slower here)."""
    k = int(-x * _LOG2E + 0.5)  # round(-x / ln 2) >= 0
    r = x + k * _LN2_HI + k * _LN2_LO
    p = 1.0 + r * (1.0 + r * (1.0 / 2 + r * (1.0 / 6 + r * (1.0 / 24 + r * (
        1.0 / 120 + r * (1.0 / 720 + r * (1.0 / 5040 + r * (1.0 / 40320 + r * (
            1.0 / 362880 + r * (1.0 / 3628800 + r * (1.0 / 39916800 + r * (
                1.0 / 479001600 + r * (1.0 / 6227020800)))))))))))))
    return p * pow2_neg[k]


@njit(cache=True, inline="always")
def _log_probs(X, n, means, prec, log_det, log_w, kind, out):
    """out[k] = log w_k + log N(X[n]; mean_k, cov_k)."""
    n_comp, dim = means.shape
    for k in range(n_comp):
        q = 0.0
        if kind == FULL or kind == TIED:
            # y = (x - mu) @ P for any factor P of the precision (P P^T = Lambda): upper
            # triangular after an M-step, lower when taken from precisions_init
            for b in range(dim):
                y = 0.0
                for a in range(dim):
                    y += (X[n, a] - means[k, a]) * prec[k, a, b]
                q += y * y
        else:
            for a in range(dim):
                d = (X[n, a] - means[k, a]) * prec[k, a, 0]
                q += d * d
        out[k] = log_w[k] + log_det[k] - 0.5 * (dim * LOG_2PI + q)


@njit(cache=True, parallel=True, nogil=True)
def em_pass(X, means, prec, log_det, log_w, kind, shift, chunk, part_n, part_x, part_xx,
            part_ll, pow2_neg):
    """One E-step and the M-step's sums.  part_* hold one row per chunk:
    part_n (C, K), part_x (C, K, D), part_xx (C, K, D, D) or (C, K, D, 1), part_ll (C,);
    pow2_neg: the table ``_POW2_NEG``.

    Each chunk is transposed to (D, B) (and shifted), so that every inner loop runs over the B
    samples of the chunk, contiguous, and vectorises.
    """
    n_samples = X.shape[0]
    n_comp, dim = means.shape
    n_chunks = part_n.shape[0]
    full = part_xx.shape[3] == dim and (kind == FULL or kind == TIED)
    for c in prange(n_chunks):
        start = c * chunk
        nb = min(start + chunk, n_samples) - start
        xs = np.empty((dim, nb))
        lp = np.empty((n_comp, nb))
        y = np.empty(nb)
        mx = np.empty(nb)
        sm = np.empty(nb)
        for a in range(dim):
            sa = shift[a]
            for n in range(nb):
                xs[a, n] = X[start + n, a] - sa
        # log w_k + log N(x; k), with x and the means both about the shift
        for k in range(n_comp):
            for n in range(nb):
                lp[k, n] = 0.0
            if kind == FULL or kind == TIED:
                for bb in range(dim):
                    cb = 0.0
                    for a in range(dim):
                        cb += (means[k, a] - shift[a]) * prec[k, a, bb]
                    for n in range(nb):
                        y[n] = -cb
                    for a in range(dim):
                        p = prec[k, a, bb]
                        for n in range(nb):
                            y[n] += xs[a, n] * p
                    for n in range(nb):
                        lp[k, n] += y[n] * y[n]
            else:
                for a in range(dim):
                    p = prec[k, a, 0]
                    mu = means[k, a] - shift[a]
                    for n in range(nb):
                        e = (xs[a, n] - mu) * p
                        lp[k, n] += e * e
            const = log_w[k] + log_det[k] - 0.5 * dim * LOG_2PI
            for n in range(nb):
                lp[k, n] = const - 0.5 * lp[k, n]
        # stable log-sum-exp; lp becomes the responsibilities.  Terms below e^-50 (2e-22)
        # cannot change the float64 sums: they are set to exactly 0.
        for n in range(nb):
            mx[n] = lp[0, n]
        for k in range(1, n_comp):
            for n in range(nb):
                mx[n] = max(mx[n], lp[k, n])
        for n in range(nb):
            sm[n] = 0.0
        for k in range(n_comp):
            for n in range(nb):
                e = lp[k, n] - mx[n]
                v = _exp_neg(max(e, -49.0), pow2_neg)
                v = v if e > -50.0 else 0.0
                lp[k, n] = v
                sm[n] += v
        ll = 0.0
        for n in range(nb):
            ll += mx[n] + math.log(sm[n])
            sm[n] = 1.0 / sm[n]
        part_ll[c] = ll
        for k in range(n_comp):
            for n in range(nb):
                lp[k, n] *= sm[n]
        # sufficient statistics about the shift
        for k in range(n_comp):
            acc = 0.0
            for n in range(nb):
                acc += lp[k, n]
            part_n[c, k] = acc
            for a in range(dim):
                acc = 0.0
                for n in range(nb):
                    acc += lp[k, n] * xs[a, n]
                part_x[c, k, a] = acc
                if full:
                    for bb in range(a, dim):
                        acc = 0.0
                        for n in range(nb):
                            acc += lp[k, n] * xs[a, n] * xs[bb, n]
                        part_xx[c, k, a, bb] = acc
                    for bb in range(a):
                        part_xx[c, k, a, bb] = 0.0
                else:
                    acc = 0.0
                    for n in range(nb):
                        acc += lp[k, n] * xs[a, n] * xs[a, n]
                    part_xx[c, k, a, 0] = acc


@njit(cache=True, parallel=True, nogil=True)
def weighted_log_prob(X, means, prec, log_det, log_w, kind, out):
    """out (N, K): log w_k + log N(x_n; k) for every sample."""
    n_comp = means.shape[0]
    for n in prange(X.shape[0]):
        lp = np.empty(n_comp)
        _log_probs(X, n, means, prec, log_det, log_w, kind, lp)
        for k in range(n_comp):
            out[n, k] = lp[k]


# ---------------------------------------------------------------------------- per pixel
@njit(cache=True, parallel=True, nogil=True)
def pixel_init(frames, init_var, weights, means, variances):
    """A deterministic start for :func:`pixel_em`: component k's mean is the pixel's value at
    the ((k + 0.5) / K) quantile of its brightness over the frames; equal weights."""
    n_frames, height, width, n_ch = frames.shape
    n_comp = weights.shape[2]
    for i in prange(height):
        lum = np.empty(n_frames)
        for j in range(width):
            for t in range(n_frames):
                v = 0.0
                for c in range(n_ch):
                    v += frames[t, i, j, c]
                lum[t] = v
            order = np.argsort(lum, kind="mergesort")
            for k in range(n_comp):
                t = order[min(int((k + 0.5) * n_frames / n_comp), n_frames - 1)]
                for c in range(n_ch):
                    means[i, j, k, c] = frames[t, i, j, c]
                weights[i, j, k] = 1.0 / n_comp
                variances[i, j, k] = init_var


@njit(cache=True, parallel=True, nogil=True)
def pixel_em(frames, n_iter, min_var, max_var, weights, means, variances, loglik):
    """Per-pixel EM for K isotropic components over a stack of frames.

    frames: uint8 (N, H, W, C).  weights (H, W, K), means (H, W, K, C), variances (H, W, K)
    float64: the start on entry (see :func:`pixel_init`), the fit on return.  The variance is
    per channel and clamped to [min_var, max_var] after each M-step; a component whose
    responsibilities sum to under 1e-6 frames keeps its mean and variance with weight 0.
    loglik (n_iter, H, W): the mean log-likelihood per frame before each M-step.
    """
    n_frames, height, width, n_ch = frames.shape
    n_comp = weights.shape[2]
    log2pi = math.log(2.0 * math.pi)
    for i in prange(height):
        lp = np.empty(n_comp)
        nk = np.empty(n_comp)
        sx = np.empty((n_comp, n_ch))
        sxx = np.empty(n_comp)
        for j in range(width):
            for it in range(n_iter):
                for k in range(n_comp):
                    nk[k] = 0.0
                    sxx[k] = 0.0
                    for c in range(n_ch):
                        sx[k, c] = 0.0
                ll = 0.0
                for t in range(n_frames):
                    m = -np.inf
                    for k in range(n_comp):
                        w = weights[i, j, k]
                        if w <= 0.0:
                            lp[k] = -np.inf
                            continue
                        v = variances[i, j, k]
                        d2 = 0.0
                        for c in range(n_ch):
                            e = frames[t, i, j, c] - means[i, j, k, c]
                            d2 += e * e
                        lp[k] = math.log(w) - 0.5 * (n_ch * (log2pi + math.log(v)) + d2 / v)
                        if lp[k] > m:
                            m = lp[k]
                    s = 0.0
                    for k in range(n_comp):
                        lp[k] = math.exp(lp[k] - m) if lp[k] > -np.inf else 0.0
                        s += lp[k]
                    ll += m + math.log(s)
                    for k in range(n_comp):
                        r = lp[k] / s
                        nk[k] += r
                        x2 = 0.0
                        for c in range(n_ch):
                            x = float(frames[t, i, j, c])
                            sx[k, c] += r * x
                            x2 += x * x
                        sxx[k] += r * x2
                loglik[it, i, j] = ll / n_frames
                for k in range(n_comp):
                    if nk[k] > 1e-6:
                        mm = 0.0
                        for c in range(n_ch):
                            mu = sx[k, c] / nk[k]
                            means[i, j, k, c] = mu
                            mm += mu * mu
                        v = (sxx[k] / nk[k] - mm) / n_ch
                        variances[i, j, k] = min(max(v, min_var), max_var)
                        weights[i, j, k] = nk[k] / n_frames
                    else:
                        weights[i, j, k] = 0.0
