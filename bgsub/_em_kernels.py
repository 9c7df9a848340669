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
            part_ll):
    """One E-step and the M-step's sums.  part_* hold one row per chunk:
    part_n (C, K), part_x (C, K, D), part_xx (C, K, D, D) or (C, K, D, 1), part_ll (C,)."""
    n_samples = X.shape[0]
    n_comp, dim = means.shape
    n_chunks = part_n.shape[0]
    full = part_xx.shape[3] == dim and (kind == FULL or kind == TIED)
    for c in prange(n_chunks):
        lp = np.empty(n_comp)
        xs = np.empty(dim)
        for k in range(n_comp):
            part_n[c, k] = 0.0
            for a in range(dim):
                part_x[c, k, a] = 0.0
                for b in range(part_xx.shape[3]):
                    part_xx[c, k, a, b] = 0.0
        ll = 0.0
        start = c * chunk
        stop = min(start + chunk, n_samples)
        for n in range(start, stop):
            _log_probs(X, n, means, prec, log_det, log_w, kind, lp)
            m = lp[0]
            for k in range(1, n_comp):
                if lp[k] > m:
                    m = lp[k]
            s = 0.0
            for k in range(n_comp):
                e = lp[k] - m
                # below e^-50 (2e-22) a term cannot change the float64 sums: skip its exp
                # and, below, its share of the statistics
                lp[k] = math.exp(e) if e > -50.0 else 0.0
                s += lp[k]
            ll += m + math.log(s)
            for a in range(dim):
                xs[a] = X[n, a] - shift[a]
            for k in range(n_comp):
                if lp[k] == 0.0:
                    continue
                r = lp[k] / s
                part_n[c, k] += r
                for a in range(dim):
                    rx = r * xs[a]
                    part_x[c, k, a] += rx
                    if full:
                        for b in range(a, dim):
                            part_xx[c, k, a, b] += rx * xs[b]
                    else:
                        part_xx[c, k, a, 0] += rx * xs[a]
        part_ll[c] = ll


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
