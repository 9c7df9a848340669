"""Gaussian mixtures fitted by expectation-maximisation (Dempster, Laird and Rubin 1977).

:class:`GaussianMixture` has scikit-learn's interface and conventions (parameters, learned
attributes, the lower bound, regularisation, initialisations), so it can be swapped in; the EM
iterations run in the Numba kernels of :mod:`bgsub.em._kernels`.
"""

from __future__ import annotations

import inspect
import math
import sys
import time
import warnings
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from bgsub import _parallel
from bgsub.em import _kernels as ek

if TYPE_CHECKING:
    from typing_extensions import Self

COVARIANCE_TYPES = {"full": ek.FULL, "tied": ek.TIED, "diag": ek.DIAG, "spherical": ek.SPHERICAL}
# scikit-learn's spellings; "kmeans++" is this module's older name for "k-means++"
INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")
INIT_ALIASES = {"kmeans++": "k-means++"}
CHUNK = 4096


class ConvergenceWarning(UserWarning):
    """EM stopped at max_iter before the lower bound settled within tol."""


class NotFittedError(ValueError, AttributeError):
    """A method that needs a fitted model was called before ``fit``.

    Both a ValueError and an AttributeError, as scikit-learn's ``NotFittedError`` is.  When
    scikit-learn has been imported in the process, what is raised is also an instance of
    ``sklearn.exceptions.NotFittedError`` (a subclass of both, made on first need), so
    ``except sklearn.exceptions.NotFittedError`` catches it; ``except bgsub.NotFittedError``
    always does.  bgsub never imports scikit-learn for this: code that names scikit-learn's
    class in an ``except`` clause has imported scikit-learn (``import sklearn`` loads
    ``sklearn.exceptions``) before anything is raised."""

    def __reduce__(self):  # unpickled as the class that process would raise
        return _rebuild_not_fitted, self.args


def _rebuild_not_fitted(*args):
    return _not_fitted_class()(*args)


def _not_fitted_class():
    """The class :func:`_not_fitted` raises: :class:`NotFittedError`, or, once scikit-learn is
    imported, a subclass that also derives from ``sklearn.exceptions.NotFittedError``."""
    global _SklearnNotFittedError
    if _SklearnNotFittedError is not None:
        return _SklearnNotFittedError
    sk = sys.modules.get("sklearn.exceptions")
    base = getattr(sk, "NotFittedError", None)
    if not (isinstance(base, type) and issubclass(base, Exception)):
        return NotFittedError
    _SklearnNotFittedError = type("NotFittedError", (NotFittedError, base), {
        "__module__": __name__, "__qualname__": "_SklearnNotFittedError",
        "__doc__": NotFittedError.__doc__})
    return _SklearnNotFittedError


_SklearnNotFittedError = None


def _not_fitted(estimator):
    """The exception to raise when ``estimator`` is used before ``fit`` (scikit-learn's
    message)."""
    return _not_fitted_class()(
        f"This {type(estimator).__name__} instance is not fitted yet. Call 'fit' with "
        "appropriate arguments before using this estimator.")


def _rng(random_state):
    if isinstance(random_state, np.random.RandomState):
        return random_state
    return np.random.RandomState(random_state)


def _check_X(X: ArrayLike, dtype: DTypeLike, min_samples: int = 1, n_features: int | None = None,
             name: str = "X", estimator: object = None) -> NDArray[Any]:
    """``X`` as a C-contiguous 2-D array of ``dtype``; a ValueError (TypeError for sparse
    input and for objects that are not numbers) in scikit-learn's words otherwise."""
    if hasattr(X, "toarray") and hasattr(X, "nnz"):  # scipy.sparse, without importing it
        raise TypeError("Sparse data was passed, but dense data is required. Use "
                        "X.toarray() to convert to a dense numpy array.")
    X = np.asarray(X)
    if np.iscomplexobj(X):
        raise ValueError(f"Complex data not supported: {name} has dtype {X.dtype}")
    if X.dtype == object:
        X = X.astype(np.float64)  # numbers held as objects; a TypeError names anything else
    elif X.dtype != bool and not np.issubdtype(X.dtype, np.number):
        raise ValueError(f"{name} must be numeric, got dtype {X.dtype}")
    if X.ndim == 1:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got a 1-D array. "
                         "Reshape your data with X.reshape(-1, 1) for one feature or "
                         "X.reshape(1, -1) for one sample")
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {X.shape}")
    if X.shape[1] == 0:
        raise ValueError(f"{name} has 0 feature(s) (shape={X.shape}) while a minimum of 1 is "
                         "required.")
    X = np.ascontiguousarray(X, dtype=dtype)
    if not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if X.shape[0] < max(min_samples, 1):
        raise ValueError(f"{name} has {X.shape[0]} samples; at least {max(min_samples, 1)} are "
                         "needed (n_components)")
    if n_features is not None and X.shape[1] != n_features:
        who = type(estimator).__name__ if estimator is not None else "the model"
        raise ValueError(f"{name} has {X.shape[1]} features, but {who} is expecting "
                         f"{n_features} features as input")
    return X


