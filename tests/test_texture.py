"""The texture cue (``MixtureSubtractor(texture=...)``): its kernel and NumPy twin against a
pixel-by-pixel reference, the vote's flag, and what it finds on moving texture."""

import cv2
import numpy as np
import pytest

from bgsub import MixtureSubtractor
from bgsub.model import _jit, _texture
from bgsub.model import _layout as layout
from bgsub.model import mixture as model_module

from .reference import reference_texture, reference_vote


@pytest.fixture(params=["numba", "numpy"])
def engine(request):
    """The Numba kernels (compiled here if need be) and their NumPy twins."""
    old = _jit.set_mode("sync" if request.param == "numba" else "numpy")
    yield request.param
    _jit.set_mode(old)


def _cue(engine, gray, hot, bits, flag, raw, every=1, phase=0, scratch=None):
    fn = _texture.texture_flags if engine == "numba" else _texture.texture_flags_numpy
    fn(gray, hot, bits, model_module._TEXTURE_R, model_module._TEXTURE_RQ, np.uint8(flag),
       every, phase, *(scratch or _texture.scratch(gray.shape)), raw)


def _hot_of(means):
    """A model's rank-0 records (hot, see bgsub.model._layout) with these means (H, W, C)."""
    h, w, c = means.shape
    state = layout.new_state(1, h, w, c)
    hot, _ = layout.views(state, 1, h, w, c)
    hot[:, layout.MEAN:, :] = means.transpose(0, 2, 1)
    return hot


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("shape", [(1, 1), (1, 19), (17, 1), (2, 2), (5, 7), (23, 41)])
def test_the_cue_matches_the_reference(engine, channels, shape):
    rng = np.random.default_rng(shape[0] * 100 + shape[1] + channels)
    h, w = shape
    for trial in range(3):
        # means over the whole range and a little outside it (rounded and clipped alike)
        means = rng.uniform(-4, 260, (h, w, channels)).astype(np.float32)
        if trial == 2:  # a smooth background, a frame near it: few hits, edges matter
            means = np.broadcast_to(np.linspace(40, 200, w, dtype=np.float32)[None, :, None],
                                    (h, w, channels)).copy()
        frame = np.clip(means + rng.normal(0, 25, means.shape), 0, 255).astype(np.uint8)
        gray = _texture.gray_of(frame)
        hot = _hot_of(means)
        for bits in (1, 3, 5, 8):
            want = reference_texture(gray, means, bits, model_module._TEXTURE_R,
                                     model_module._TEXTURE_RQ)
            for flag in (4, 255):
                before = rng.choice(np.array([0, 1, 2], np.uint8), size=(h, w))
                raw = before.copy()
                _cue(engine, gray, hot, bits, flag, raw)
                np.testing.assert_array_equal(raw, before | (want * np.uint8(flag)),
                                              err_msg=f"bits={bits} flag={flag}")


@pytest.mark.parametrize("channels", [1, 3])
def test_the_background_is_made_again_a_share_of_its_rows_a_frame(engine, channels):
    # made in full from one background, then only the rows i % 3 == 1 from another: the cue is
    # the reference's on a background of those rows from the second and the rest from the first
    rng = np.random.default_rng(channels)
    h, w = 13, 29
    first = rng.uniform(0, 255, (h, w, channels)).astype(np.float32)
    second = rng.uniform(0, 255, (h, w, channels)).astype(np.float32)
    gray = rng.integers(0, 256, (h, w), dtype=np.uint8)
    scratch = _texture.scratch((h, w))
    _cue(engine, gray, _hot_of(first), 3, 4, np.zeros((h, w), np.uint8), scratch=scratch)
    raw = np.zeros((h, w), np.uint8)
    _cue(engine, gray, _hot_of(second), 3, 4, raw, every=3, phase=1, scratch=scratch)
    mixed = np.where((np.arange(h) % 3 == 1)[:, None, None], second, first)
    want = reference_texture(gray, mixed, 3, model_module._TEXTURE_R, model_module._TEXTURE_RQ)
    np.testing.assert_array_equal(raw, want * np.uint8(4))


@pytest.mark.parametrize("channels", [1, 3])
def test_the_cue_in_two_halves_is_the_cue_in_one(engine, channels):
    # texture_background (the model's half) then texture_cue (the vote's half, on a copy of
    # the plane) give what texture_flags gives, a share of the rows made again or all of them
    rng = np.random.default_rng(40 + channels)
    h, w = 19, 33
    whole, halves = _texture.scratch((h, w)), _texture.scratch((h, w))
    if engine == "numba":
        background, cue = _texture.texture_background, _texture.texture_cue
    else:
        background, cue = _texture.texture_background_numpy, _texture.texture_cue_numpy
    for every, phase in ((1, 0), (3, 1), (3, 2), (8, 0)):
        hot = _hot_of(rng.uniform(-4, 260, (h, w, channels)).astype(np.float32))
        gray = rng.integers(0, 256, (h, w), dtype=np.uint8)
        before = rng.choice(np.array([0, 1, 2], np.uint8), size=(h, w))
        want = before.copy()
        _cue(engine, gray, hot, 3, 4, want, every=every, phase=phase, scratch=whole)
        background(hot, every, phase, halves[1])
        got = before.copy()
        cue(gray, halves[1].copy(), 3, model_module._TEXTURE_R, model_module._TEXTURE_RQ,
            np.uint8(4), halves[0], halves[2], halves[3], halves[4], got)
        np.testing.assert_array_equal(got, want, err_msg=f"every={every} phase={phase}")
        np.testing.assert_array_equal(halves[1], whole[1])


