"""Batch EM: recovery of known mixtures, agreement with scikit-learn from the same start (and
a scikit-learn script run unchanged against both classes), the lower bound, sampling, model
selection, bad input, and the per-pixel fit."""

import warnings

import numpy as np
import pytest

from bgsub import MixtureSubtractor
from bgsub.em.mixture import ConvergenceWarning, GaussianMixture, NotFittedError, select_components

COV_TYPES = ["full", "tied", "diag", "spherical"]


def three_clusters(n=6000, seed=0):
    rng = np.random.default_rng(seed)
    means = np.array([[0.0, 0.0], [8.0, 1.0], [2.0, 9.0]])
    covs = np.array([[[1.0, 0.6], [0.6, 1.0]], [[2.0, -0.5], [-0.5, 0.5]], [[0.7, 0.0],
                                                                             [0.0, 1.5]]])
    weights = np.array([0.5, 0.3, 0.2])
    labels = rng.choice(3, n, p=weights)
    X = np.array([rng.multivariate_normal(means[k], covs[k]) for k in labels])
    return X, means, covs, weights


def test_recovers_a_known_mixture():
    X, means, covs, weights = three_clusters()
    g = GaussianMixture(3, random_state=0).fit(X)
    order = np.argsort(g.means_[:, 0] + 10 * g.means_[:, 1])
    truth = np.argsort(means[:, 0] + 10 * means[:, 1])
    np.testing.assert_allclose(g.means_[order], means[truth], atol=0.1)
    np.testing.assert_allclose(g.weights_[order], weights[truth], atol=0.02)
    np.testing.assert_allclose(g.covariances_[order], covs[truth], atol=0.15)
    assert g.converged_ and g.n_iter_ < 100