def _check_sample_weight(sample_weight: ArrayLike | None, n: int) -> NDArray[np.float64] | None:
    """None, or the weights as a float64 array of length ``n``: finite, non-negative, not all
    zero."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim == 0:
        w = np.full(n, float(w))
    if w.shape != (n,):
        raise ValueError(f"sample_weight has shape {w.shape}, expected ({n},)")
    if not np.isfinite(w).all() or np.any(w < 0):
        raise ValueError("sample_weight must be finite and non-negative")
    if not np.any(w > 0):
        raise ValueError("Sample weights must contain at least one non-zero number")
    return w


# ---------------------------------------------------------------------------- parameters
def _covariances_from_stats(nk, sx, sxx, means, shift, reg, kind, n):
    """M-step covariances from the moments about ``shift``."""
    d = means.shape[1]
    mc = means - shift  # means about the shift
    if kind in ("full", "tied"):
        sxx = np.triu(sxx) + np.triu(sxx, 1).transpose(0, 2, 1)  # symmetric from the upper half
        if kind == "full":
            cov = sxx / nk[:, None, None] - mc[:, :, None] * mc[:, None, :]
            cov[:, np.arange(d), np.arange(d)] += reg
            return cov
        cov = (sxx.sum(0) - np.einsum("k,ka,kb->ab", nk, mc, mc)) / nk.sum()
        cov[np.arange(d), np.arange(d)] += reg
        return cov
    diag = sxx[:, :, 0] / nk[:, None] - mc * mc + reg
    return diag if kind == "diag" else diag.mean(1)


def _precision_cholesky(cov, kind):
    if kind in ("full", "tied"):
        covs = cov if kind == "full" else cov[None]
        out = np.empty_like(covs)
        for k, c in enumerate(covs):
            try:
                low = np.linalg.cholesky(c)
            except np.linalg.LinAlgError:
                raise ValueError(
                    "Fitting the mixture model failed because some components have "
                    "ill-defined empirical covariance (for instance caused by singleton or "
                    "collapsed samples). Try to decrease the number of components, or increase "
                    "reg_covar.") from None
            inv = np.linalg.solve(low, np.eye(len(c)))  # lower-triangular inverse
            out[k] = inv.T
        return out if kind == "full" else out[0]
    if np.any(cov <= 0.0):
        raise ValueError("Fitting the mixture model failed because some components have "
                         "ill-defined empirical covariance. Try to increase reg_covar.")
    return 1.0 / np.sqrt(cov)


def _precisions(pc, kind):
    """Precision matrices (or their diagonals / scalars) from their Cholesky factors."""
    if kind == "full":
        return np.einsum("kab,kcb->kac", pc, pc)
    if kind == "tied":
        return pc @ pc.T
    return pc ** 2


def _log_det_cholesky(pc, kind, d):
    if kind == "full":
        return np.log(np.diagonal(pc, axis1=1, axis2=2)).sum(1)
    if kind == "tied":
        return np.log(np.diag(pc)).sum()
    if kind == "diag":
        return np.log(pc).sum(1)
    return d * np.log(pc)


def _kernel_params(means, pc, weights, kind):
    """The kernels' arrays: prec (K, D, D) or (K, D, 1), log_det (K,), log_w (K,)."""
    k, d = means.shape
    if kind == "full":
        prec = pc
    elif kind == "tied":
        prec = np.broadcast_to(pc, (k, d, d))
    elif kind == "diag":
        prec = pc[:, :, None]
    else:
        prec = np.broadcast_to(pc[:, None, None], (k, d, 1))
    log_det = np.broadcast_to(_log_det_cholesky(pc, kind, d), (k,))
    with np.errstate(divide="ignore"):
        log_w = np.log(weights)
    return (np.ascontiguousarray(prec, np.float64), np.ascontiguousarray(log_det, np.float64),
            np.ascontiguousarray(log_w, np.float64))


def kmeans(X, n_clusters, rng, n_iter=100, tol=1e-4):
    """Lloyd's k-means from a k-means++ start; returns (centres, labels)."""
    centres = X[kmeans_plusplus(X, n_clusters, rng)].astype(np.float64)
    labels = None
    for _ in range(n_iter):
        d2 = _sq_dist(X, centres)
        labels = d2.argmin(1)
        new = np.array([X[labels == k].mean(0) if np.any(labels == k) else centres[k]
                        for k in range(n_clusters)])
        shift = np.abs(new - centres).max()
        centres = new
        if shift <= tol * max(X.std(), 1e-12):
            break
    return centres, _sq_dist(X, centres).argmin(1)


def _sq_dist(X, C):
    return (X * X).sum(1)[:, None] - 2.0 * X @ C.T + (C * C).sum(1)[None, :]


