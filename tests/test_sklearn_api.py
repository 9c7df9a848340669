"""bgsub.GaussianMixture and bgsub.KMeans as scikit-learn estimators: scikit-learn's own
``check_estimator``, its tools (clone, GridSearchCV), its NotFittedError -- and scikit-learn
staying optional (``import bgsub`` never imports it)."""

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

import bgsub
from bgsub.em.mixture import GaussianMixture, KMeans, NotFittedError

# scikit-learn's own KMeans fails this check as well (checked in test_kmeans_check_estimator):
# k-means++ and random seeding draw from the rows, and a weight of 3 is not three rows to a
# random draw.  The weights themselves are exact: test_kmeans_sample_weight_*.
KMEANS_XFAIL = {
    "check_sample_weight_equivalence_on_dense_data":
        "seeding draws rows: weighted and repeated rows draw different seeds (scikit-learn's "
        "KMeans fails this check too)",
}


SKLEARN_16 = "scikit-learn >= 1.6 (estimator tags, check_estimator(on_fail=None)) is a test extra"


def _check_estimator(estimator, expected_failed=None):
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        records = check_estimator(estimator, on_fail=None, expected_failed_checks=expected_failed)
    failed = {r["check_name"]: str(r["exception"])[:300] for r in records
              if r["status"] == "failed"}
    xfailed = {r["check_name"] for r in records if r["status"] == "xfail"}
    passed = [r["check_name"] for r in records if r["status"] == "passed"]
    return failed, xfailed, passed


@pytest.mark.parametrize("params", [{}, {"covariance_type": "diag", "n_components": 2}])
def test_gaussian_mixture_passes_check_estimator(params):
    pytest.importorskip("sklearn", minversion="1.6", reason=SKLEARN_16)
    failed, xfailed, passed = _check_estimator(GaussianMixture(**params))
    assert failed == {} and xfailed == set()
    # the checks that needed changes in bgsub.em are among those that ran and passed
    for name in ("check_estimators_unfitted", "check_n_features_in_after_fitting",
                 "check_complex_data", "check_dtype_object", "check_estimator_sparse_tag",
                 "check_estimators_empty_data_messages", "check_fit2d_predict1d"):
        assert name in passed, name


def test_kmeans_check_estimator():
    pytest.importorskip("sklearn", minversion="1.6", reason=SKLEARN_16)
    from sklearn.cluster import KMeans as SkKMeans

    failed, xfailed, passed = _check_estimator(KMeans(), KMEANS_XFAIL)
    assert failed == {} and xfailed == set(KMEANS_XFAIL)
    assert {"check_sample_weights_list", "check_all_zero_sample_weights_error",
            "check_estimators_unfitted", "check_transformer_general"} <= set(passed)
    # the one expected failure is scikit-learn's own
    failed, _, _ = _check_estimator(SkKMeans())
    assert "check_sample_weight_equivalence_on_dense_data" in failed


def test_kmeans_sample_weight_as_scikit_learn():
    sk_cluster = pytest.importorskip("sklearn.cluster", reason="scikit-learn is a test extra")
    rng = np.random.RandomState(3)
    X = rng.randn(500, 3)
    X[:200] += 4
    w = rng.randint(0, 5, 500).astype(float)
    for init in ("k-means++", "random"):  # same RandomState, same weighted seeds
        for rs in (0, 1):
            ours = KMeans(4, init=init, random_state=rs).fit(X, sample_weight=w)
            theirs = sk_cluster.KMeans(4, init=init, random_state=rs).fit(X, sample_weight=w)
            np.testing.assert_array_equal(ours.labels_, theirs.labels_)
            np.testing.assert_allclose(ours.cluster_centers_, theirs.cluster_centers_,
                                       atol=1e-12)
            assert ours.inertia_ == pytest.approx(theirs.inertia_, rel=1e-12)
            assert ours.n_iter_ == theirs.n_iter_
            assert ours.score(X, sample_weight=w) == pytest.approx(
                theirs.score(X, sample_weight=w), rel=1e-12)