def _shaken(frames, seed):
    """The frames, each shifted by a random -2..2 px (a camera on a swaying pole)."""
    rng = np.random.default_rng(seed)
    out = []
    for f in frames:
        dx, dy = (int(v) for v in rng.integers(-2, 3, 2))
        g = np.empty_like(f)
        model_module.shift_image(f, g, dx, dy, True)
        out.append(g)
    return out


@pytest.mark.parametrize("shake", [False, True])
@pytest.mark.parametrize("gray", [False, True])
def test_the_cue_left_to_the_vote_gives_apply_s_masks(engine, gray, shake):
    # apply_unvoted(defer_texture=True) leaves the cue's patterns to vote_mask(texture=...),
    # as a threaded run does (the model one frame ahead of the vote): the same masks as
    # apply(), frame by frame, on a real video, steady and on a shaking camera (the flags then
    # shifted into the frame's coordinates), and the model learns the same
    from .conftest import SAMPLES

    cap = cv2.VideoCapture(str(SAMPLES / "street.mp4"))
    frames = [cap.read()[1] for _ in range(45)]
    if gray:
        frames = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames]
    if shake:
        frames = _shaken(frames, seed=5)
    a, b = MixtureSubtractor(texture=4), MixtureSubtractor(texture=4)
    pending = None
    left = 0
    for t, f in enumerate(frames + [None]):
        if f is not None:
            want = a.apply(f)
            raw, later = b.apply_unvoted(f, defer_texture=True)
            left += later is not None
            # from the 30th frame on, but not on a frame where the model moves with the camera
            assert later is None or t + 1 >= model_module._TEXTURE_FROM, t + 1
        if pending is not None:  # the frame before, voted while the model is one ahead
            np.testing.assert_array_equal(b.vote_mask(*pending[:2], texture=pending[2]),
                                          pending[3], err_msg=f"frame {t}")
        pending = (raw, None, later, want.copy()) if f is not None else None
    assert left >= len(frames) - model_module._TEXTURE_FROM - 2
    assert np.array_equal(a.state_, b.state_)
    if shake:
        assert a.shift_ != (0, 0) or a.anchor_ != (0, 0)  # the camera was followed


def test_the_vote_refuses_a_texture_it_was_not_given():
    m = MixtureSubtractor(texture=4)
    raw = np.zeros((6, 7), np.uint8)
    with pytest.raises(ValueError, match="texture must be what apply_unvoted"):
        m.vote_mask(raw, texture=("not", "a", "cue"))
    m2 = MixtureSubtractor(texture=4)
    for _ in range(model_module._TEXTURE_FROM):
        raw2, later = m2.apply_unvoted(np.zeros((8, 9), np.uint8), defer_texture=True)
    assert later is not None
    with pytest.raises(ValueError, match="texture must be what apply_unvoted"):
        m.vote_mask(raw, texture=later)  # another frame size