def kmeans_plusplus(X, n_clusters, rng, sample_weight=None):
    """Indices of k-means++ seeds (Arthur and Vassilvitskii 2007, greedy with 2 + log k tries),
    each sample's chance scaled by its weight.

    Draws from ``rng`` in the same order and with the same calls as scikit-learn's
    ``kmeans_plusplus``, so the same RandomState picks the same seeds."""
    n = X.shape[0]
    w = np.ones(n) if sample_weight is None else sample_weight
    tries = 2 + int(np.log(n_clusters))
    idx = [int(rng.choice(n, p=w / w.sum()))]
    closest = ((X - X[idx[0]]) ** 2).sum(1)
    for _ in range(1, n_clusters):
        total = closest @ w
        if total <= 0:
            cand = rng.randint(n, size=tries)
        else:
            cand = np.searchsorted(np.cumsum(w * closest), rng.uniform(size=tries) * total)
            cand = np.minimum(cand, n - 1)
        dist = ((X[cand][:, None, :] - X[None, :, :]) ** 2).sum(2)
        pots = np.minimum(closest[None, :], dist) @ w
        best = int(np.argmin(pots))
        idx.append(int(cand[best]))
        closest = np.minimum(closest, dist[best])
    return np.array(idx)


# ---------------------------------------------------------------------------- the model
class _Parameters:
    """scikit-learn's estimator protocol over the constructor's parameters: ``get_params``,
    ``set_params`` and a repr naming those that differ from their defaults."""

    @classmethod
    def _get_param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return sorted(name for name in sig.parameters if name != "self")

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's parameters as a dict (scikit-learn's estimator protocol)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params: Any) -> Self:
        """Set constructor parameters by name; returns self."""
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"Invalid parameter {name!r} for estimator {self}. Valid "
                                 f"parameters are: {valid!r}.")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        """The parameters that differ from their defaults, by name, as scikit-learn shows."""
        defaults = {name: p.default
                    for name, p in inspect.signature(type(self).__init__).parameters.items()}
        changed = []
        for name in self._get_param_names():
            value, default = getattr(self, name), defaults[name]
            same = value is default or (
                type(value) is type(default) and not isinstance(value, np.ndarray)
                and value == default)
            if not same:
                changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"


