"""MixtureSubtractor's Python API: learning-rate overrides, known foreground, persistence,
validation, the background image and behaviour on a scene with exact ground truth."""

import numpy as np
import pytest

from bgsub import MixtureSubtractor
from bgsub.evaluate.synthetic import SyntheticScene

from .conftest import saved_without


@pytest.fixture(scope="module")
def scene_frames():
    scene = SyntheticScene(width=96, height=72, n_frames=80, n_objects=3, seed=4, foliage=False)
    return list(scene)


def noisy(rng, base, sigma=2.0):
    return np.clip(base + rng.normal(0, sigma, base.shape), 0, 255).astype(np.uint8)


def test_mask_is_binary_uint8_for_gray_and_colour():
    rng = np.random.default_rng(0)
    for shape in [(20, 30), (20, 30, 3)]:
        m = MixtureSubtractor()
        base = rng.integers(0, 256, shape).astype(float)
        for _ in range(5):
            mask = m.apply(noisy(rng, base))
        assert mask.dtype == np.uint8 and mask.shape == (20, 30)
        assert set(np.unique(mask)) <= {0, 255}


def test_first_frames_are_not_foreground_and_objects_are(scene_frames):
    m = MixtureSubtractor()
    masks = [m.apply(f) for f, _ in scene_frames]
    # the model starts from frame 1: the static, noisy background is background at once
    assert max(mk.mean() / 255 for mk in masks[1:10]) < 0.01
    tp = fp = fn = 0
    for (f, gt), mk in zip(scene_frames[10:], masks[10:]):
        tp += np.sum((mk == 255) & (gt == 255))
        fp += np.sum((mk == 255) & (gt == 0))
        fn += np.sum((mk == 0) & (gt == 255))
    assert tp > 0
    f_measure = 2 * tp / (2 * tp + fp + fn)
    # measured 0.688: the 11x11 vote erodes the borders of these objects, about 10 pixels
    # across in a 96x72 frame (the defaults before this session, a 5x5 vote at 0.4 with a
    # variance clamp of 1600: 0.912; without the 3x3 solid core: 0.044)
    assert f_measure > 0.67, f_measure


def test_background_image_recovers_the_static_scene(scene_frames):
    m = MixtureSubtractor()
    for f, _ in scene_frames:
        m.apply(f)
    scene = SyntheticScene(width=96, height=72, n_frames=80, n_objects=3, seed=4, foliage=False)
    truth = scene.background * (1.0 + scene.drift * np.sin(2 * np.pi * 79 / 80))
    bg = m.background_image()
    assert bg.shape == (72, 96, 3) and bg.dtype == np.uint8
    assert np.abs(bg.astype(float) - truth).mean() < 4.0


def test_learning_rate_zero_freezes_the_model_completely(scene_frames):
    m = MixtureSubtractor()
    for f, _ in scene_frames[:20]:
        m.apply(f)
    state, scale, n = m.state_.copy(), m.scale_, m.n_frames_
    for f, _ in scene_frames[20:30]:
        m.apply(f, learning_rate=0)
    np.testing.assert_array_equal(m.state_, state)
    assert (m.scale_, m.n_frames_) == (scale, n)


def test_learning_rate_zero_on_a_new_model_learns_nothing():
    m = MixtureSubtractor()
    mask = m.apply(np.full((4, 5), 100, np.uint8), learning_rate=0)
    assert (mask == 255).all()  # nothing known yet: all foreground
    assert not m.state_.any()


def test_learning_rate_one_reinitialises_from_the_frame(scene_frames):
    m = MixtureSubtractor()
    for f, _ in scene_frames[:30]:
        m.apply(f)
    frame = scene_frames[40][0]
    assert (m.apply(frame, learning_rate=1.0) == 0).all()
    comps = m.components()
    np.testing.assert_array_equal(comps[0, :, :, 2:], frame.astype(np.float32))
    assert (comps[0, :, :, 0] == 1).all() and (comps[1:, :, :, 0] == 0).all()
    assert (m.apply(frame) == 0).all()


def test_known_foreground_is_classified_but_not_learned(scene_frames):
    m = MixtureSubtractor()
    for f, _ in scene_frames[:20]:
        m.apply(f)
    before = m.components()
    known = np.zeros(scene_frames[0][0].shape[:2], bool)
    known[10:30, 20:50] = True
    bright = np.full_like(scene_frames[0][0], 255)
    mask = m.apply(bright, known_foreground=known)
    assert (mask[known] == 255).all()  # classified
    after = m.components()
    # true weights, means and variances of the known pixels did not move
    np.testing.assert_allclose(after[:, known], before[:, known], rtol=1e-6)
    assert not np.allclose(after[:, ~known], before[:, ~known])


