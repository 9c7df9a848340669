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