class GaussianMixture(_Parameters):
    """Gaussian mixture model fitted by EM; scikit-learn's ``GaussianMixture`` interface.

    Parameters (those of scikit-learn 1.9, with the same defaults, plus ``dtype``), methods
    (``fit``, ``fit_predict``, ``predict``, ``predict_proba``, ``score_samples``, ``score``,
    ``sample``, ``bic``, ``aic``, ``get_params``, ``set_params``) and learned attributes mean
    what they mean in scikit-learn: ``weights_``, ``means_``, ``covariances_``,
    ``precisions_``, ``precisions_cholesky_``, ``converged_``, ``n_iter_``, ``lower_bound_``
    (the mean log-likelihood of the data under the parameters before the last M-step),
    ``lower_bounds_`` (one per iteration of the best initialisation, a list) and
    ``n_features_in_``.  ``init_params`` is one of "kmeans", "k-means++", "random" and
    "random_from_data" ("kmeans++" is accepted for "k-means++"); the last three draw from
    ``random_state`` exactly as scikit-learn does.  Methods that need a fitted model raise
    :class:`NotFittedError` before ``fit``.  ``dtype`` is the dtype the data are held in for
    the passes (float32 halves the memory traffic; the sums are always accumulated in
    float64).  Passes scikit-learn's ``check_estimator`` (scikit-learn stays optional).
    """

    # learned by fit (annotations only: an unfitted model has none of them)
    weights_: NDArray[np.float64]
    means_: NDArray[np.float64]
    covariances_: NDArray[np.float64]
    precisions_: NDArray[np.float64]
    precisions_cholesky_: NDArray[np.float64]
    converged_: bool
    n_iter_: int
    lower_bound_: float
    lower_bounds_: list[float]
    n_features_in_: int

    def __init__(self, n_components: int = 1, covariance_type: str = "full", tol: float = 1e-3,
                 reg_covar: float = 1e-6, max_iter: int = 100, n_init: int = 1,
                 init_params: str = "kmeans", weights_init: ArrayLike | None = None,
                 means_init: ArrayLike | None = None, precisions_init: ArrayLike | None = None,
                 random_state: int | np.random.RandomState | None = None,
                 warm_start: bool = False, verbose: int = 0, verbose_interval: int = 10,
                 dtype: DTypeLike = np.float64) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.dtype = dtype

    def __sklearn_tags__(self):
        """scikit-learn's estimator tags (scikit-learn >= 1.6); imports scikit-learn only when
        scikit-learn itself asks."""
        from sklearn.utils import Tags, TargetTags

        return Tags(estimator_type="density_estimator", target_tags=TargetTags(required=False))

    # ------------------------------------------------------------------ checks
    def _check_parameters(self):
        k = self.n_components
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"n_components must be an integer >= 1, got {k!r}")
        if self.covariance_type not in COVARIANCE_TYPES:
            raise ValueError(f"covariance_type must be one of {sorted(COVARIANCE_TYPES)}, got "
                             f"{self.covariance_type!r}")
        if self.init_params not in INIT_PARAMS and self.init_params not in INIT_ALIASES:
            raise ValueError(f"init_params must be one of {INIT_PARAMS}, got "
                             f"{self.init_params!r}")
        for name, low in (("tol", 0.0), ("reg_covar", 0.0)):
            v = getattr(self, name)
            if not np.isfinite(v) or v < low:
                raise ValueError(f"{name} must be a finite number >= {low}, got {v!r}")
        if not isinstance(self.max_iter, (int, np.integer)) or self.max_iter < 0:
            raise ValueError(f"max_iter must be an integer >= 0, got {self.max_iter!r}")
        if not isinstance(self.n_init, (int, np.integer)) or self.n_init < 1:
            raise ValueError(f"n_init must be an integer >= 1, got {self.n_init!r}")
        if (isinstance(self.verbose_interval, bool)
                or not isinstance(self.verbose_interval, (int, np.integer))
                or self.verbose_interval < 1):
            raise ValueError(f"verbose_interval must be an integer >= 1, got "
                             f"{self.verbose_interval!r}")
        if np.dtype(self.dtype) not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype!r}")

    def _check_inits(self, d):
        k = self.n_components
        if self.weights_init is not None:
            w = np.asarray(self.weights_init, np.float64)
            if w.shape != (k,) or np.any(w < 0) or np.any(w > 1) or abs(w.sum() - 1) > 1e-6:
                raise ValueError(f"weights_init must be {k} non-negative weights summing to 1")
        if self.means_init is not None and np.shape(self.means_init) != (k, d):
            raise ValueError(f"means_init must have shape {(k, d)}, got "
                             f"{np.shape(self.means_init)}")
        if self.precisions_init is not None:
            shape = {"full": (k, d, d), "tied": (d, d), "diag": (k, d),
                     "spherical": (k,)}[self.covariance_type]
            if np.shape(self.precisions_init) != shape:
                raise ValueError(f"precisions_init must have shape {shape} for "
                                 f"{self.covariance_type} covariance, got "
                                 f"{np.shape(self.precisions_init)}")

    # ------------------------------------------------------------------ EM steps
    def _initialize_parameters(self, X, rng):
        n, d = X.shape
        k = self.n_components
        if (self.weights_init is not None and self.means_init is not None
                and self.precisions_init is not None):
            # everything given: the init procedure's estimates would all be overridden
            self.weights_ = np.asarray(self.weights_init, np.float64).copy()
            self.means_ = np.asarray(self.means_init, np.float64).copy()
            self._initialize_precisions()
            return
        init = INIT_ALIASES.get(self.init_params, self.init_params)
        if init == "kmeans":
            _, labels = kmeans(X.astype(np.float64), k, rng)
            resp = np.zeros((n, k))
            resp[np.arange(n), labels] = 1.0
        elif init == "random":
            resp = rng.uniform(size=(n, k))
            resp /= resp.sum(1)[:, None]
        elif init == "random_from_data":
            resp = np.zeros((n, k))
            resp[rng.choice(n, size=k, replace=False), np.arange(k)] = 1.0
        else:  # k-means++
            resp = np.zeros((n, k))
            resp[kmeans_plusplus(X.astype(np.float64), k, rng), np.arange(k)] = 1.0
        self._initialize(X, resp)

    def _initialize(self, X, resp):
        """Parameters from initial responsibilities, overridden by the *_init arguments."""
        n = X.shape[0]
        Xd = X.astype(np.float64)
        nk = resp.sum(0) + 10 * np.finfo(np.float64).eps
        means = resp.T @ Xd / nk[:, None]
        cov = self._dense_covariances(Xd, resp, nk, means)
        self.weights_ = (nk / n if self.weights_init is None
                         else np.asarray(self.weights_init, np.float64).copy())
        self.means_ = means if self.means_init is None else np.asarray(self.means_init,
                                                                       np.float64).copy()
        if self.precisions_init is None:
            self.covariances_ = cov
            self.precisions_cholesky_ = _precision_cholesky(cov, self.covariance_type)
            self.precisions_ = _precisions(self.precisions_cholesky_, self.covariance_type)
        else:
            self._initialize_precisions()

    def _initialize_precisions(self):
        kind = self.covariance_type
        p = np.asarray(self.precisions_init, np.float64)
        if kind == "full":
            self.precisions_cholesky_ = np.array([np.linalg.cholesky(pk) for pk in p])
        elif kind == "tied":
            self.precisions_cholesky_ = np.linalg.cholesky(p)
        else:
            self.precisions_cholesky_ = np.sqrt(p)
        self.precisions_ = _precisions(self.precisions_cholesky_, kind)
        self.covariances_ = (np.linalg.inv(self.precisions_) if kind in ("full", "tied")
                             else 1.0 / self.precisions_)

    def _dense_covariances(self, X, resp, nk, means):
        """scikit-learn's two-pass covariance estimates (used once, at initialisation)."""
        kind, reg = self.covariance_type, self.reg_covar
        d = X.shape[1]
        if kind == "full":
            cov = np.empty((len(nk), d, d))
            for k in range(len(nk)):
                diff = X - means[k]
                cov[k] = (resp[:, k] * diff.T) @ diff / nk[k]
                cov[k].flat[:: d + 1] += reg
            return cov
        if kind == "tied":
            cov = X.T @ X - (nk * means.T) @ means
            cov /= nk.sum()
            cov.flat[:: d + 1] += reg
            return cov
        diag = resp.T @ (X * X) / nk[:, None] - means ** 2 + reg
        return diag if kind == "diag" else diag.mean(1)

    def _em_iteration(self, X, shift, parts):
        """One pass: the mean log-likelihood of the current parameters, then the M-step."""
        kind = self.covariance_type
        prec, log_det, log_w = _kernel_params(self.means_, self.precisions_cholesky_,
                                              self.weights_, kind)
        part_n, part_x, part_xx, part_ll = parts
        with _parallel.one_at_a_time():
            ek.em_pass(X, self.means_, prec, log_det, log_w, COVARIANCE_TYPES[kind], shift,
                       CHUNK, part_n, part_x, part_xx, part_ll, ek._POW2_NEG)
        n = X.shape[0]
        ll = part_ll.sum() / n
        nk = part_n.sum(0) + 10 * np.finfo(np.float64).eps
        sx = part_x.sum(0)
        sxx = part_xx.sum(0)
        means = shift + sx / nk[:, None]
        cov = _covariances_from_stats(nk, sx, sxx, means, shift, self.reg_covar, kind, n)
        self.weights_ = nk / nk.sum()
        self.means_ = means
        self.covariances_ = cov
        self.precisions_cholesky_ = _precision_cholesky(cov, kind)
        return ll

    # ------------------------------------------------------------------ fitting
    def fit(self, X: ArrayLike, y: object = None) -> GaussianMixture:
        """Estimate the parameters with EM; returns self."""
        self.fit_predict(X, y)
        return self

    def fit_predict(self, X: ArrayLike, y: object = None) -> NDArray[np.intp]:
        """Fit, then the most likely component of each sample (after a final E-step)."""
        self._check_parameters()
        X = _check_X(X, self.dtype, min_samples=max(2, self.n_components))
        n, d = X.shape
        self._check_inits(d)
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        n_init = self.n_init if do_init else 1
        rng = _rng(self.random_state)
        shift = X.mean(0, dtype=np.float64)
        n_chunks = (n + CHUNK - 1) // CHUNK
        full = self.covariance_type in ("full", "tied")
        parts = (np.empty((n_chunks, self.n_components)),
                 np.empty((n_chunks, self.n_components, d)),
                 np.empty((n_chunks, self.n_components, d, d if full else 1)),
                 np.empty(n_chunks))
        best = None
        max_lower_bound = -np.inf
        self.converged_ = False
        history = []
        for init in range(n_init):
            if self.verbose:  # scikit-learn's progress messages
                print(f"Initialization {init}")
                t_init = t_iter = time.time()
            if do_init:
                self._initialize_parameters(X, rng)
            lower_bound = -np.inf if do_init else self.lower_bound_
            n_iter = 0
            converged = False
            trace = []
            for n_iter in range(1, self.max_iter + 1):
                prev = lower_bound
                lower_bound = self._em_iteration(X, shift, parts)
                trace.append(lower_bound)
                if self.verbose and n_iter % self.verbose_interval == 0:
                    if self.verbose >= 2:
                        now = time.time()
                        print(f"  Iteration {n_iter}\t time lapse {now - t_iter:.5f}s\t ll "
                              f"change {lower_bound - prev:.5f}")
                        t_iter = now
                    else:
                        print(f"  Iteration {n_iter}")
                if abs(lower_bound - prev) < self.tol:
                    converged = True
                    break
            if self.verbose and self.max_iter > 0:
                msg = f"Initialization {'converged' if converged else 'did not converge'}."
                if self.verbose >= 2:
                    msg += (f" time lapse {time.time() - t_init:.5f}s\t lower bound "
                            f"{lower_bound:.5f}.")
                print(msg)
            if lower_bound > max_lower_bound or max_lower_bound == -np.inf:
                max_lower_bound = lower_bound
                best = self._get_parameters()
                best_n_iter = n_iter
                self.converged_ = converged
                history = trace
        if not self.converged_ and self.max_iter > 0:
            warnings.warn(f"EM did not converge in {self.max_iter} iterations (n_init="
                          f"{self.n_init}); try a larger max_iter or tol, or check the data",
                          ConvergenceWarning, stacklevel=2)
        self._set_parameters(best)
        self.n_iter_ = best_n_iter
        self.lower_bound_ = max_lower_bound
        self.lower_bounds_ = history  # a list, as in scikit-learn
        self.n_features_in_ = d
        return self._weighted_log_prob(X).argmax(1)

    def _get_parameters(self):
        return (self.weights_.copy(), self.means_.copy(), np.copy(self.covariances_),
                np.copy(self.precisions_cholesky_))

    def _set_parameters(self, params):
        self.weights_, self.means_, self.covariances_, self.precisions_cholesky_ = params
        self.precisions_ = _precisions(self.precisions_cholesky_, self.covariance_type)

    # ------------------------------------------------------------------ inference
    def _check_fitted(self):
        if not hasattr(self, "means_"):
            raise _not_fitted(self)

    def _weighted_log_prob(self, X):
        prec, log_det, log_w = _kernel_params(self.means_, self.precisions_cholesky_,
                                              self.weights_, self.covariance_type)
        out = np.empty((X.shape[0], self.n_components))
        with _parallel.one_at_a_time():
            ek.weighted_log_prob(X, self.means_, prec, log_det, log_w,
                                 COVARIANCE_TYPES[self.covariance_type], out)
        return out

    def _prepare(self, X: ArrayLike) -> NDArray[Any]:
        self._check_fitted()
        return _check_X(X, self.dtype, n_features=self.means_.shape[1], estimator=self)

    def score_samples(self, X: ArrayLike) -> NDArray[np.float64]:
        """Log-density of each sample under the mixture."""
        wlp = self._weighted_log_prob(self._prepare(X))
        m = wlp.max(1)
        return m + np.log(np.exp(wlp - m[:, None]).sum(1))

    def score(self, X: ArrayLike, y: object = None) -> float:
        """Mean log-likelihood of the samples."""
        return float(self.score_samples(X).mean())

    def predict(self, X: ArrayLike) -> NDArray[np.intp]:
        """The most likely component of each sample."""
        return self._weighted_log_prob(self._prepare(X)).argmax(1)

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Each component's posterior probability for each sample, (n_samples, K)."""
        wlp = self._weighted_log_prob(self._prepare(X))
        m = wlp.max(1)
        log_norm = m + np.log(np.exp(wlp - m[:, None]).sum(1))
        return np.exp(wlp - log_norm[:, None])

    def sample(self, n_samples: int = 1) -> tuple[NDArray[np.float64], NDArray[np.int_]]:
        """Draw from the fitted model: (X (n_samples, D), component labels)."""
        self._check_fitted()
        if n_samples < 1:
            raise ValueError(f"n_samples must be >= 1, got {n_samples}")
        rng = _rng(self.random_state)
        d = self.means_.shape[1]
        counts = rng.multinomial(n_samples, self.weights_)
        kind = self.covariance_type
        xs = []
        for k, (mean, c) in enumerate(zip(self.means_, counts)):
            if kind == "full":
                xs.append(rng.multivariate_normal(mean, self.covariances_[k], int(c)))
            elif kind == "tied":
                xs.append(rng.multivariate_normal(mean, self.covariances_, int(c)))
            else:
                sd = np.sqrt(self.covariances_[k])
                xs.append(mean + rng.standard_normal(size=(int(c), d)) * sd)
        labels = np.concatenate([np.full(c, k, int) for k, c in enumerate(counts)])
        return np.vstack(xs), labels

    def _n_parameters(self):
        k, d = self.means_.shape
        cov = {"full": k * d * (d + 1) / 2, "diag": k * d, "tied": d * (d + 1) / 2,
               "spherical": k}[self.covariance_type]
        return int(cov + k * d + k - 1)

    def bic(self, X: ArrayLike) -> float:
        """Bayesian information criterion (lower is better)."""
        X = self._prepare(X)
        return -2 * self.score(X) * X.shape[0] + self._n_parameters() * math.log(X.shape[0])

    def aic(self, X: ArrayLike) -> float:
        """Akaike information criterion (lower is better)."""
        X = self._prepare(X)
        return -2 * self.score(X) * X.shape[0] + 2 * self._n_parameters()