def test_the_cue_finds_a_changed_pattern_and_not_a_steady_one(engine):
    # a background of 2x2 checks (60 and 180); where the frame's checks are moved by 2 px
    # (every pixel takes the other value, both known to the model: the pattern around it
    # changes in all 8 bits) the cue fires; where they are not, it does not
    yy, xx = np.mgrid[0:30, 0:40]
    board = np.where((yy // 2 + xx // 2) % 2 == 0, 60, 180)
    means = board[:, :, None].astype(np.float32)
    frame = board.astype(np.uint8)
    frame[10:20, 10:30] = np.roll(board, 2, axis=1)[10:20, 10:30]
    raw = np.zeros((30, 40), np.uint8)
    _cue(engine, frame, _hot_of(means), 5, 4, raw)
    assert (raw[12:18, 12:28] == 4).all()
    assert not raw[:7].any() and not raw[23:].any() and not raw[:, :7].any()


@pytest.mark.parametrize("solid_radius, speckle_radius", [(0, 0), (1, 0), (1, 1), (0, 1)])
def test_the_vote_makes_a_flagged_pixel_foreground(engine, solid_radius, speckle_radius):
    # the texture's bit (4) over each decision (0, 1, 2): foreground whatever the count, and
    # the count is of bit 1 alone, as without the flag
    rng = np.random.default_rng(3)
    raw = rng.choice(np.array([0, 1, 2], np.uint8), size=(31, 45), p=[0.5, 0.3, 0.2])
    flags = rng.random((31, 45)) < 0.1
    flagged = raw | (flags * np.uint8(4))
    got = np.empty_like(raw)
    _jit.kernels()["vote_mask"](flagged, got, 3, 30, solid_radius, speckle_radius, 3)
    labelled = np.choose(raw, np.array([0, 255, 127], np.uint8))
    want = reference_vote(labelled, 7, 30 / 49, 2 * solid_radius + 1, 2 * speckle_radius + 1)
    want[flags] = 255
    np.testing.assert_array_equal(got, want)


def _leaves(n, seed=0):
    """Frames of a gray scene (48x64) whose left half holds 2x2 checks of 60 and 180 that move
    back and forth by 2 px (leaves in the wind: two values a pixel, both learned, the pattern
    around it changed in all 8 bits every other frame) and whose right half is still texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:48, 0:36]
    board = np.where((yy // 2 + xx // 2) % 2 == 0, 60, 180).astype(np.uint8)
    still = cv2.resize(rng.integers(0, 256, (12, 8), dtype=np.uint8), (32, 48),
                       interpolation=cv2.INTER_NEAREST)
    return [np.hstack([board[:, 2 * (t % 2):2 * (t % 2) + 32], still]) for t in range(n)]


def test_moving_texture_the_mixture_learned_is_found(engine):
    # both values of the checks are background to a mixture whose background takes 90% of the
    # weight: it sees nothing move there; the cue sees the pattern change every other frame
    params = {"max_shift": 0, "background_ratio": 0.9}
    plain, cued = MixtureSubtractor(**params), MixtureSubtractor(texture=4, **params)
    seen_plain = seen_cued = still = 0.0
    for t, f in enumerate(_leaves(130)):
        a, b = plain.apply(f), cued.apply(f)
        if t >= 100:
            seen_plain += (a[4:-4, 4:28] == 255).mean() / 30
            seen_cued += (b[4:-4, 4:28] == 255).mean() / 30
            still += (b[:, 40:] == 255).mean() / 30
    assert seen_plain < 0.05
    assert seen_cued > 0.45  # every other frame
    assert still == 0.0
    assert np.array_equal(plain.state_, cued.state_)  # nothing learned from the cue


@pytest.mark.parametrize("params", [{}, {"smoothing": 1}, {"detect_shadows": True}])
def test_the_cue_starts_at_the_30th_frame_and_splits_like_apply(engine, params):
    frames = _leaves(40, seed=2)
    a = MixtureSubtractor(max_shift=0, background_ratio=0.9, texture=4, **params)
    b = MixtureSubtractor(max_shift=0, background_ratio=0.9, texture=4, **params)
    c = MixtureSubtractor(max_shift=0, background_ratio=0.9, texture=4, **params)
    plain = MixtureSubtractor(max_shift=0, background_ratio=0.9, **params)
    for t, f in enumerate(frames):
        want = a.apply(f)
        got = b.vote_mask(b.apply_unvoted(f))
        np.testing.assert_array_equal(got, want)
        raw, later = c.apply_unvoted(f, defer_texture=True)  # the cue left to the vote
        np.testing.assert_array_equal(c.vote_mask(raw, texture=later), want)
        without = plain.apply(f)
        if t + 1 < model_module._TEXTURE_FROM:
            np.testing.assert_array_equal(want, without, err_msg=str(t + 1))
        elif t % 2:
            assert (want[4:-4, 4:28] == 255).mean() > 0.9, t + 1
            assert (without[4:-4, 4:28] == 255).mean() < 0.1, t + 1


def test_the_kernel_and_its_twin_give_a_model_the_same_masks():
    # a real video in colour and in gray through the model with the cue, on the kernels and
    # on their NumPy twins: the background's rows made again an eighth at a time, the same
    # masks frame by frame
    import bgsub
    from .conftest import SAMPLES

    cap = cv2.VideoCapture(str(SAMPLES / "street.mp4"))
    frames = [cap.read()[1] for _ in range(60)]
    for gray in (False, True):
        seq = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames] if gray else frames
        masks = {}
        for mode in ("sync", "numpy"):
            old = _jit.set_mode(mode)
            try:
                m = bgsub.MixtureSubtractor(texture=4)
                masks[mode] = [m.apply(f).copy() for f in seq]
            finally:
                _jit.set_mode(old)
        for t, (a, b) in enumerate(zip(masks["sync"], masks["numpy"])):
            np.testing.assert_array_equal(a, b, err_msg=f"frame {t + 1}, gray={gray}")


@pytest.mark.parametrize("bad", [-1, 9, 2.5, True, "5"])
def test_a_bad_texture_is_refused(bad):
    with pytest.raises(ValueError, match="texture must be an integer in \\[0, 8\\]"):
        MixtureSubtractor(texture=bad)


def test_a_saved_model_keeps_its_texture(tmp_path):
    m = MixtureSubtractor(texture=5)
    m.apply(np.zeros((8, 9, 3), np.uint8))
    m.save(tmp_path / "m.npz")
    assert MixtureSubtractor.load(tmp_path / "m.npz").texture == 5