def test_save_and_load_continue_bit_for_bit(tmp_path, scene_frames):
    a = MixtureSubtractor(n_components=3, learning_rate=0.01)
    for f, _ in scene_frames[:25]:
        a.apply(f)
    a.save(tmp_path / "model.npz")
    b = MixtureSubtractor.load(tmp_path / "model.npz")
    assert b.get_params() == a.get_params()
    for f, _ in scene_frames[25:]:
        np.testing.assert_array_equal(a.apply(f), b.apply(f))
    np.testing.assert_array_equal(a.state_, b.state_)
    assert not list(tmp_path.glob("*.tmp*"))


def test_load_rejects_a_file_that_is_not_a_model(tmp_path):
    p = tmp_path / "x.npz"
    p.write_text("hello")
    with pytest.raises(ValueError, match="not a bgsub model"):
        MixtureSubtractor.load(p)


def test_a_model_file_holds_the_ranked_state_and_a_state_that_does_not_fit_is_refused(
        tmp_path, scene_frames):
    a = MixtureSubtractor(n_components=3)
    for f, _ in scene_frames[:10]:
        a.apply(f)
    a.save(tmp_path / "m.npz")
    z = dict(np.load(tmp_path / "m.npz"))
    # the file's state is the ranked array (K, H, W, C + 2), whatever the kernels' layout
    ranked = a.components()
    ranked[..., 0] /= np.float32(a.scale_)
    h, w, c = a.frame_shape_
    np.testing.assert_allclose(z["state"].reshape(3, h, w, c + 2), ranked, rtol=1e-6)
    for key, value, why in (("state", z["state"][:-1], "does not fit K=3"),
                            ("frame_shape", np.array([h, w]), "is not \\(H, W, C\\)")):
        bad = dict(z, **{key: value})
        np.savez(tmp_path / "bad.npz", **bad)
        with pytest.raises(ValueError, match=f"not a bgsub model file.*{why}"):
            MixtureSubtractor.load(tmp_path / "bad.npz")


def test_frame_size_change_raises_naming_both_shapes_and_reset_allows_it():
    m = MixtureSubtractor()
    m.apply(np.zeros((10, 20, 3), np.uint8))
    with pytest.raises(ValueError, match=r"20x10x3.*|.*30x10x3"):
        m.apply(np.zeros((10, 30, 3), np.uint8))
    with pytest.raises(ValueError, match="20x10x1"):
        m.apply(np.zeros((10, 20), np.uint8))
    m.reset()
    assert m.apply(np.zeros((10, 30, 3), np.uint8)).shape == (10, 30)


@pytest.mark.parametrize("frame, message", [
    (np.zeros((4, 4), np.float32), "uint8"),
    (np.zeros((4, 4, 4), np.uint8), "shape"),
    (np.zeros((0, 4), np.uint8), "empty"),
    ([[1, 2]], "numpy array"),
])
def test_bad_frames_raise_clear_errors(frame, message):
    with pytest.raises((ValueError, TypeError), match=message):
        MixtureSubtractor().apply(frame)


@pytest.mark.parametrize("params, name", [
    (dict(n_components=0), "n_components"),
    (dict(n_components=17), "n_components"),
    (dict(n_components=2.5), "n_components"),
    (dict(learning_rate=0), "learning_rate"),
    (dict(learning_rate=2), "learning_rate"),
    (dict(match_threshold=-1), "match_threshold"),
    (dict(background_ratio=1.5), "background_ratio"),
    (dict(min_variance=50, max_variance=10), "min_variance"),
    (dict(initial_variance=float("nan")), "initial_variance"),
    (dict(rho="fast"), "rho"),
    (dict(warmup=-1), "warmup"),
    (dict(smoothing=4), "smoothing"),
    (dict(smoothing=17), "smoothing"),
    (dict(vote=0), "vote"),
    (dict(shadow_threshold=0), "shadow_threshold"),
    (dict(variant="knn"), "variant"),
    (dict(complexity_prior=1.0), "complexity_prior"),
    (dict(neighbour_threshold=-1), "neighbour_threshold"),
    (dict(neighbour_threshold="near"), "neighbour_threshold"),
])
def test_parameters_are_validated_by_name(params, name):
    with pytest.raises(ValueError, match=name):
        MixtureSubtractor(**params)


