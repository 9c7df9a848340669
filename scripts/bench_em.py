"""EM speed and quality: bgsub.GaussianMixture against scikit-learn (and cv2.ml.EM if present).

    python scripts/bench_em.py [--n 1000000] [--iters 10] [--docs]

Data: N samples in D = 3 from 5 well-separated Gaussians (fixed seed).  For each covariance type
both libraries start from the same parameters (weights_init, means_init, precisions_init from a
k-means partition) and run exactly ``--iters`` EM iterations (tol = 0); the table gives the final
mean log-likelihood of each, and the time of one EM iteration as each library's fit loop runs
it (scikit-learn: ``_e_step`` + ``_m_step``; bgsub: the fused pass + M-step), median of 5.  cv2.ml.EM is not in
the opencv-python 5 wheel; it is measured only when ``cv2.ml`` exists.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bgsub.em.mixture import GaussianMixture, kmeans  # noqa: E402


def make_data(n, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0, 0], [6, 6, 0], [-5, 4, 3], [4, -5, -3], [-3, -4, 6]], float)
    labels = rng.integers(0, 5, n)
    scales = rng.uniform(0.5, 1.5, (5, 3))
    return centres[labels] + rng.standard_normal((n, 3)) * scales[labels]


def init_from_kmeans(X, k, cov):
    rng = np.random.RandomState(0)
    idx = rng.choice(len(X), 20000, replace=False)
    centres, _ = kmeans(X[idx], k, rng)
    g = GaussianMixture(k, covariance_type=cov, means_init=centres, max_iter=1, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g.fit(X[idx])
    return dict(weights_init=g.weights_, means_init=g.means_, precisions_init=g.precisions_)


def fitted(make, X):
    model = make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X)
    return model


def time_sklearn_iteration(model, X, repeats=5):
    """One EM iteration as scikit-learn's fit loop runs it: _e_step then _m_step."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        _, log_resp = model._e_step(X)
        model._m_step(X, log_resp)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def time_bgsub_iteration(model, X, repeats=5):
    """One EM iteration as bgsub's fit loop runs it: the fused pass and the M-step."""
    import bgsub.em.mixture as em

    Xd = np.ascontiguousarray(X, model.dtype)
    n, d = Xd.shape
    k = model.n_components
    n_chunks = (n + em.CHUNK - 1) // em.CHUNK
    full = model.covariance_type in ("full", "tied")
    parts = (np.empty((n_chunks, k)), np.empty((n_chunks, k, d)),
             np.empty((n_chunks, k, d, d if full else 1)), np.empty(n_chunks))
    shift = Xd.mean(0, dtype=np.float64)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model._em_iteration(Xd, shift, parts)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--docs", "--readme", dest="readme", action="store_true",
                    help="write the table into docs/benchmarks.md")
    args = ap.parse_args(argv)
    X = make_data(args.n)
    try:
        from sklearn.mixture import GaussianMixture as SK
    except ImportError:
        raise SystemExit("bench_em: scikit-learn is needed (pip install '.[test]')")
    import cv2

    has_cv_em = hasattr(cv2, "ml") and hasattr(cv2.ml, "EM_create")
    GaussianMixture(5, max_iter=1, tol=0).fit(X[:1000])  # compile outside the timing
    rows = []
    for cov in ("full", "tied", "diag", "spherical"):
        init = init_from_kmeans(X, 5, cov)
        common = dict(n_components=5, covariance_type=cov, max_iter=args.iters, tol=0, **init)
        sk = fitted(lambda: SK(**common), X)
        bg = fitted(lambda: GaussianMixture(**common), X)
        bg32 = fitted(lambda: GaussianMixture(**common, dtype=np.float32), X)
        scores = (sk.score(X), bg.score(X), bg32.score(X))
        t_sk = time_sklearn_iteration(sk, X)
        t_bg = time_bgsub_iteration(bg, X)
        t_bg32 = time_bgsub_iteration(bg32, X)
        rows.append((cov, t_sk, scores[0], t_bg, scores[1], t_bg32, scores[2]))
    import sklearn

    print(f"N = {args.n}, D = 3, K = 5, {args.iters} iterations from the same start; "
          f"scikit-learn {sklearn.__version__}; cv2.ml.EM: "
          f"{'present' if has_cv_em else 'not in this OpenCV build'}")
    lines = ["| covariance | scikit-learn ms/iter | bgsub ms/iter | speed-up | bgsub float32 "
             "ms/iter | speed-up | mean log-lik. sklearn / bgsub / bgsub f32 |",
             "|---|---|---|---|---|---|---|"]
    for cov, t_sk, l_sk, t_bg, l_bg, t_32, l_32 in rows:
        lines.append(f"| {cov} | {t_sk * 1e3:.0f} | {t_bg * 1e3:.1f} | {t_sk / t_bg:.1f}x | "
                     f"{t_32 * 1e3:.1f} | {t_sk / t_32:.1f}x | {l_sk:.6f} / {l_bg:.6f} / "
                     f"{l_32:.6f} |")
    text = "\n".join(lines)
    print(text)
    if args.readme:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from docblock import write_block

        write_block("benchmarks.md", "em", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
