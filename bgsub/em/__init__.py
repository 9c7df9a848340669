"""Offline batch EM: full Gaussian mixtures of any dimension, model selection, sampling,
K-means beside the mixture (``mixture``), their Numba kernels (``_kernels``) and the helpers
of the ``bgsub em`` command (``command``)."""

from bgsub.em.mixture import (ConvergenceWarning, GaussianMixture, KMeans, NotFittedError,
                              adjusted_rand_score, demo_data, select_components)

__all__ = ["ConvergenceWarning", "GaussianMixture", "KMeans", "NotFittedError",
           "adjusted_rand_score", "demo_data", "select_components"]