def test_apply_learning_rate_override_is_validated():
    with pytest.raises(ValueError, match="learning_rate"):
        MixtureSubtractor().apply(np.zeros((3, 3), np.uint8), learning_rate=1.5)


def test_out_argument_is_written_in_place():
    m = MixtureSubtractor()
    out = np.full((6, 7), 9, np.uint8)
    res = m.apply(np.zeros((6, 7), np.uint8), out=out)
    assert res is out and (out == 0).all()
    with pytest.raises(ValueError, match="out"):
        m.apply(np.zeros((6, 7), np.uint8), out=np.zeros((7, 6), np.uint8))


def test_warmup_rate_schedule():
    m = MixtureSubtractor(learning_rate=0.01, warmup=4)
    assert m._rate(None) == 1.0  # first frame initialises
    m.n_frames_ = 1
    assert m._rate(None) == pytest.approx(1 / 8)  # t = 2: 1 / (4 t)
    m.n_frames_ = 99
    assert m._rate(None) == 0.01
    assert MixtureSubtractor(learning_rate=0.01, warmup=0)._rate(None) == 1.0


def test_save_load_keeps_every_parameter(tmp_path):
    a = MixtureSubtractor(detect_shadows=True, shadow_threshold=0.7, smoothing=3, vote=0.5,
                          warmup=0, rho="density", variant="zivkovic", complexity_prior=0.1,
                          neighbour_threshold=1.5)
    a.apply(np.zeros((5, 6), np.uint8))
    a.save(tmp_path / "m.npz")
    assert MixtureSubtractor.load(tmp_path / "m.npz").get_params() == a.get_params()


def test_a_model_file_from_before_the_neighbourhood_rule_loads_with_the_rule_off(tmp_path):
    a = MixtureSubtractor()
    a.apply(np.zeros((5, 6), np.uint8))
    old = saved_without(a, tmp_path, "neighbour_threshold")
    assert MixtureSubtractor.load(old).neighbour_threshold == 0.0


# ---------------------------------------------------------------- global gain compensation
def _stepped_scene(gain, at=150, n=260):
    from bgsub.evaluate.synthetic import SyntheticScene

    scene = SyntheticScene(width=160, height=120, n_frames=n, seed=3)
    lut = np.clip(np.rint(np.arange(256) * gain), 0, 255).astype(np.uint8)
    return [(lut[f] if t >= at else f, gt) for t, (f, gt) in
            ((t, scene.frame(t)) for t in range(n))]


def _false_positive_fraction(model, data, first):
    fps = []
    for t, (f, gt) in enumerate(data):
        mask = model.apply(f)
        if t >= first:
            fps.append(np.mean(mask[gt == 0] == 255))
    return float(np.mean(fps))


def test_a_30_percent_darker_step_is_recovered_at_once():
    # Measured (synthetic 160x120 scene, step at frame 150, false positives over frames
    # 160-259): 0.0001 with gain compensation (the default), 0.65 without it.
    data = _stepped_scene(0.7)
    assert MixtureSubtractor().gain_compensation
    new = _false_positive_fraction(MixtureSubtractor(), data, 160)
    old = _false_positive_fraction(MixtureSubtractor(gain_compensation=False), data, 160)
    assert new < 0.01
    assert old > 0.5


def test_gain_estimate_follows_a_step():
    m = MixtureSubtractor()
    data = _stepped_scene(1.3)
    for f, _ in data[:150]:
        m.apply(f)
    before = m.gain_  # the scene's own slow drift of the light: about 0.96
    assert abs(before - 1.0) < 0.06
    for f, _ in data[150:170]:
        m.apply(f)
    assert m.gain_ / before == pytest.approx(1.3, abs=0.06)