@pytest.mark.parametrize("cov", COV_TYPES)
def test_agrees_with_scikit_learn_from_the_same_start(cov):
    sk_mixture = pytest.importorskip("sklearn.mixture", reason="scikit-learn is a test extra")
    X, *_ = three_clusters(3000, seed=1)
    X = np.hstack([X, np.random.default_rng(2).normal(size=(len(X), 1))])  # D = 3
    start = sk_mixture.GaussianMixture(3, covariance_type=cov, max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start.fit(X)
    init = dict(weights_init=start.weights_, means_init=start.means_,
                precisions_init=start.precisions_)
    kw = dict(covariance_type=cov, max_iter=30, tol=1e-10, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = sk_mixture.GaussianMixture(3, **kw).fit(X)
        b = GaussianMixture(3, **kw).fit(X)
    assert a.n_iter_ == b.n_iter_
    assert b.lower_bound_ == pytest.approx(a.lower_bound_, rel=1e-12)
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(b, name), getattr(a, name), rtol=1e-9, atol=1e-12,
                                   err_msg=name)
    np.testing.assert_allclose(b.score_samples(X), a.score_samples(X), rtol=1e-10)
    np.testing.assert_allclose(b.predict_proba(X), a.predict_proba(X), atol=1e-10)
    assert b.bic(X) == pytest.approx(a.bic(X), rel=1e-10)
    assert b.aic(X) == pytest.approx(a.aic(X), rel=1e-10)


@pytest.mark.parametrize("cov", COV_TYPES)
@pytest.mark.parametrize("init", ["kmeans", "k-means++", "random", "random_from_data"])
def test_lower_bound_never_decreases(cov, init):
    X, *_ = three_clusters(2000, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        g = GaussianMixture(4, covariance_type=cov, init_params=init, random_state=1,
                            max_iter=60, tol=1e-9).fit(X)
    lb = g.lower_bounds_
    assert len(lb) >= 2
    assert np.all(np.diff(lb) >= -1e-10 * np.abs(lb[1:])), np.diff(lb).min()
    assert g.lower_bound_ == pytest.approx(max(lb))


@pytest.mark.parametrize("cov", COV_TYPES)
def test_samples_follow_the_model(cov):
    X, *_ = three_clusters(3000, seed=4)
    g = GaussianMixture(3, covariance_type=cov, random_state=0).fit(X)
    S, labels = g.sample(200_000)
    assert S.shape == (200_000, 2)
    np.testing.assert_allclose(np.bincount(labels) / len(labels), g.weights_, atol=0.005)
    for k in range(3):
        sk = S[labels == k]
        np.testing.assert_allclose(sk.mean(0), g.means_[k], atol=0.05)
        cov_k = {"full": lambda: g.covariances_[k], "tied": lambda: g.covariances_,
                 "diag": lambda: np.diag(g.covariances_[k]),
                 "spherical": lambda: np.eye(2) * g.covariances_[k]}[cov]()
        np.testing.assert_allclose(np.cov(sk.T), cov_k, atol=0.06)


def test_float32_data_gives_the_same_fit():
    X, *_ = three_clusters(4000, seed=5)
    a = GaussianMixture(3, random_state=0).fit(X)
    b = GaussianMixture(3, random_state=0, dtype=np.float32).fit(X)
    np.testing.assert_allclose(b.means_, a.means_, atol=1e-4)
    assert b.lower_bound_ == pytest.approx(a.lower_bound_, rel=1e-5)


def test_select_components_by_bic():
    X, *_ = three_clusters(3000, seed=6)
    best, table = select_components(X, range(1, 7), random_state=0)
    assert best.n_components == 3
    assert [k for k, _ in table] == [1, 2, 3, 4, 5, 6]
    assert min(table, key=lambda t: t[1])[0] == 3


def test_predict_and_fit_predict_agree():
    X, *_ = three_clusters(1500, seed=7)
    g = GaussianMixture(3, random_state=0)
    labels = g.fit_predict(X)
    np.testing.assert_array_equal(labels, g.predict(X))
    np.testing.assert_allclose(g.predict_proba(X).sum(1), 1.0)
    assert g.score(X) == pytest.approx(g.score_samples(X).mean())


@pytest.mark.parametrize("X, message", [
    (np.array([[0.0, 1.0], [np.nan, 2.0], [3.0, 4.0]]), "NaN or infinite"),
    (np.array([[0.0, 1.0], [np.inf, 2.0], [3.0, 4.0]]), "NaN or infinite"),
    (np.zeros((2, 2)), "at least 3"),
    (np.zeros(10), "2-D"),
    (np.array([["a", "b"]]), "numeric"),
])
def test_bad_data(X, message):
    with pytest.raises(ValueError, match=message):
        GaussianMixture(3).fit(X)


@pytest.mark.parametrize("params, message", [
    (dict(n_components=0), "n_components"),
    (dict(covariance_type="round"), "covariance_type"),
    (dict(init_params="magic"), "init_params"),
    (dict(reg_covar=-1.0), "reg_covar"),
    (dict(max_iter=-1), "max_iter"),
    (dict(means_init=np.zeros((3, 5))), "means_init"),
])
def test_bad_parameters(params, message):
    X, *_ = three_clusters(300)
    with pytest.raises(ValueError, match=message):
        GaussianMixture(**{"n_components": 2, **params}).fit(X)


def test_wrong_dimension_and_unfitted_model():
    X, *_ = three_clusters(300)
    g = GaussianMixture(2, random_state=0)
    for call in (lambda: g.predict(X), lambda: g.predict_proba(X), lambda: g.score(X),
                 lambda: g.score_samples(X), lambda: g.bic(X), lambda: g.aic(X),
                 lambda: g.sample(3)):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            call()
    g.fit(X)
    with pytest.raises(ValueError, match="3 features, but GaussianMixture is expecting 2"):
        g.predict(np.zeros((4, 3)))


def test_collapsed_component_is_held_by_reg_covar():
    # 5 identical points and a spread cloud: one component collapses onto the duplicates
    rng = np.random.default_rng(8)
    X = np.vstack([np.tile([[5.0, 5.0]], (50, 1)), rng.normal(size=(200, 2))])
    g = GaussianMixture(2, random_state=0, reg_covar=1e-6).fit(X)
    assert np.isfinite(g.lower_bound_)
    assert np.all(np.linalg.eigvalsh(g.covariances_) >= 1e-6 * 0.99)


def test_non_convergence_warns_with_the_iteration_count():
    X, *_ = three_clusters(1000)
    with pytest.warns(ConvergenceWarning, match="did not converge in 2 iterations"):
        GaussianMixture(3, max_iter=2, tol=1e-12, random_state=0).fit(X)


def test_warm_start_continues_from_the_last_fit():
    X, *_ = three_clusters(1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        g = GaussianMixture(3, max_iter=3, tol=0, warm_start=True, random_state=0).fit(X)
        first = g.lower_bound_
        g.fit(X)
    assert g.lower_bounds_[0] >= first - 1e-12  # picked up where it stopped


# ---------------------------------------------------------------------------- as scikit-learn
def sklearn_script(GaussianMixture, init_params, covariance_type):
    """A script written for ``sklearn.mixture.GaussianMixture``; it is run with each class and
    returns what it saw.  Nothing in it knows which class it has."""
    from sklearn.base import clone

    seen = {}
    X, *_ = three_clusters(1200, seed=12)
    X_new = X[:300] + 0.25
    gm = GaussianMixture(n_components=3, covariance_type=covariance_type,
                         init_params=init_params, n_init=2, random_state=0, tol=1e-5,
                         max_iter=300)
    seen["repr"] = " ".join(repr(gm).split())
    for name, call in (("predict", lambda: gm.predict(X_new)),
                       ("predict_proba", lambda: gm.predict_proba(X_new)),
                       ("score_samples", lambda: gm.score_samples(X_new)),
                       ("score", lambda: gm.score(X_new)), ("bic", lambda: gm.bic(X_new)),
                       ("aic", lambda: gm.aic(X_new)), ("sample", lambda: gm.sample(5))):
        try:  # scikit-learn's NotFittedError is an AttributeError...
            call()
            seen[f"unfitted {name} (AttributeError)"] = "no error"
        except AttributeError as exc:
            seen[f"unfitted {name} (AttributeError)"] = type(exc).__name__
        try:  # ... and a ValueError
            call()
            seen[f"unfitted {name} (ValueError)"] = "no error"
        except ValueError as exc:
            seen[f"unfitted {name} (ValueError)"] = type(exc).__name__
    seen["fitted before fit"] = hasattr(gm, "means_")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        seen["fit_predict"] = gm.fit_predict(X)
    seen["warnings"] = sorted({w.category.__name__ for w in caught})
    for attr in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_",
                 "converged_", "n_iter_", "lower_bound_", "lower_bounds_", "n_features_in_"):
        seen[attr] = getattr(gm, attr)
    seen["predict"] = gm.predict(X_new)
    seen["predict_proba"] = gm.predict_proba(X_new)
    seen["score_samples"] = gm.score_samples(X_new)
    seen["score"] = gm.score(X_new)
    seen["bic"] = gm.bic(X_new)
    seen["aic"] = gm.aic(X_new)
    seen["sample"] = gm.sample(400)
    params = gm.get_params()
    seen["params"] = {k: params[k] for k in ("n_components", "covariance_type", "init_params",
                                             "n_init", "random_state", "tol", "max_iter",
                                             "reg_covar", "warm_start", "verbose",
                                             "verbose_interval", "weights_init")}
    twin = clone(gm)  # unfitted, same parameters
    seen["clone fitted"] = hasattr(twin, "means_")
    seen["clone repr"] = " ".join(repr(twin).split())
    twin.set_params(n_components=2, max_iter=500).fit(X)
    seen["refit K=2 means"] = twin.means_
    seen["refit K=2 lower bound"] = twin.lower_bound_
    try:
        gm.set_params(n_component=2)
        seen["bad set_params"] = "no error"
    except ValueError as exc:
        seen["bad set_params"] = type(exc).__name__
    return seen


def _assert_same(ours, theirs, path="script"):
    if isinstance(theirs, dict):
        assert sorted(ours) == sorted(theirs), path
        for key in theirs:
            _assert_same(ours[key], theirs[key], f"{path}[{key!r}]")
    elif isinstance(theirs, (tuple, list)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _assert_same(a, b, f"{path}[{i}]")
    elif isinstance(theirs, np.ndarray):
        assert isinstance(ours, np.ndarray) and ours.shape == theirs.shape, path
        assert ours.dtype == theirs.dtype, (path, ours.dtype, theirs.dtype)
        if theirs.dtype.kind == "f":
            np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-10, err_msg=path)
        else:
            np.testing.assert_array_equal(ours, theirs, err_msg=path)
    elif isinstance(theirs, float):
        assert type(ours) is type(theirs), (path, type(ours), type(theirs))
        assert ours == pytest.approx(theirs, rel=1e-10, abs=1e-10), path
    else:
        assert type(ours) is type(theirs) and ours == theirs, (path, ours, theirs)


@pytest.mark.parametrize("init, cov", [("kmeans", "full"), ("k-means++", "tied"),
                                       ("random", "diag"), ("random_from_data", "spherical")])
def test_a_scikit_learn_script_runs_unchanged_with_the_same_results(init, cov):
    sk_mixture = pytest.importorskip("sklearn.mixture", reason="scikit-learn is a test extra")
    theirs = sklearn_script(sk_mixture.GaussianMixture, init, cov)
    ours = sklearn_script(GaussianMixture, init, cov)
    # what the script saw of the unfitted model: the one exception, caught either way
    for key, value in theirs.items():
        if key.startswith("unfitted"):
            assert value == "NotFittedError", (key, value)
    assert theirs["fit_predict"].size == 1200 and theirs["n_features_in_"] == 2
    _assert_same(ours, theirs)


def test_not_fitted_error_is_both_value_and_attribute_error():
    import bgsub

    assert bgsub.NotFittedError is NotFittedError
    assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)
    g = GaussianMixture(2)
    with pytest.raises(AttributeError):
        g.sample(1)
    assert not hasattr(g, "means_")


def test_old_kmeans_plus_plus_spelling_is_k_means_plus_plus():
    X, *_ = three_clusters(800, seed=13)
    a = GaussianMixture(3, init_params="kmeans++", random_state=4, max_iter=0).fit(X)
    b = GaussianMixture(3, init_params="k-means++", random_state=4, max_iter=0).fit(X)
    c = GaussianMixture(3, init_params="random_from_data", random_state=4,
                        max_iter=0).fit(X)
    np.testing.assert_array_equal(a.means_, b.means_)
    assert not np.allclose(a.means_, c.means_)  # the init does steer the start
    with pytest.raises(ValueError, match="k-means\\+\\+"):  # the error lists the real names
        GaussianMixture(2, init_params="kmeans+").fit(X)


def test_get_params_set_params_and_repr():
    g = GaussianMixture(3, covariance_type="diag", random_state=7)
    params = g.get_params()
    assert params["n_components"] == 3 and params["covariance_type"] == "diag"
    assert params["verbose_interval"] == 10 and params["init_params"] == "kmeans"
    assert GaussianMixture(**params).get_params() == params
    assert g.set_params(n_components=5, tol=1e-4) is g and g.n_components == 5 and g.tol == 1e-4
    with pytest.raises(ValueError, match="Invalid parameter 'n_component'"):
        g.set_params(n_component=2)
    assert repr(g) == ("GaussianMixture(covariance_type='diag', n_components=5, "
                       "random_state=7, tol=0.0001)")


def test_verbose_reports_every_verbose_interval_iterations(capsys):
    X, *_ = three_clusters(600, seed=14)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        GaussianMixture(3, max_iter=7, tol=0, verbose=1, verbose_interval=3,
                        random_state=0).fit(X)
    assert capsys.readouterr().out.splitlines() == [
        "Initialization 0", "  Iteration 3", "  Iteration 6", "Initialization did not converge."]


def test_em_cli_accepts_scikit_learn_init_names(tmp_path):
    import json

    X, *_ = three_clusters(600, seed=15)
    np.save(tmp_path / "pts.npy", X)
    docs = []
    for init in ("k-means++", "kmeans++"):
        res = _em_cli(tmp_path / "pts.npy", "-k", "3", "--init", init, "--json")
        assert res.exit_code == 0, res.output
        docs.append(json.loads(res.output))
    assert docs[0]["means"] == docs[1]["means"]
    res = _em_cli(tmp_path / "pts.npy", "--init", "kmeans+")
    assert res.exit_code == 2 and "k-means++" in res.output


# ---------------------------------------------------------------------------- per pixel
def reference_pixel_em(frames, k, n_iter, init_var, min_var, max_var):
    """Plain NumPy per-pixel EM, one pixel at a time, with the same start as the kernel."""
    n, h, w, c = frames.shape
    W = np.zeros((h, w, k))
    M = np.zeros((h, w, k, c))
    V = np.zeros((h, w, k))
    for i in range(h):
        for j in range(w):
            x = frames[:, i, j, :].astype(np.float64)  # (n, c)
            order = np.argsort(x.sum(1), kind="mergesort")
            mu = np.array([x[order[min(int((q + 0.5) * n / k), n - 1)]] for q in range(k)])
            wt = np.full(k, 1.0 / k)
            var = np.full(k, init_var)
            for _ in range(n_iter):
                live = wt > 0
                d2 = ((x[:, None, :] - mu[None]) ** 2).sum(2)
                with np.errstate(divide="ignore"):
                    lp = np.where(live, np.log(wt) - 0.5 * (c * (np.log(2 * np.pi) + np.log(var))
                                                            + d2 / var), -np.inf)
                m = lp.max(1, keepdims=True)
                r = np.exp(lp - m)
                r /= r.sum(1, keepdims=True)
                nk = r.sum(0)
                for q in range(k):
                    if nk[q] > 1e-6:
                        mu[q] = (r[:, q:q + 1] * x).sum(0) / nk[q]
                        v = ((r[:, q] * (x * x).sum(1)).sum() / nk[q] - (mu[q] ** 2).sum()) / c
                        var[q] = min(max(v, min_var), max_var)
                        wt[q] = nk[q] / n
                    else:
                        wt[q] = 0.0
            W[i, j], M[i, j], V[i, j] = wt, mu, var
    return W, M, V


@pytest.mark.parametrize("channels", [1, 3])
def test_pixel_em_matches_the_numpy_reference(channels):
    from bgsub.model import _batch as ek

    rng = np.random.default_rng(9)
    n, h, w, k = 40, 3, 4, 3
    base = rng.integers(40, 200, (h, w, channels))
    flip = rng.random((n, h, w, 1)) < 0.3
    frames = np.clip(base + 60 * flip + rng.normal(0, 3, (n, h, w, channels)), 0,
                     255).astype(np.uint8)
    W = np.empty((h, w, k))
    M = np.empty((h, w, k, channels))
    V = np.empty((h, w, k))
    ll = np.empty((15, h, w))
    ek.pixel_init(frames, 100.0, W, M, V)
    ek.pixel_em(frames, 15, 4.0, 1600.0, W, M, V, ll)
    Wr, Mr, Vr = reference_pixel_em(frames, k, 15, 100.0, 4.0, 1600.0)
    np.testing.assert_allclose(W, Wr, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(M, Mr, rtol=1e-9)
    np.testing.assert_allclose(V, Vr, rtol=1e-9)
    assert np.all(np.diff(ll, axis=0) >= -1e-9)  # EM: the likelihood never falls


def test_fit_frames_removes_the_warm_up_ghosts():
    from bgsub.evaluate.synthetic import SyntheticScene

    scene = SyntheticScene(width=128, height=96, n_frames=140, n_objects=6, seed=8,
                           foliage=False, drift=0.0)
    data = list(scene)
    fitted = MixtureSubtractor().fit_frames([f for f, _ in data[:100]])
    assert fitted.n_frames_ == 100
    fresh = MixtureSubtractor()  # starts on frame 100, objects and all

    def false_positives(model):
        return [((model.apply(f) == 255) & (g == 0)).mean() for f, g in data[100:120]]

    a, b = false_positives(fitted), false_positives(fresh)
    assert max(b) > 0.01  # the fresh model's ghosts where the objects stood
    assert max(a) < 0.006 and sum(a) < 0.4 * sum(b)


def test_fit_frames_validates_input():
    m = MixtureSubtractor()
    with pytest.raises(ValueError, match="at least one"):
        m.fit_frames([])
    with pytest.raises(ValueError, match="differ in shape"):
        m.fit_frames([np.zeros((4, 5), np.uint8), np.zeros((5, 4), np.uint8)])
    with pytest.raises(ValueError, match="uint8"):
        m.fit_frames(np.zeros((3, 4, 5), np.float32))
    with pytest.raises(ValueError, match="n_iter"):
        m.fit_frames(np.zeros((3, 4, 5), np.uint8), n_iter=0)


# ---------------------------------------------------------------------------- bgsub em
def _em_cli(*args):
    from click.testing import CliRunner

    from bgsub.cli import main

    return CliRunner().invoke(main, ["em", *map(str, args)])


def test_em_cli_fits_plots_and_samples(tmp_path):
    import json

    import cv2

    X, means, *_ = three_clusters(1500, seed=10)
    csv_path = tmp_path / "pts.csv"
    np.savetxt(csv_path, X, delimiter=",", header="x,y", comments="")
    res = _em_cli(csv_path, "-k", "3", "--json", "--plot", tmp_path / "fit.png", "--sample",
                  "400", tmp_path / "draws.csv")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["n_samples"] == 1500 and doc["n_features"] == 2 and doc["converged"]
    got = np.array(sorted(doc["means"]))
    np.testing.assert_allclose(got, np.array(sorted(means.tolist())), atol=0.15)
    img = cv2.imread(str(tmp_path / "fit.png"))
    assert img is not None and img.shape == (800, 800, 3) and (img < 250).any()
    draws = np.loadtxt(tmp_path / "draws.csv", delimiter=",", skiprows=1)
    assert draws.shape == (400, 3) and set(np.unique(draws[:, 2])) <= {0, 1, 2}


def test_em_cli_selects_k_from_npy(tmp_path):
    import json

    X, *_ = three_clusters(1500, seed=11)
    np.save(tmp_path / "pts.npy", X)
    res = _em_cli(tmp_path / "pts.npy", "--select-k", "1..5", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["n_components"] == 3
    assert [s["n_components"] for s in doc["selection"]["scores"]] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("content, args, code, message", [
    (None, [], 1, "no such file"),
    ("", [], 1, "empty file"),
    ("a,b\n1,x\n", [], 1, "line 2: not a number"),
    ("1,2\n3\n", [], 1, "different numbers of columns"),
    ("1,2\n3,4\n", ["-k", "5"], 1, "at least 5"),
    ("1,2\nnan,4\n5,6\n", [], 1, "NaN"),
    ("1,2\n3,4\n", ["--select-k", "3..1"], 2, "--select-k"),
])
def test_em_cli_bad_input(tmp_path, content, args, code, message):
    path = tmp_path / "d.csv"
    if content is not None:
        path.write_text(content)
    res = _em_cli(path, *args)
    assert res.exit_code == code, res.output
    assert message in res.output and "Traceback" not in res.output


# ---------------------------------------------------------------------------- k-means
def test_kmeans_matches_scikit_learn():
    sk_cluster = pytest.importorskip("sklearn.cluster", reason="scikit-learn is a test extra")
    from bgsub import KMeans

    X = np.random.RandomState(1).randn(3000, 3)
    for rs in (0, 1):  # k-means++ seeds drawn as scikit-learn draws them
        ours = KMeans(5, random_state=rs).fit(X)
        theirs = sk_cluster.KMeans(5, random_state=rs).fit(X)
        np.testing.assert_array_equal(ours.labels_, theirs.labels_)
        np.testing.assert_allclose(ours.cluster_centers_, theirs.cluster_centers_, atol=1e-12)
        assert ours.inertia_ == pytest.approx(theirs.inertia_, rel=1e-12)
        assert ours.n_iter_ == theirs.n_iter_
    init = X[[0, 10, 20, 30]]
    ours = KMeans(4, init=init, max_iter=7).fit(X)
    theirs = sk_cluster.KMeans(4, init=init, n_init=1, max_iter=7).fit(X)
    np.testing.assert_array_equal(ours.labels_, theirs.labels_)
    assert ours.inertia_ == pytest.approx(theirs.inertia_, rel=1e-12)
    np.testing.assert_array_equal(ours.predict(X[:50]), theirs.predict(X[:50]))
    np.testing.assert_allclose(ours.transform(X[:5]), theirs.transform(X[:5]), atol=1e-12)
    assert ours.score(X) == pytest.approx(theirs.score(X))
    assert ours.get_params()["n_clusters"] == 4 and "KMeans(" in repr(ours)
    with pytest.raises(NotFittedError):
        KMeans(3).predict(X)
    with pytest.raises(ValueError, match="at least 5"):
        KMeans(5).fit(X[:3])


def test_adjusted_rand_index_by_hand():
    from bgsub.em.mixture import adjusted_rand_score as ari

    # contingency [[2, 1, 0], [0, 1, 2]]: pairs together in both 1 + 1 = 2; true groups of 3
    # and 3: 3 + 3 = 6 pairs; predicted groups of 2, 2, 2: 3 pairs; of C(6, 2) = 15 pairs.
    # expected 6 * 3 / 15 = 1.2, maximum (6 + 3) / 2 = 4.5: (2 - 1.2) / (4.5 - 1.2) = 8/33
    assert ari([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]) == pytest.approx(8 / 33)
    # [[2, 0, 0], [0, 1, 1]]: index 1, rows 2, columns 1, of 6: (1 - 1/3) / (1.5 - 1/3) = 4/7
    assert ari([0, 0, 1, 1], [0, 0, 1, 2]) == pytest.approx(4 / 7)
    assert ari([0, 0, 1, 1], [5, 5, 3, 3]) == 1.0  # names do not matter
    assert ari([0, 0, 0], [1, 1, 1]) == 1.0
    assert ari([0, 1, 0, 1], [0, 0, 1, 1]) == pytest.approx(-0.5)
    metrics = pytest.importorskip("sklearn.metrics", reason="scikit-learn is a test extra")
    rng = np.random.RandomState(0)
    a, b = rng.randint(0, 4, 500), rng.randint(0, 6, 500)
    assert ari(a, b) == pytest.approx(metrics.adjusted_rand_score(a, b), abs=1e-12)


def test_compare_kmeans_on_demo_data_shows_where_kmeans_fails(tmp_path):
    import json

    import cv2
    from click.testing import CliRunner

    from bgsub.cli import main

    for demo in ("elongated", "unequal"):
        out = tmp_path / f"{demo}.png"
        r = CliRunner().invoke(main, ["em", "--demo", demo, "--compare-kmeans", "--plot",
                                      str(out), "--json"])
        assert r.exit_code == 0, r.output
        ari = json.loads(r.output)["adjusted_rand_index"]
        assert ari["mixture"] > 0.9 and ari["kmeans"] < 0.3, ari
        img = cv2.imread(str(out))
        assert img is not None and img.shape[1] > 2 * img.shape[0] * 0.8  # two panels
        assert img.std() > 20
    r = CliRunner().invoke(main, ["em", "--compare-kmeans"])
    assert r.exit_code == 2 and "--demo" in r.output