def select_components(X: ArrayLike, n_components: Iterable[int] = range(1, 11),
                      criterion: str = "bic",
                      **params: Any) -> tuple[GaussianMixture | None, list[tuple[int, float]]]:
    """Fit one model per candidate K; returns (best model, [(K, score), ...]); the model is
    None when no candidate K is at most the number of samples.  ``criterion``:
    "bic" or "aic" (lower is better)."""
    if criterion not in ("bic", "aic"):
        raise ValueError(f"criterion must be 'bic' or 'aic', got {criterion!r}")
    candidates = list(n_components)
    if not candidates:
        raise ValueError("n_components: no candidates given")
    X = _check_X(X, params.get("dtype", np.float64), min_samples=2)
    best, best_score, table = None, np.inf, []
    for k in candidates:
        if k > X.shape[0]:
            break
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = GaussianMixture(n_components=k, **params).fit(X)
        score = getattr(model, criterion)(X)
        table.append((k, float(score)))
        if score < best_score:
            best, best_score = model, score
    return best, table


# ---------------------------------------------------------------------------- k-means
class KMeans(_Parameters):
    """K-means clustering by Lloyd's algorithm: every point is assigned to its nearest centre
    (a hard assignment), every centre moves to the mean of its points.

    scikit-learn's ``KMeans`` interface: ``n_clusters``, ``init`` ("k-means++", "random" or an
    (n_clusters, n_features) array), ``n_init`` ("auto": 1 for k-means++ and an array, 10 for
    random), ``max_iter``, ``tol`` (relative to the mean variance of the features),
    ``random_state``; ``fit``, ``predict``, ``fit_predict``, ``transform``, ``fit_transform``,
    ``score``; ``cluster_centers_``, ``labels_``, ``inertia_``, ``n_iter_`` and
    ``n_features_in_``; ``sample_weight`` in ``fit``, ``fit_predict``, ``fit_transform`` and
    ``score``.  k-means++ and random seeds are drawn as scikit-learn draws them (same
    RandomState, same seeds, weights included).  An empty cluster is moved to the point
    farthest from its centre, as in scikit-learn.  Passes scikit-learn's ``check_estimator``
    except ``check_sample_weight_equivalence_on_dense_data``, which scikit-learn's own KMeans
    fails too: weights and repeated rows draw different seeds."""

    # learned by fit (annotations only: an unfitted model has none of them)
    cluster_centers_: NDArray[np.float64]
    labels_: NDArray[np.int64]
    inertia_: float
    n_iter_: int
    n_features_in_: int

    def __init__(self, n_clusters: int = 8, *, init: str | ArrayLike = "k-means++",
                 n_init: int | str = "auto", max_iter: int = 300, tol: float = 1e-4,
                 verbose: int = 0, random_state: int | np.random.RandomState | None = None,
                 copy_x: bool = True, algorithm: str = "lloyd") -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose
        self.random_state = random_state
        self.copy_x = copy_x
        self.algorithm = algorithm

    def __sklearn_tags__(self):
        """scikit-learn's estimator tags (scikit-learn >= 1.6): a clusterer and a transformer
        (``transform`` returns float64)."""
        from sklearn.utils import Tags, TargetTags, TransformerTags

        return Tags(estimator_type="clusterer", target_tags=TargetTags(required=False),
                    transformer_tags=TransformerTags(preserves_dtype=["float64"]))

    def _check(self, X: ArrayLike) -> tuple[NDArray[np.float64], Any, int]:
        if not isinstance(self.n_clusters, (int, np.integer)) or self.n_clusters < 1:
            raise ValueError(f"n_clusters must be an integer >= 1, got {self.n_clusters!r}")
        if not isinstance(self.max_iter, (int, np.integer)) or self.max_iter < 1:
            raise ValueError(f"max_iter must be an integer >= 1, got {self.max_iter!r}")
        if self.tol < 0:
            raise ValueError(f"tol must be >= 0, got {self.tol!r}")
        if self.algorithm not in ("lloyd", "elkan"):  # elkan gives the same result
            raise ValueError(f"algorithm must be 'lloyd', got {self.algorithm!r}")
        X = _check_X(X, np.float64, min_samples=self.n_clusters)
        init = self.init
        if isinstance(init, str):
            if init not in ("k-means++", "random"):
                raise ValueError(f"init must be 'k-means++', 'random' or an array, got {init!r}")
            n_init = (1 if init == "k-means++" else 10) if self.n_init == "auto" else self.n_init
        else:
            init = np.asarray(init, np.float64)
            if init.shape != (self.n_clusters, X.shape[1]):
                raise ValueError(f"init array has shape {init.shape}, expected "
                                 f"{(self.n_clusters, X.shape[1])}")
            n_init = 1
        if not isinstance(n_init, (int, np.integer)) or n_init < 1:
            raise ValueError(f"n_init must be 'auto' or an integer >= 1, got {self.n_init!r}")
        return X, init, int(n_init)

    def fit(self, X: ArrayLike, y: object = None,
            sample_weight: ArrayLike | None = None) -> KMeans:
        """Cluster ``X``; ``sample_weight`` (one non-negative weight a sample, as in
        scikit-learn) weights the seeding, the centres and the inertia.  Returns self."""
        X, init, n_init = self._check(X)
        w = _check_sample_weight(sample_weight, X.shape[0])
        w = np.ones(X.shape[0]) if w is None else w
        rng = _rng(self.random_state)
        mean = X.mean(0)
        Xc = X - mean  # as scikit-learn: distances about the mean are better conditioned
        tol = float(self.tol * np.var(X, axis=0).mean())
        best = None
        for _ in range(n_init):
            if isinstance(init, str) and init == "k-means++":
                centres = Xc[kmeans_plusplus(Xc, self.n_clusters, rng, w)].copy()
            elif isinstance(init, str):  # drawn as scikit-learn draws them
                centres = Xc[rng.choice(Xc.shape[0], self.n_clusters, replace=False,
                                        p=w / w.sum())].copy()
            else:
                centres = init - mean
            labels, centres, inertia, n_iter = _lloyd(Xc, centres, self.max_iter, tol, w)
            if self.verbose:
                print(f"k-means: {n_iter} iterations, inertia {inertia:.6g}")
            if best is None or inertia < best[2]:
                best = (labels, centres, inertia, n_iter)
        assert best is not None  # n_init >= 1
        labels, centres, inertia, n_iter = best
        self.cluster_centers_ = centres + mean
        self.labels_ = labels
        self.inertia_ = float(inertia)
        self.n_iter_ = int(n_iter)
        self.n_features_in_ = X.shape[1]
        return self

    def _check_fitted(self):
        if not hasattr(self, "cluster_centers_"):
            raise _not_fitted(self)

    def predict(self, X: ArrayLike) -> NDArray[np.int64]:
        """The nearest centre of each sample."""
        self._check_fitted()
        X = _check_X(X, np.float64, n_features=self.n_features_in_, estimator=self)
        return _assign(X, self.cluster_centers_)[0]

    def fit_predict(self, X: ArrayLike, y: object = None,
                    sample_weight: ArrayLike | None = None) -> NDArray[np.int64]:
        return self.fit(X, sample_weight=sample_weight).labels_

    def transform(self, X: ArrayLike) -> NDArray[np.float64]:
        """Distances to every centre, (n_samples, n_clusters)."""
        self._check_fitted()
        X = _check_X(X, np.float64, n_features=self.n_features_in_, estimator=self)
        return np.sqrt(np.maximum(_sq_dist(X, self.cluster_centers_), 0))

    def fit_transform(self, X: ArrayLike, y: object = None,
                      sample_weight: ArrayLike | None = None) -> NDArray[np.float64]:
        return self.fit(X, sample_weight=sample_weight).transform(X)

    def score(self, X: ArrayLike, y: object = None,
              sample_weight: ArrayLike | None = None) -> float:
        """Minus the (weighted) inertia of ``X`` on the fitted centres."""
        self._check_fitted()
        X = _check_X(X, np.float64, n_features=self.n_features_in_, estimator=self)
        d2 = _assign(X, self.cluster_centers_)[1]
        w = _check_sample_weight(sample_weight, X.shape[0])
        return -float(d2.sum() if w is None else d2 @ w)