def test_kmeans_sample_weight_is_repetition():
    # with the seeds fixed, integer weights are repeated rows: same centres, same inertia
    rng = np.random.RandomState(4)
    X = rng.randn(300, 2)
    X[:100] += 5
    w = rng.randint(0, 4, 300)
    init = X[[0, 120, 200]]
    weighted = KMeans(3, init=init).fit(X, sample_weight=w)
    repeated = KMeans(3, init=init).fit(np.repeat(X, w, axis=0))
    np.testing.assert_allclose(weighted.cluster_centers_, repeated.cluster_centers_, atol=1e-12)
    assert weighted.inertia_ == pytest.approx(repeated.inertia_, rel=1e-12)
    unweighted = KMeans(3, init=init).fit(X)
    assert np.abs(unweighted.cluster_centers_ - weighted.cluster_centers_).max() > 1e-3
    with pytest.raises(ValueError, match="non-zero"):
        KMeans(3).fit(X, sample_weight=np.zeros(300))
    with pytest.raises(ValueError, match="shape"):
        KMeans(3).fit(X, sample_weight=np.ones(5))


def test_scikit_learn_tools_drive_the_estimators():
    pytest.importorskip("sklearn", reason="scikit-learn is a test extra")
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV

    rng = np.random.RandomState(0)
    X = np.vstack([rng.randn(150, 2) * 0.5 + c for c in ((0, 0), (4, 0), (0, 4))])
    rng.shuffle(X)
    # GridSearchCV scores a density estimator by its held-out log-likelihood (score)
    search = GridSearchCV(GaussianMixture(random_state=0), {"n_components": [1, 2, 3]},
                          cv=3).fit(X)
    assert search.best_params_ == {"n_components": 3}
    assert search.best_estimator_.means_.shape == (3, 2)
    g = clone(GaussianMixture(n_components=2, covariance_type="tied"))
    assert g.get_params()["covariance_type"] == "tied" and not hasattr(g, "means_")


def test_scikit_learn_except_clause_catches_not_fitted():
    sk_exceptions = pytest.importorskip("sklearn.exceptions",
                                        reason="scikit-learn is a test extra")
    X = np.zeros((4, 2))
    for estimator in (GaussianMixture(), KMeans(2)):
        for method in ("predict", "score"):
            with pytest.raises(sk_exceptions.NotFittedError, match="not fitted yet"):
                getattr(estimator, method)(X)
            try:
                getattr(estimator, method)(X)
            except bgsub.NotFittedError as exc:
                assert type(exc).__name__ == "NotFittedError"
                again = pickle.loads(pickle.dumps(exc))
                assert isinstance(again, sk_exceptions.NotFittedError)
                assert isinstance(again, bgsub.NotFittedError) and again.args == exc.args
            else:
                pytest.fail("no NotFittedError")


def _run(code):
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_import_bgsub_does_not_import_scikit_learn():
    # a fresh process: importing bgsub and its EM module, reaching the estimators, fitting
    # one and catching its NotFittedError never loads scikit-learn
    out = _run(
        "import sys, numpy as np\n"
        "import bgsub, bgsub.em\n"
        "G, K = bgsub.GaussianMixture, bgsub.KMeans\n"
        "assert 'sklearn' not in sys.modules\n"
        "X = np.random.RandomState(0).randn(200, 2)\n"
        "G(2, random_state=0).fit(X)\n"
        "try:\n"
        "    K(2).predict(X)\n"
        "except bgsub.NotFittedError as exc:\n"
        "    assert type(exc) is bgsub.NotFittedError\n"
        "    assert isinstance(exc, ValueError) and isinstance(exc, AttributeError)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sklearn'))\n")
    assert out.strip() == "[]"


def test_not_fitted_error_without_scikit_learn_installed():
    # scikit-learn made unimportable (as where it is not installed): the error is bgsub's, still
    # a ValueError and an AttributeError; and it becomes scikit-learn's once that is imported
    _run(
        "import sys\n"
        "sys.modules['sklearn'] = None  # import sklearn now raises ImportError\n"
        "import numpy as np, bgsub\n"
        "for est in (bgsub.GaussianMixture(), bgsub.KMeans()):\n"
        "    try:\n"
        "        est.predict(np.zeros((3, 2)))\n"
        "    except ValueError as exc:\n"
        "        assert type(exc) is bgsub.NotFittedError and isinstance(exc, AttributeError)\n"
        "    else:\n"
        "        raise SystemExit('not raised')\n")