def test_bright_background_clipped_by_a_brighter_step_stays_background():
    # A bright textured wall (225-249 in every channel), then everything 50% brighter: the
    # camera clips the wall at 255, which the compensation turns into 170-180, far from what
    # the model knows there.  Measured (synthetic 160x120 scene, step at frame 150, frames
    # 160-259): the wall 95% foreground in every frame without clear_clipped, 0% with it.
    wall = np.random.default_rng(1).integers(225, 250, (30, 60, 3), dtype=np.uint8)
    lut = np.clip(np.rint(np.arange(256) * 1.5), 0, 255).astype(np.uint8)
    data = []
    for t, (f, gt) in enumerate(_stepped_scene(1.0)):
        f, gt = f.copy(), gt.copy()
        f[:30, :60] = wall
        gt[:30, :60] = 0
        data.append((lut[f] if t >= 150 else f, gt))
    assert (data[160][0][:30, :60] == 255).all()
    m = MixtureSubtractor()
    on_wall = []
    for t, (f, gt) in enumerate(data):
        mask = m.apply(f)
        if t >= 160:
            on_wall.append(np.mean(mask[:30, :60] == 255))
    assert m.gain_ > 1.3
    assert np.mean(on_wall) < 0.01
    assert _false_positive_fraction(MixtureSubtractor(), data, 160) < 0.01


def test_gain_compensation_works_on_gray_frames():
    data = _stepped_scene(0.7, n=200)
    gray = [(np.ascontiguousarray(f[:, :, 1]), gt) for f, gt in data]
    m = MixtureSubtractor()
    assert _false_positive_fraction(m, gray, 160) < 0.01
    assert m.gain_ == pytest.approx(0.7, abs=0.03)


def test_save_and_load_continue_bit_for_bit_across_a_light_step(tmp_path):
    data = _stepped_scene(0.7, at=60, n=100)
    a = MixtureSubtractor()
    for f, _ in data[:70]:
        a.apply(f)
    a.save(tmp_path / "model.npz")
    b = MixtureSubtractor.load(tmp_path / "model.npz")
    assert b.gain_ == a.gain_
    for f, _ in data[70:]:
        np.testing.assert_array_equal(a.apply(f), b.apply(f))
    np.testing.assert_array_equal(a.state_, b.state_)


def _shaken_scene(n, shake=True, h=96, w=128, seed=3):
    """A textured scene (blurred noise) with a 12 x 12 square crossing it, every frame and its
    ground truth shifted as scripts/make_shake.py shifts them (a random walk within 3 pixels),
    or not at all; returns (frames, truths, offsets)."""
    import sys
    from pathlib import Path

    import cv2

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    from make_shake import offsets, shift

    rng = np.random.default_rng(seed)
    tex = cv2.GaussianBlur(rng.uniform(0, 255, (h, w, 3)).astype(np.float32), (0, 0), 1.5)
    tex = (tex - tex.min()) / (tex.max() - tex.min()) * 200 + 25
    off = offsets(n) if shake else np.zeros((n, 2), np.int64)
    frames, truths = [], []
    for t in range(n):
        img, gt = tex.copy(), np.zeros((h, w), np.uint8)
        x0 = 10 + (2 * t) % (w - 30)
        img[40:52, x0:x0 + 12] = (240, 20, 200)
        gt[40:52, x0:x0 + 12] = 255
        dx, dy = (int(v) for v in off[t])
        frames.append(noisy(rng, shift(img, dx, dy), 1.5))
        truths.append(shift(gt, dx, dy, 0))
    return frames, truths, off


def _fp_tp(masks, truths, first=10):
    fp = sum(int(np.sum((m == 255) & (g == 0))) for m, g in zip(masks[first:], truths[first:]))
    tp = sum(int(np.sum((m == 255) & (g == 255))) for m, g in zip(masks[first:], truths[first:]))
    return fp, tp


def _followed(m, frames):
    """(masks, the scene's move since the first frame as the model saw it in each frame)."""
    masks, moves = [], []
    for f in frames:
        masks.append(m.apply(f))
        moves.append((m.anchor_[0] + m.shift_[0], m.anchor_[1] + m.shift_[1]))
        assert max(abs(v) for v in m.shift_) <= m.max_shift
    return masks, moves


def test_a_shaking_camera_is_followed_and_its_masks_stay_in_the_frames_coordinates():
    frames, truths, off = _shaken_scene(70)
    m = MixtureSubtractor()
    masks, shifts = _followed(m, frames)
    # the camera's move since the first frame: off[t] - off[0]
    want = [tuple(int(v) for v in o - off[0]) for o in off]
    assert sum(s == w for s, w in zip(shifts[2:], want[2:])) >= 0.95 * (len(frames) - 2)
    fp, tp = _fp_tp(masks, truths)
    still = MixtureSubtractor(max_shift=0)
    fp0, _ = _fp_tp([still.apply(f) for f in frames], truths)
    pixels = 60 * 96 * 128
    # measured 277 and 14,545 (820 and 30,062 with the defaults before background_ratio 0.4
    # and warmup 2.5)
    assert fp < 0.002 * pixels < 0.015 * pixels < fp0, (fp, fp0)
    assert tp > 0.5 * 60 * 144  # the square is found where the frame shows it (5,620)


