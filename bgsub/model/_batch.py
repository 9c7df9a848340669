"""Numba kernels of the per-pixel batch EM that starts the online mixture from a stack of frames
(:meth:`bgsub.model.mixture.MixtureSubtractor.fit_frames`): K isotropic components per pixel,
fitted jointly over every frame."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange


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
