"""Speckles kept out of the vote (``MixtureSubtractor(speckle=...)``): the opening inside the
vote's kernel and in its NumPy twin against a pixel-by-pixel reference and OpenCV's opening, and
what the vote then keeps."""

import cv2
import numpy as np
import pytest

from bgsub import MixtureSubtractor
from bgsub.model import _fallback, _jit, _speckle

from .conftest import saved_without
from .reference import reference_speckle, reference_vote


@pytest.fixture(params=["numba", "numpy"])
def opened(request):
    """The opening of the decisions' bit 0, as the vote sees it: the vote's kernel (or its
    NumPy twin) with a 1x1 window that needs one pixel and no solid core, so that a pixel is
    255 where the opening keeps its foreground (or the texture cue's bit is set), 127 where
    it is a shadow, else 0."""
    k = _jit.kernels()["vote_mask"].disp if request.param == "numba" else _fallback.vote_mask

    def run(raw, radius):
        out = np.full_like(raw, 77)
        k(raw, out, 0, 1, 0, radius, 5)
        return out

    return run


def _decisions(rng, shape, density):
    """Random decisions with every bit the vote reads: 1 foreground, 2 shadow, 4 the texture
    cue (5: the cue and foreground)."""
    others = np.array([0, 2, 4], np.uint8)
    raw = np.where(rng.random(shape) < density, np.uint8(1), rng.choice(others, size=shape))
    raw |= np.where(rng.random(shape) < 0.1, np.uint8(4), np.uint8(0))
    return raw


@pytest.mark.parametrize("shape", [(1, 1), (1, 23), (23, 1), (2, 3), (5, 5), (16, 17),
                                   (17, 40), (40, 33)])
@pytest.mark.parametrize("radius", [1, 2, 3])
def test_speckles_match_the_reference(opened, shape, radius):
    rng = np.random.default_rng(shape[0] * 97 + shape[1] + radius)
    for density in (0.5, 0.8, 0.95):
        raw = _decisions(rng, shape, density)
        kept = reference_speckle((raw & 1) == 1, 2 * radius + 1)
        want = np.where(kept | (raw >= 4), 255, np.where(raw == 2, 127, 0)).astype(np.uint8)
        np.testing.assert_array_equal(opened(raw, radius), want,
                                      err_msg=f"{shape} r={radius} d={density}")
        # the twin that the NumPy vote counts on keeps every other bit as it was
        got = _speckle.speckle_clear_numpy(raw, np.empty_like(raw), radius)
        np.testing.assert_array_equal(got, np.where(kept, raw, raw & np.uint8(0xFE)))


def test_speckles_are_what_opencv_opens_away(opened):
    rng = np.random.default_rng(3)
    raw = (rng.random((61, 83)) < 0.7).astype(np.uint8)
    want = cv2.morphologyEx(raw, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) * np.uint8(255)
    np.testing.assert_array_equal(opened(raw, 1), want)


def _scene():
    """A model's decisions by hand: a 9x9 block of foreground (a car) beside a field where
    three pixels in four are foreground in a pattern with no 3x3 block (waving leaves)."""
    raw = np.zeros((30, 40), np.uint8)
    raw[10:19, 3:12] = 1
    yy, xx = np.mgrid[0:30, 0:40]
    field = (xx >= 20) & ((yy + xx) % 4 != 0)
    raw[field] = 1
    return raw, field


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_the_vote_keeps_a_solid_object_and_drops_flicker_as_dense(engine):
    old = _jit.set_mode("sync" if engine == "numba" else "numpy")
    try:
        raw, field = _scene()
        plain = MixtureSubtractor(speckle=1).vote_mask(raw)
        model = MixtureSubtractor()
        voted = model.vote_mask(raw)
    finally:
        _jit.set_mode(old)
    assert (plain[field] == 255).mean() > 0.8  # 3 in 4 is over the vote: most of it passes
    assert (voted[:, 15:] == 0).all()  # with speckle=3 none of it votes
    # the block, 8 columns from the field (more than the vote's radius), is voted on as before
    np.testing.assert_array_equal(voted[:, :15], plain[:, :15])
    assert (voted[12:17, 5:10] == 255).all()
    m = model
    np.testing.assert_array_equal(voted, reference_vote(raw * np.uint8(255), m.smoothing, m.vote,
                                                        m.solid, m.speckle))


def test_speckle_must_be_an_odd_window():
    for bad in (0, 2, -1, 1.5, "3"):
        with pytest.raises(ValueError, match="speckle"):
            MixtureSubtractor(speckle=bad)


def test_a_model_file_from_before_speckles_loads_with_them_counted(tmp_path):
    a = MixtureSubtractor(speckle=5)
    a.apply(np.zeros((5, 6), np.uint8))
    old = saved_without(a, tmp_path, "speckle")
    assert MixtureSubtractor.load(tmp_path / "m.npz").speckle == 5
    assert MixtureSubtractor.load(old).speckle == 1


def test_a_model_file_with_an_even_speckle_is_refused_by_name(tmp_path):
    a = MixtureSubtractor()
    a.apply(np.zeros((5, 6), np.uint8))
    a.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as z:
        arrays = dict(z)
    arrays["params_values"] = np.where(arrays["params_names"] == "speckle", "4",
                                       arrays["params_values"])
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=r"bad\.npz: not a bgsub model file \(speckle must be"):
        MixtureSubtractor.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("speckle, solid", [(3, 3), (5, 3), (3, 1), (1, 3), (5, 5)])
def test_the_vote_over_speckle_free_foreground_matches_the_reference(speckle, solid):
    rng = np.random.default_rng(speckle * 10 + solid)
    for density in (0.4, 0.7):
        raw = np.where(rng.random((31, 45)) < density, np.uint8(1),
                       rng.choice(np.array([0, 2], np.uint8), size=(31, 45)))
        raw[5:14, 8:20] = 1  # a solid block among the flicker
        m = MixtureSubtractor(speckle=speckle, solid=solid)
        labelled = np.choose(raw, np.array([0, 255, 127], np.uint8))
        np.testing.assert_array_equal(
            m.vote_mask(raw), reference_vote(labelled, m.smoothing, m.vote, solid, speckle))