def _assign(X, centres, chunk=65536):
    """Nearest centre of each point and the squared distance to it, in chunks."""
    n = X.shape[0]
    labels = np.empty(n, np.int64)
    d2 = np.empty(n)
    cc = (centres * centres).sum(1)
    for a in range(0, n, chunk):
        x = X[a:a + chunk]
        d = (x * x).sum(1)[:, None] - 2.0 * x @ centres.T + cc[None, :]
        labels[a:a + chunk] = d.argmin(1)
        d2[a:a + chunk] = np.maximum(d[np.arange(len(x)), labels[a:a + chunk]], 0)
    return labels, d2


def _update(X, labels, d2, k, w):
    """Weighted centre means; an empty cluster (no weight) takes the point of non-zero weight
    farthest from its centre."""
    counts = np.bincount(labels, weights=w, minlength=k)
    sums = np.zeros((k, X.shape[1]))
    np.add.at(sums, labels, X * w[:, None])
    empty = np.flatnonzero(counts == 0)
    if len(empty):
        far = np.argsort(-np.where(w > 0, d2, -1.0), kind="stable")[:len(empty)]
        for e, i in zip(empty, far):
            old = labels[i]
            counts[old] -= w[i]
            sums[old] -= X[i] * w[i]
            counts[e], sums[e] = w[i], X[i] * w[i]
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts[:, None]