def test_the_background_image_is_in_the_frames_coordinates_under_a_shake():
    from bgsub.model.mixture import shift_image

    frames, _, _ = _shaken_scene(70)
    m = MixtureSubtractor()
    far = np.ones(frames[0].shape[:2], bool)
    far[36:56] = False  # away from the square
    errors, model_coords = [], []
    for t, f in enumerate(frames):
        m.apply(f)
        if t >= 40 and m.shift_ != (0, 0):
            bg = m.background_image()
            errors.append(np.abs(bg.astype(int) - f)[far].mean())
            back = np.empty_like(bg)
            shift_image(bg, back, *m.shift_, True)  # what the model's own pixels hold
            model_coords.append(np.abs(back.astype(int) - f)[far].mean())
    assert len(errors) > 10
    assert max(errors) < 2.5 < 2 * 2.5 < min(model_coords), (errors, model_coords)


def _panned_scene(n, start=10, pan=(20, 10), h=96, w=128, seed=5):
    """A window of a larger textured scene that stands still for ``start`` frames, then moves
    right by a pixel every second frame and down by one every fourth until it has moved
    ``pan``, as scripts/make_shake.py's pans; a 12 x 12 square crosses it.  Returns (frames,
    truths, window positions)."""
    import cv2

    rng = np.random.default_rng(seed)
    big = cv2.GaussianBlur(rng.uniform(0, 255, (h + pan[1], w + pan[0], 3)).astype(np.float32),
                           (0, 0), 1.5)
    big = (big - big.min()) / (big.max() - big.min()) * 200 + 25
    k = np.maximum(np.arange(n) - start, 0)
    pos = np.stack([np.minimum(k // 2, pan[0]), np.minimum(k // 4, pan[1])], axis=1)
    return (*_windows(rng, big, pos, h, w), pos)


def _windows(rng, big, pos, h, w):
    """(frames, truths): the h x w windows of ``big`` at the positions ``pos`` ((x, y) per
    frame), a 12 x 12 square crossing them, a camera's noise on them."""
    frames, truths = [], []
    for t, (x, y) in enumerate(pos):
        img, gt = big[y:y + h, x:x + w].copy(), np.zeros((h, w), np.uint8)
        x0 = 10 + (2 * t) % (w - 30)
        img[40:52, x0:x0 + 12] = (240, 20, 200)
        gt[40:52, x0:x0 + 12] = 255
        frames.append(noisy(rng, img, 1.5))
        truths.append(gt)
    return frames, truths


def test_a_pan_is_followed_by_moving_the_model_with_the_camera():
    # 20 px right and 10 down, five times max_shift: the model moves with the camera
    frames, truths, pos = _panned_scene(100)
    m = MixtureSubtractor()
    masks, moved = _followed(m, frames)
    # the camera moves right and down: the scene moves left and up in its frames
    assert sum(mv == (-p[0], -p[1]) for mv, p in zip(moved, pos)) >= 0.95 * len(frames)
    # the pan has stopped within reach of the model's last place
    assert (m.anchor_[0] + m.shift_[0], m.anchor_[1] + m.shift_[1]) == (-20, -10)
    assert m.anchor_[0] <= -16 and m.anchor_[1] <= -6
    fp, tp = _fp_tp(masks, truths)
    still = MixtureSubtractor(max_shift=0)
    fp0, _ = _fp_tp([still.apply(f) for f in frames], truths)
    pixels = 90 * 96 * 128
    assert fp < 0.002 * pixels < 0.05 * pixels < fp0, (fp, fp0)
    assert tp > 0.6 * 90 * 144


def test_a_camera_moved_to_the_edge_of_the_search_is_followed_at_once():
    # the camera moves 4 px left and 2 up at once and stays: at the edge of the search, once
    # the mean of the last 8 frames' shifts reaches 2 px the model moves with it and the
    # frames are no longer shifted
    frames, truths, _ = _shaken_scene(60, shake=False)
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    from make_shake import shift

    frames = [f if t < 20 else shift(f, -4, -2) for t, f in enumerate(frames)]
    m = MixtureSubtractor()
    shifts = []
    for f in frames:
        m.apply(f)
        shifts.append(m.shift_)
    assert shifts[20] == (-4, -2)
    assert all(s == (0, 0) for s in shifts[30:]) and m.anchor_ == (-4, -2)


def _knocked_scene(n, at, knock, h=96, w=128, seed=6):
    """A window of a larger textured scene (a camera's noise on it) that jumps by ``knock``
    (x, y; the scene moves the other way in the frames) at frame ``at`` and stays there; a
    12 x 12 square crosses it.  Returns (frames, truths)."""
    import cv2

    rng = np.random.default_rng(seed)
    pad = 24
    big = cv2.GaussianBlur(rng.uniform(0, 255, (h + 2 * pad, w + 2 * pad, 3)).astype(
        np.float32), (0, 0), 1.5)
    big = (big - big.min()) / (big.max() - big.min()) * 200 + 25
    pos = [(pad + knock[0], pad + knock[1]) if t >= at else (pad, pad) for t in range(n)]
    return _windows(rng, big, pos, h, w)


@pytest.mark.parametrize("knock", [(16, 8), (-8, -6), (0, 20), (-24, 0)])
def test_a_camera_knocked_beyond_the_search_is_found_again_at_once(knock):
    """A knock of up to 24 px in one frame: the model moves by it on that frame (phase
    correlation against its background, confirmed by the points) and the frames after are
    as clean as before; without the alignment the knock is foreground for many frames."""
    frames, truths = _knocked_scene(80, 40, knock)
    m = MixtureSubtractor()
    false_fg = []
    for t, (f, gt) in enumerate(zip(frames, truths)):
        mask = m.apply(f)
        if t == 40:
            assert m.anchor_ == (-knock[0], -knock[1]) and m.shift_ == (0, 0)
        if t >= 40:
            false_fg.append(np.mean((mask == 255) & (gt == 0)))
    assert m.anchor_ == (-knock[0], -knock[1])
    assert max(false_fg) < 0.005
    off = MixtureSubtractor(max_shift=0)
    masks = [off.apply(f) for f in frames]
    assert np.mean([np.mean(mk == 255) for mk in masks[40:50]]) > 0.3


def test_a_jump_within_the_search_that_its_climb_misses_is_found_too():
    """A noise-free texture jumps by (-4, 2) in one frame: the search's climb from (0, 0)
    stops at a local maximum ((-1, -3), 17% of the points); the wide search finds the jump and
    the model moves by it, so the frames after are clean."""
    import cv2

    rng = np.random.default_rng(4)
    tex = cv2.GaussianBlur(rng.uniform(0, 255, (120, 150, 3)).astype(np.float32), (0, 0), 1.5)
    big = ((tex - tex.min()) / (tex.max() - tex.min()) * 200 + 25).astype(np.uint8)
    m = MixtureSubtractor()
    for t in range(60):
        f = big[10:106, 10:138] if t < 40 else big[8:104, 14:142]
        mask = m.apply(np.ascontiguousarray(f))
        if t >= 40:
            assert m.anchor_ == (-4, 2) and not mask.any()


@pytest.mark.parametrize("candidate", [None, (12, 5)])
def test_a_large_object_before_the_points_does_not_move_the_model(monkeypatch, candidate):
    """Most of the frame covered at once (a truck before the camera): the points stop
    agreeing at every shift, as after a knock, and the wide search runs (a few frames, then
    the collapse is the last frames' norm), but the shift it finds is refused: beyond a
    quarter of the frame, or (``candidate``: the search made to answer a shift in range) one
    at which the points do not agree."""
    if candidate is not None:
        monkeypatch.setattr(MixtureSubtractor, "_wide_shift", lambda self, f: candidate)
    searched = []
    wide = MixtureSubtractor._wide_shift
    monkeypatch.setattr(MixtureSubtractor, "_wide_shift",
                        lambda self, f: searched.append(1) or wide(self, f))
    frames, _ = _knocked_scene(80, 200, (0, 0))
    m = MixtureSubtractor()
    for t, f in enumerate(frames):
        if t >= 40:
            f = f.copy()
            f[:, 10:118] = (30 + (t % 7), 160, 90)  # a flat side, 85% of the frame
        m.apply(f)
        assert m.anchor_ == (0, 0)
    assert 1 <= len(searched) <= 8


def test_points_agree_counts_as_the_alignment_kernel_does():
    from bgsub.model import _jit
    from bgsub.model import _layout as layout

    frames, _ = _knocked_scene(30, 25, (3, -2))
    m = MixtureSubtractor()
    for f in frames[:25]:
        m.apply(f)
    pts, n, r = m._points
    hot, _ = m._views()
    f = frames[25]
    scratch = (np.empty(n, np.float32), np.empty((2 * r + 1) ** 2, np.int64))
    dx, dy, best, at0 = _jit.kernels()["shift_estimate"](
        f, hot, 1, pts, n, *scratch, 0, 0, r, np.float32(6.0), 0, 0)
    assert (dx, dy) == (-3, 2) and best > 0.8 * n
    assert layout.points_agree(hot, f, 1, pts[:n], dx, dy, 6.0) == (best, n)
    assert layout.points_agree(hot, f, 1, pts[:n], 0, 0, 6.0) == (at0, n)
    # a shift beyond the frame's edge counts only the points that stay inside
    agree, inside = layout.points_agree(hot, f, 1, pts[:n], 200, 0, 6.0)
    assert inside == agree == 0


def test_a_small_move_that_holds_is_made_the_models_after_128_frames():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    from make_shake import shift

    frames, _, _ = _shaken_scene(180, shake=False)
    frames = [f if t < 20 else shift(f, 1, 0) for t, f in enumerate(frames)]
    m = MixtureSubtractor()
    shifts = []
    for f in frames:
        m.apply(f)
        shifts.append(m.shift_)
    assert all(s == (1, 0) for s in shifts[20:20 + 127])  # within reach: only copies
    assert all(s == (0, 0) for s in shifts[20 + 128:]) and m.anchor_ == (1, 0)


@pytest.mark.parametrize("c", [1, 3])
def test_shift_state_moves_every_record_and_starts_the_uncovered_edge_from_both(c):
    from bgsub.model import _layout as layout

    rng = np.random.default_rng(2)
    k, h, w = 4, 7, 9
    ranked = np.zeros((k, h, w, c + 2), np.float32)
    used = rng.integers(1, k + 1, (h, w))
    for i in range(h):
        for j in range(w):
            u = np.sort(rng.uniform(0.05, 1, used[i, j]))[::-1]
            var = rng.uniform(20, 100, used[i, j])
            order = np.argsort(-(u / np.sqrt(var)), kind="stable")
            rec = np.column_stack([u / u.sum(), var, rng.uniform(0, 255, (used[i, j], c))])
            ranked[:used[i, j], i, j] = rec[order]
    frame = rng.integers(0, 256, (h, w, c)).astype(np.uint8)
    # corners, and moves that leave one row or one column of the frame inside it
    for sx, sy in ((2, 0), (0, -3), (-1, 2), (3, 3), (-2, -1), (0, 6), (-8, 0), (5, -6)):
        state = layout.from_ranked(ranked)
        layout.shift_state(state, k, h, w, c, sx, sy, frame, 1.0)
        got = layout.to_ranked(state, k, h, w, c)
        for i in range(h):
            for j in range(w):
                si, sj = i + sy, j + sx
                if 0 <= si < h and 0 <= sj < w:
                    np.testing.assert_array_equal(got[:, i, j], ranked[:, si, sj])
                    continue
                src = ranked[:, min(max(si, 0), h - 1), min(max(sj, 0), w - 1)]
                n = int((src[:, 0] > 0).sum())
                keep = src[:min(n, k - 1)].copy()
                keep[:, 0] *= 0.5 / keep[:, 0].sum()
                new = np.concatenate([[0.5, src[0, 1]], frame[i, j]]).astype(np.float32)
                want = np.vstack([new[None], keep])  # the frame's value leads a tie
                want = want[np.argsort(-(want[:, 0] / np.sqrt(want[:, 1])), kind="stable")]
                np.testing.assert_allclose(got[:len(want), i, j], want, rtol=1e-6)
                assert (got[len(want):, i, j] == 0).all()


def test_known_foreground_is_given_in_the_frames_coordinates_under_a_shake():
    # a block appears at frame 10 and stays; said to be foreground where the frame shows it, it
    # is not learned and stays foreground, every pixel of it; without that it is learned away
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    from make_shake import shift

    frames, _, off = _shaken_scene(40)
    block = np.zeros(frames[0].shape[:2], np.uint8)
    block[60:70, 20:40] = 255
    told, free = MixtureSubtractor(learning_rate=0.2, smoothing=1), MixtureSubtractor(
        learning_rate=0.2, smoothing=1)
    for t, f in enumerate(frames):
        known = shift(block, int(off[t][0]), int(off[t][1]), 0) > 0
        if t >= 10:
            f = f.copy()
            f[known] = (10, 250, 10)
        a = told.apply(f, known_foreground=known if t >= 10 else None)
        b = free.apply(f)
        if t >= 30:
            assert (a[known] == 255).all()
            assert (b[known] == 255).mean() < 0.5
    assert told.shift_ != (0, 0)


def test_a_steady_camera_is_never_shifted_and_its_masks_do_not_change():
    frames, truths, _ = _shaken_scene(70, shake=False)
    frames = [f if t < 40 else np.clip(f * 1.2, 0, 255).astype(np.uint8)  # a light step
              for t, f in enumerate(frames)]
    m, still = MixtureSubtractor(), MixtureSubtractor(max_shift=0)
    for f in frames:
        np.testing.assert_array_equal(m.apply(f), still.apply(f))
        assert m.shift_ == (0, 0)


def test_save_and_load_continue_bit_for_bit_under_a_shake(tmp_path):
    frames, _, _ = _shaken_scene(50)
    a = MixtureSubtractor()
    for f in frames[:21]:  # the points were chosen at frames 1 and 16
        a.apply(f)
    a.save(tmp_path / "model.npz")
    b = MixtureSubtractor.load(tmp_path / "model.npz")
    assert b.shift_ == a.shift_ != (0, 0)
    for f in frames[21:]:
        np.testing.assert_array_equal(a.apply(f), b.apply(f))
        assert a.shift_ == b.shift_
    assert a.anchor_ == b.anchor_
    z = dict(np.load(tmp_path / "model.npz"))
    for key, value in (("shift_points", np.array([0], np.int32)), ("shift", np.array([5, 0])),
                       ("shift_recent", np.zeros((2, 2))), ("anchor", np.array([1])),
                       ("shift_recent", np.array([[np.nan, 0.0, 0.5]])),
                       ("shift_recent", np.array([[0.5, 0.0, 0.5]]))):
        np.savez(tmp_path / "bad.npz", **dict(z, **{key: value}))
        with pytest.raises(ValueError, match="not a bgsub model file.*alignment"):
            MixtureSubtractor.load(tmp_path / "bad.npz")


def test_max_shift_changed_on_a_fitted_model_stays_inside_the_frame():
    # the points keep the first max_shift + 1 pixels from the border; a larger max_shift set
    # afterwards is held to that, a smaller one to itself (the last shift clamped into it)
    frames, _, _ = _shaken_scene(40)
    for later in (16, 1, 0):
        m = MixtureSubtractor()
        for f in frames[:20]:
            m.apply(f)
        assert m.shift_ != (0, 0)
        m.max_shift = later
        for f in frames[20:]:
            m.apply(f)
            assert max(abs(v) for v in m.shift_) <= min(later, 4)


@pytest.mark.parametrize("bad", [-1, 17, 2.0, True, "4"])
def test_max_shift_must_be_an_integer_from_0_to_16(bad):
    with pytest.raises(ValueError, match="max_shift must be an integer in \\[0, 16\\]"):
        MixtureSubtractor(max_shift=bad)


@pytest.mark.parametrize("replicate", [True, False])
def test_shift_image_matches_a_padded_slice(replicate):
    from bgsub.model.mixture import shift_image

    rng = np.random.default_rng(int(replicate))
    for shape in ((9, 13), (9, 13, 1), (9, 13, 3)):
        src = rng.integers(0, 256, shape, dtype=np.uint8)
        for sx, sy in [(0, 0), (3, -2), (-5, 4), (12, 0), (0, -8)]:
            pad = 16
            padded = np.pad(src, ((pad, pad), (pad, pad)) + ((0, 0),) * (src.ndim - 2),
                            mode="edge" if replicate else "constant")
            want = padded[pad + sy:pad + sy + 9, pad + sx:pad + sx + 13]
            got = np.full_like(src, 77)
            shift_image(src, got, sx, sy, replicate)
            np.testing.assert_array_equal(got, want)