def _lloyd(X, centres, max_iter, tol, w):
    """Lloyd iterations as scikit-learn runs them: stop when the labels no longer change
    (strict convergence) or the centres' total squared shift is <= tol; labels and inertia are
    those of the final centres."""
    k = centres.shape[0]
    labels_old = None
    n_iter = 0
    strict = False
    labels = d2 = None
    for n_iter in range(1, max_iter + 1):
        labels, d2 = _assign(X, centres)
        new = _update(X, labels, d2, k, w)
        if labels_old is not None and np.array_equal(labels, labels_old):
            strict = True
            break
        shift = float(((new - centres) ** 2).sum())
        centres, labels_old = new, labels
        if shift <= tol:
            break
    if not strict:
        labels, d2 = _assign(X, centres)
    return labels, centres, float(d2 @ w), n_iter


def adjusted_rand_score(labels_true: ArrayLike, labels_pred: ArrayLike) -> float:
    """Hubert and Arabie's adjusted Rand index of two labelings: 1 for the same partition
    (whatever the label names), about 0 for random labels, negative below chance."""
    a = np.asarray(labels_true).ravel()
    b = np.asarray(labels_pred).ravel()
    if a.shape != b.shape:
        raise ValueError(f"labelings of different lengths: {a.size} and {b.size}")
    n = a.size
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    table = np.zeros((ai.max(initial=-1) + 1, bi.max(initial=-1) + 1), np.int64)
    np.add.at(table, (ai, bi), 1)

    def pairs(v):
        v = np.asarray(v, np.float64)
        return float((v * (v - 1) / 2).sum())

    index = pairs(table)
    rows, cols = pairs(table.sum(1)), pairs(table.sum(0))
    total = n * (n - 1) / 2
    expected = rows * cols / total if total else 0.0
    maximum = (rows + cols) / 2
    if maximum == expected:  # both trivial (one cluster, or all singletons): identical
        return 1.0
    return float((index - expected) / (maximum - expected))


def demo_data(name: str, seed: int = 0):
    """Built-in 2-D data with true labels, where k-means' round, equal-sized clusters fail:
    ``"elongated"`` (three long parallel clusters) or ``"unequal"`` (a large spread cluster
    beside two small tight ones).  Returns (X, labels)."""
    rng = np.random.RandomState(seed)
    if name == "elongated":
        angle = np.deg2rad(30)
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        cov = rot @ np.diag([3.0 ** 2, 0.35 ** 2]) @ rot.T
        normal = rot @ np.array([0.0, 1.0])
        parts = [rng.multivariate_normal(normal * off, cov, 300) for off in (-2.2, 0.0, 2.2)]
    elif name == "unequal":
        parts = [rng.multivariate_normal([0, 0], np.eye(2) * 2.2 ** 2, 700),
                 rng.multivariate_normal([5.0, 1.5], np.eye(2) * 0.35 ** 2, 60),
                 rng.multivariate_normal([4.5, -2.0], np.eye(2) * 0.35 ** 2, 60)]
    else:
        raise ValueError(f"unknown demo data {name!r}: 'elongated' or 'unequal'")
    X = np.vstack(parts)
    labels = np.repeat(np.arange(len(parts)), [len(p) for p in parts])
    return X, labels
