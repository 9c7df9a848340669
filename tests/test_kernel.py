"""The Numba kernel against the plain NumPy reference: masks identical, state equal."""

from pathlib import Path

import numpy as np
import pytest

from bgsub import ACCURATE, MixtureSubtractor
from bgsub.model import _fallback, _jit, _kernels
from bgsub.model import mixture as model_module
from bgsub.model import _layout as layout

from .reference import (reference_apply, reference_ghosts, reference_neighbours, reference_runs,
                        reference_vote)

RHO = {"weight": 0, "density": 1}


@pytest.fixture(autouse=True, params=["numba", "numpy"])
def engine(request):
    """Every test runs on the Numba kernels (compiled here if need be) and on their NumPy twins
    (bgsub.model._fallback), which must both agree with the reference bit for bit."""
    old = _jit.set_mode("sync" if request.param == "numba" else "numpy")
    yield request.param
    _jit.set_mode(old)


class ReferenceModel:
    """MixtureSubtractor's between-frame bookkeeping, written out again around the reference."""

    def __init__(self, **params):
        self.m = MixtureSubtractor(**params)  # only for its validated parameters
        self.state = None
        self.scale = 1.0
        self.t = 0
        self.runs = None  # the ghost rule's (since, last)

    def apply(self, frame, learning_rate=None, known=None):
        m = self.m
        f = frame[:, :, None] if frame.ndim == 2 else frame
        h, w, c = f.shape
        if self.state is None:
            self.state = np.zeros((m.n_components, h, w, c + 2), np.float32)
        if learning_rate is None:
            t = self.t + 1
            alpha = 1.0 if t == 1 else (max(m.learning_rate, 1.0 / (m.warmup * t)) if m.warmup
                                        else m.learning_rate)
        else:
            alpha = learning_rate
        if alpha >= 1.0:
            self.state[...] = 0
            self.state[0, :, :, 0] = 1
            self.state[0, :, :, 1] = m.initial_variance
            self.state[0, :, :, 2:] = f
            self.scale, self.t = 1.0, 1
            self.runs = None
            return np.zeros((h, w), np.uint8)
        p = layout.frame_params(alpha, self.scale, m.match_threshold, m.background_ratio, c,
                                m.complexity_prior if m.variant == "zivkovic" else 0.0,
                                m.neighbour_threshold)
        mask = reference_apply(f, self.state, known, p, RHO[m.rho], np.float32(m.initial_variance),
                               np.float32(m.min_variance), np.float32(m.max_variance),
                               m.detect_shadows, np.float32(m.shadow_threshold))
        ghost = m.ghost_frames if p.learn else 0
        if ghost:
            if self.runs is None:
                self.runs = (np.zeros((h, w), np.int64), np.full((h, w), -1, np.int64))
            reference_runs(mask, *self.runs, self.t + 1)
        model_mask = mask
        mask = reference_neighbours(f, self.state, mask, p)
        if ghost and (self.t + 1) % model_module._GHOST_EVERY == 0:
            w_min = 0.5 * (1.0 - (1.0 - float(p.alpha)) ** ghost)
            mm = model_module
            mask = reference_ghosts(f, self.state, mask, self.runs[0], self.t + 1, ghost, p.thr2,
                                    np.float32(p.thr2 * mm._GHOST_CLOSE ** 2),
                                    np.float32(w_min / p.new_scale), mm._GHOST_BORDER,
                                    mm._GHOST_STABLE, mm._GHOST_MIN_PX, known, model_mask)
        mask = reference_vote(mask, m.smoothing, m.vote, m.solid, m.speckle)
        if p.learn:
            self.scale = p.new_scale
            self.t += 1
            if self.scale < 2.0**-16:
                self.state[..., 0] *= np.float32(2.0**-16)
                self.scale /= 2.0**-16
        return mask


def structured_frames(n, h, w, channels, seed):
    """Noise, a bimodal flicker, a moving block, sudden jumps: every branch of the kernel."""
    rng = np.random.default_rng(seed)
    base = rng.integers(30, 220, (h, w, channels)).astype(np.float64)
    alt = np.clip(base + rng.choice([-80, 80], (h, w, 1)), 0, 255)
    flicker = rng.random((h, w)) < 0.3  # these pixels alternate between two modes
    frames = []
    for t in range(n):
        img = base.copy()
        on = flicker & (rng.random((h, w)) < 0.4)
        img[on] = alt[on]
        img += rng.normal(0, 2.0 + 4.0 * (t % 3 == 0), img.shape)
        x0 = (t * 2) % w
        img[h // 3: h // 3 + 4, x0: x0 + 5] = 255 - img[h // 3: h // 3 + 4, x0: x0 + 5]
        jump = rng.random((h, w)) < 0.05
        img[jump] = rng.integers(0, 256, (int(jump.sum()), channels))
        f = np.clip(np.rint(img), 0, 255).astype(np.uint8)
        frames.append(f[:, :, 0] if channels == 1 else f)
    return frames


def random_frames(n, h, w, channels, seed):
    rng = np.random.default_rng(seed)
    shape = (h, w) if channels == 1 else (h, w, channels)
    return [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(n)]


def run_both(frames, schedule=None, knowns=None, masks=None, **params):
    params.setdefault("smoothing", 1)  # the kernel's own mask; the vote is tested separately
    params.setdefault("gain_compensation", False)  # the per-pixel rule; gain: test_model.py
    model = MixtureSubtractor(**params)
    ref = ReferenceModel(**params)
    for t, frame in enumerate(frames):
        lr = schedule[t] if schedule else None
        known = knowns[t] if knowns else None
        got = model.apply(frame, learning_rate=lr, known_foreground=known)
        want = ref.apply(frame, learning_rate=lr, known=known)
        np.testing.assert_array_equal(got, want, err_msg=f"mask differs at frame {t}")
        if masks is not None:
            masks.append(got.copy())
        ranked = layout.to_ranked(model.state_, model.n_components, *model.frame_shape_)
        np.testing.assert_array_equal(ranked, ref.state, err_msg=f"state differs at frame {t}")
        assert model.scale_ == ref.scale
    return model


@pytest.mark.parametrize("channels", [1, 3])
# 1 and 2 components share one compiled kernel (an empty or a contiguous view of the lower
# ranks), 3 and more another (see bgsub.model._layout.kernel_components)
@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_kernel_matches_reference_structured(channels, k):
    frames = structured_frames(40, 9, 13, channels, seed=k * 10 + channels)
    model = run_both(frames, n_components=k, learning_rate=0.05, min_variance=4.0,
                     initial_variance=60.0)
    # the scene does exercise foreground and several components
    assert (model.components()[:, :, :, 0] > 0).sum(axis=0).max() == k


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_kernel_matches_reference_random(channels, k):
    run_both(random_frames(25, 7, 11, channels, seed=k + channels), n_components=k,
             learning_rate=0.02, match_threshold=3.0, max_variance=2000.0)


@pytest.mark.parametrize("channels", [1, 3])
def test_kernel_matches_reference_density_rule(channels):
    frames = structured_frames(30, 8, 10, channels, seed=7)
    run_both(frames, n_components=4, learning_rate=0.1, rho="density", min_variance=1.0)


def test_kernel_matches_reference_with_overrides_and_known_foreground():
    frames = structured_frames(30, 8, 12, 3, seed=3)
    rng = np.random.default_rng(5)
    knowns = [None if t % 4 else rng.random((8, 12)) < 0.3 for t in range(30)]
    schedule = [None] * 30
    schedule[10] = 0.0
    schedule[11] = 0.5
    schedule[20] = 1.0
    schedule[21] = 0.0
    run_both(frames, schedule=schedule, knowns=knowns, n_components=3, learning_rate=0.03)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("k", [1, 3])
def test_kernel_matches_reference_on_wide_rows(channels, k):
    # rows wider than the SIMD loop's step (up to 64 pixels a step with AVX-512, 4 vectors of
    # 16), and not a multiple of it, so that the row pass runs its vector body and its
    # remainder; some frames with known foreground
    h, w = 3, 203
    frames = structured_frames(30, h, w, channels, seed=40 + k + channels)
    rng = np.random.default_rng(k)
    knowns = [rng.random((h, w)) < 0.2 if t % 5 == 3 else None for t in range(30)]
    model = run_both(frames, knowns=knowns, n_components=k, learning_rate=0.05,
                     min_variance=4.0, initial_variance=60.0)
    assert (model.components()[:, :, :, 0] > 0).sum(axis=0).max() == k


def test_global_rescale_is_exact():
    # a fast rate drives the global scale below 2**-16 within the run: the rescaled model must
    # still agree with the reference bit for bit
    frames = structured_frames(60, 6, 7, 1, seed=11)
    model = run_both(frames, n_components=3, learning_rate=0.25)
    assert model.scale_ >= 2.0**-16


@pytest.mark.parametrize("size, vote, solid", [(3, 0.4, 1), (5, 0.4, 1), (5, 0.7, 1), (5, 0.7, 3),
                                               (11, 0.67, 3), (7, 0.9, 5), (15, 0.5, 15)])
def test_spatial_vote_matches_reference(size, vote, solid):
    frames = structured_frames(25, 12, 17, 3, seed=size)
    run_both(frames, n_components=3, learning_rate=0.05, smoothing=size, vote=vote, solid=solid)


def test_vote_on_any_shape_matches_reference():
    # the kernel slides column sums down bands of rows and doubles window sums along a row,
    # and each band opens the rows its windows reach (speckle_radius > 0): frames of one row
    # or column, narrower or shorter than the window, fewer rows than bands, every window
    # size, solid windows smaller than, as large as and larger than the opening's, on both
    # engines against the reference's cumulative sums and its pixel-by-pixel opening
    rng = np.random.default_rng(5)
    k = _jit.kernels()["vote_mask"]
    shapes = [(1, 1), (1, 37), (37, 1), (3, 5), (15, 16), (17, 40), (40, 17), (33, 64)]
    for h, w in shapes:
        for radius in range(0, 8):
            for solid_radius in (0, 1, 2):
                for speckle_radius in (0, 1, 2) if radius else (0,):  # 1x1: test_speckle.py
                    size = 2 * radius + 1
                    need = int(rng.integers(1, size * size + 1))
                    raw = rng.choice(np.array([0, 1, 2], np.uint8), size=(h, w),
                                     p=[0.15, 0.75, 0.1])
                    got = np.empty_like(raw)
                    bands = int(rng.choice([1, 2, 3, 16, 40]))  # the output does not depend on it
                    k(raw, got, radius, need, solid_radius, speckle_radius, bands)
                    labelled = np.choose(raw, np.array([0, 255, 127], np.uint8))
                    want = reference_vote(labelled, size, need / (size * size),
                                          2 * solid_radius + 1, 2 * speckle_radius + 1)
                    np.testing.assert_array_equal(
                        got, want, err_msg=f"{h}x{w} r={radius} s={solid_radius} "
                                           f"o={speckle_radius}")


@pytest.mark.parametrize("kernels", ["numba", "numpy"])
def test_a_solid_object_smaller_than_the_vote_window_survives_it(kernels):
    # hand-made raw mask: a 3x3 block of foreground (9 of the 121 pixels of an 11x11 window,
    # far below a 0.67 vote) and a lone pixel; the block's pixels each have an all-foreground
    # 3x3 window only at the block's centre
    if kernels == "numpy":
        k = _fallback.vote_mask
    else:
        k = _jit.kernels()["vote_mask"].disp
    raw = np.zeros((15, 16), np.uint8)
    raw[5:8, 6:9] = 1
    raw[12, 2] = 1
    raw[0, 0] = 2  # a shadow stays a shadow
    out = np.empty_like(raw)
    need = int(np.ceil(0.67 * 121))
    k(raw, out, 5, need, 1, 0, 4)
    expect = np.zeros_like(raw)
    expect[6, 7] = 255
    expect[0, 0] = 127
    np.testing.assert_array_equal(out, expect)
    k(raw, out, 5, need, 0, 0, 4)  # solid off: all gone
    expect[6, 7] = 0
    np.testing.assert_array_equal(out, expect)
    # edges replicated: a 2x3 block in the corner has two pixels whose 3x3 window, with the
    # last row repeated, is all foreground
    raw = np.zeros((15, 16), np.uint8)
    raw[13:15, 13:16] = 1
    k(raw, out, 5, need, 1, 0, 4)
    expect = np.zeros_like(raw)
    expect[14, 14:16] = 255
    np.testing.assert_array_equal(out, expect)


@pytest.mark.parametrize("smoothing", [1, 5])
@pytest.mark.parametrize("channels", [1, 3])
def test_shadow_labels_match_reference(smoothing, channels):
    # darkened copies of the background (shadows) beside inverted blocks (objects)
    frames = structured_frames(30, 12, 16, channels, seed=21)
    for t in range(10, 30):
        f = frames[t].astype(np.float32)
        f[2:6, 3:9] *= 0.7
        frames[t] = f.astype(np.uint8)
    masks = []
    run_both(frames, masks=masks, n_components=3, learning_rate=0.05, detect_shadows=True,
             smoothing=smoothing)
    assert any((m[2:6, 3:9] == 127).any() for m in masks[10:])  # the test did see shadows


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("k", [3, 5])
def test_zivkovic_variant_matches_reference(channels, k):
    frames = structured_frames(40, 9, 13, channels, seed=30 + k)
    model = run_both(frames, n_components=k, learning_rate=0.05, variant="zivkovic",
                     complexity_prior=0.2, initial_variance=60.0, min_variance=4.0)
    # the prior does prune: fewer components in use than the plain model keeps
    plain = MixtureSubtractor(n_components=k, learning_rate=0.05, initial_variance=60.0,
                              min_variance=4.0, smoothing=1)
    for f in frames:
        plain.apply(f)
    used = (model.components()[..., 0] > 0).sum()
    assert used < (plain.components()[..., 0] > 0).sum()


@pytest.mark.parametrize("threshold", [0.0, 2.5])
@pytest.mark.parametrize("smoothing", [1, 5])
@pytest.mark.parametrize("channels", [1, 3])
def test_neighbourhood_rule_matches_reference(threshold, smoothing, channels):
    # a scene that jumps one pixel sideways now and then (camera jitter, swaying leaves): much
    # of the foreground matches a neighbour's background, so the rule has work to do
    frames = structured_frames(30, 10, 14, channels, seed=40 + channels)
    for t in range(12, 30, 3):
        frames[t] = np.ascontiguousarray(np.roll(frames[t], 1, axis=1))
    masks = []
    # speckle=1: on these 10x14 frames what the rule leaves is speckles, which the opening
    # before the vote would take as well (it has tests of its own)
    params = dict(n_components=3, learning_rate=0.05, smoothing=smoothing, vote=0.4, solid=1,
                  neighbour_threshold=threshold, speckle=1)
    run_both(frames, masks=masks, **params)
    if threshold:
        off = MixtureSubtractor(**dict(params, neighbour_threshold=0.0,
                                       gain_compensation=False))
        fg_off = sum(int((off.apply(f) == 255).sum()) for f in frames)
        fg_on = sum(int((m == 255).sum()) for m in masks)
        assert 0 < fg_on < fg_off


@pytest.mark.parametrize("shape", [(1, 19), (17, 1), (2, 2), (3, 8)])
def test_neighbourhood_rule_matches_reference_on_thin_frames(shape):
    # the rule's rows above and below that lie outside the frame, a first column that is also
    # the last, and a width that fills its 8-byte words of candidates exactly
    h, w = shape
    frames = structured_frames(30, h, w, 1, seed=60 + h)
    for t in range(12, 30, 3):
        frames[t] = np.ascontiguousarray(np.roll(frames[t], 1, axis=1 if w > 1 else 0))
    run_both(frames, n_components=3, learning_rate=0.05, neighbour_threshold=2.5)


@pytest.mark.parametrize("channels", [1, 3])
def test_neighbourhood_rule_matches_reference_on_wide_rows(channels):
    # rows wider than the rule's chunks (32 columns) and its SIMD step, not a multiple of
    # either: the search for spans of foreground, merged and single spans, the first and last
    # columns, and the vector body and remainder of the rank-0 test
    h, w = 5, 203
    frames = structured_frames(30, h, w, channels, seed=50 + channels)
    for t in range(12, 30, 3):
        frames[t] = np.ascontiguousarray(np.roll(frames[t], 1 if t % 2 else -1, axis=1))
    masks = []
    params = dict(n_components=3, learning_rate=0.05, smoothing=1, neighbour_threshold=2.5)
    run_both(frames, masks=masks, **params)
    off = MixtureSubtractor(**dict(params, neighbour_threshold=0.0, gain_compensation=False))
    fg_off = [off.apply(f) == 255 for f in frames]
    fg_on = [m == 255 for m in masks]
    assert 0 < sum(int(m.sum()) for m in fg_on) < sum(int(m.sum()) for m in fg_off)
    # the rule cleared pixels in the first and last columns too
    assert any((a[:, [0, -1]] & ~b[:, [0, -1]]).any() for a, b in zip(fg_off, fg_on))


def test_neighbourhood_rule_with_shadows_and_zivkovic_matches_reference():
    frames = structured_frames(30, 10, 14, 3, seed=44)
    for t in range(10, 30):
        f = frames[t].astype(np.float32)
        f[2:6, 3:9] *= 0.7
        frames[t] = f.astype(np.uint8)
    for t in range(12, 30, 4):
        frames[t] = np.ascontiguousarray(np.roll(frames[t], -1, axis=0))
    run_both(frames, n_components=4, learning_rate=0.05, detect_shadows=True,
             variant="zivkovic", complexity_prior=0.2, neighbour_threshold=3.0)


@pytest.mark.parametrize("channels", [1, 3])
def test_clear_clipped_matches_a_plain_numpy_expression(channels):
    # pixels at the clipped level in every channel, in some, or none; means on both sides of
    # it; unused components; foreground, background and shadow labels
    h, w, level, fg = 23, 37, 170, 255
    rng = np.random.default_rng(channels)
    k = _jit.kernels()
    for trial in range(4):
        frame = rng.choice([level, level - 1, 255], (h, w, channels)).astype(np.uint8)
        frame[rng.random((h, w)) < 0.5] = level
        state = layout.new_state(2, h, w, channels)
        hot, _ = layout.views(state, 2, h, w, channels)
        hot[:, layout.U, :] = rng.choice([0.0, 0.5, 1.0], (h, w)).astype(np.float32)
        hot[:, layout.VAR, :] = rng.choice([4.0, 25.0, 121.0], (h, w)).astype(np.float32)
        hot[:, layout.MEAN:, :] = rng.uniform(120, 200, (h, channels, w)).astype(np.float32)
        mask = rng.choice(np.array([0, 127, fg], np.uint8), (h, w))
        thr2 = np.float32(3.5 * 3.5 * channels)
        mu = hot[:, layout.MEAN:, :].transpose(0, 2, 1)
        gap = np.maximum(np.float32(level) - mu, np.float32(0))
        d2 = np.zeros((h, w), np.float32)
        for c in range(channels):  # summed channel by channel, as the kernel does
            d2 += gap[:, :, c] * gap[:, :, c]
        clear = ((mask == fg) & (hot[:, layout.U, :] > 0) & (frame == level).all(axis=2)
                 & (d2 < thr2 * hot[:, layout.VAR, :]))
        want = np.where(clear, 0, mask).astype(np.uint8)
        got = mask.copy()
        k["clear_clipped"](frame, hot, got, np.uint8(level), thr2, np.uint8(fg))
        np.testing.assert_array_equal(got, want)
        assert 0 < clear.sum() < (mask == fg).sum()


def test_median_is_numpys_bit_for_bit():
    # the gain's median, a quickselect: odd and even counts, one value, all values equal, few
    # distinct values (three-way partitions), sorted and reversed runs, against np.median
    rng = np.random.default_rng(11)
    median = _kernels._median
    cases = [np.array([3.5], np.float32), np.full(40, 1.25, np.float32),
             np.arange(64, dtype=np.float32), np.arange(65, dtype=np.float32)[::-1].copy()]
    for n in list(range(1, 40)) + [999, 2000]:
        cases.append(rng.choice(np.float32([0.5, 1.0, 1.0001, 2.0]), n))
        cases.append((rng.random(n) * 3).astype(np.float32))
    for a in cases:
        want = np.float32(np.median(a))
        got = median(a.copy())
        assert got == want, (a.size, got, want)


@pytest.mark.parametrize("size, use_prev", [((37, 53), False), ((37, 53), True), ((48, 64), True),
                                            ((5, 4), False)])
def test_gain_estimate_matches_numpy(size, use_prev):
    # the gain's samples and their median, against the NumPy expression they replace: values
    # on both sides of each bound, even and odd counts (the median of an even count is the
    # float32 mean of the middle two), repeated ratios, a grid not starting at 0
    h, w = size
    rng = np.random.default_rng(h * w + use_prev)
    k = _jit.kernels()
    for trial in range(6):
        frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        frame[rng.random((h, w)) < 0.2] = 4 + trial % 2  # ties in the ratios, a bound
        state = layout.new_state(2, h, w, 3)
        hot, _ = layout.views(state, 2, h, w, 3)
        hot[:, layout.MEAN:, :] = rng.choice([15.5, 16.0, 100.25, 240.0, 240.5, 0.5, 77.0],
                                             (h, 3, w)).astype(np.float32)
        start, step, ch = trial % 3, 1 + trial % 2, trial % 3
        gh, gw = len(range(start, h, step)), len(range(start, w, step))
        prev = rng.random((gh, gw)) < 0.7
        mu = hot[start::step, layout.MEAN + ch, start::step]
        x = frame[start::step, start::step, ch]
        sel = (mu >= 16.0) & (mu <= 240.0) & (x >= 4) & (x <= 251)
        if use_prev:
            sel &= prev
        want = (x / np.maximum(mu, np.float32(1.0)))[sel]
        ratios = np.full(gh * gw, np.nan, np.float32)
        n, med = k["gain_estimate"](frame, hot, ch, start, step, prev, use_prev, ratios)
        assert n == want.size
        np.testing.assert_array_equal(np.sort(ratios[:n]), np.sort(want))  # the median reorders
        if n:
            assert np.float32(med) == np.median(want)  # bit for bit
        grid = np.zeros((gh, gw), bool)
        mask = np.where(rng.random((h, w)) < 0.5, 255, 0).astype(np.uint8)
        k["grid_background"](mask, start, step, grid)
        np.testing.assert_array_equal(grid, mask[start::step, start::step] == 0)


def ghost_frames_scene(n, h, w, channels, seed, leave=12, stop=20):
    """A smooth, noisy background; a block that stands in the first ``leave`` frames and then
    leaves (a ghost); a second block that arrives at frame ``stop`` and stays; some flicker."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = (60 + 90 * yy / h + 50 * xx / w)[:, :, None] + 20 * np.arange(channels)
    base = base + rng.normal(0, 2.0, (h, w, channels))  # a gentle texture: neighbours agree
    ghost = np.zeros((h, w), bool)
    ghost[2:h - 3, 2:w // 2 - 1] = True
    stopped = np.zeros((h, w), bool)
    stopped[3:h - 2, w // 2 + 2:w - 2] = True
    frames = []
    for t in range(n):
        img = base + rng.normal(0, 2.0, base.shape)
        if t < leave:
            img[ghost] = 240 - base[ghost] * 0.3
        if t >= stop:
            img[stopped] = 15 + base[stopped] * 0.2
        jump = rng.random((h, w)) < 0.03
        img[jump] = rng.integers(0, 256, (int(jump.sum()), channels))
        f = np.clip(np.rint(img), 0, 255).astype(np.uint8)
        frames.append(f[:, :, 0] if channels == 1 else f)
    return frames, ghost, stopped


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("smoothing", [1, 5])
def test_ghost_rule_matches_reference(channels, smoothing):
    frames, _, _ = ghost_frames_scene(45, 12, 18, channels, seed=60 + channels)
    masks = []
    run_both(frames, masks=masks, n_components=3, learning_rate=0.02, smoothing=smoothing,
             vote=0.4, solid=1, ghost_frames=3)
    off = MixtureSubtractor(n_components=3, learning_rate=0.02, smoothing=smoothing, vote=0.4,
                            solid=1, gain_compensation=False)
    fg_off = sum(int((off.apply(f) == 255).sum()) for f in frames)
    assert sum(int((m == 255).sum()) for m in masks) < fg_off  # the rule had work to do


@pytest.mark.parametrize("channels", [1, 3])
def test_ghost_rule_leaves_known_foreground_alone(channels):
    # the scene of test_ghost_rule_matches_reference: the ghost (rows 2-8, columns 2-7) is
    # absorbed at the decision of frame 16 (t = 15); a column of it is known foreground then
    frames, ghost, _ = ghost_frames_scene(45, 12, 18, channels, seed=60 + channels)
    knowns = [None] * len(frames)
    knowns[15] = np.zeros(ghost.shape, bool)
    knowns[15][2:9, 7] = True
    masks = []
    run_both(frames, knowns=knowns, masks=masks, n_components=3, learning_rate=0.02,
             ghost_frames=3)
    assert (masks[15][knowns[15]] == 255).all()  # known: still foreground
    # the rest of the ghost absorbed (measured: 34 of its 35 pixels in gray, all in colour)
    assert (masks[15][ghost & ~knowns[15]] == 0).mean() > 0.9


def test_ghost_rule_with_the_other_rules_matches_reference():
    # shadows, Zivkovic's prior, the neighbourhood rule, known foreground and a frozen frame,
    # on rows wider than the neighbourhood rule's chunks
    frames, _, _ = ghost_frames_scene(40, 8, 70, 3, seed=70)
    knowns = [None] * 40
    knowns[25] = np.zeros((8, 70), bool)
    knowns[25][:, 5:20] = True
    schedule = [None] * 40
    schedule[30] = 0.0
    run_both(frames, schedule=schedule, knowns=knowns, n_components=4, learning_rate=0.03,
             detect_shadows=True, ghost_frames=2, neighbour_threshold=2.0)
    run_both(frames, n_components=4, learning_rate=0.03, variant="zivkovic",
             complexity_prior=0.2, ghost_frames=4)


def test_a_ghost_goes_within_50_frames_and_a_stopped_object_stays():
    # the defaults with the ghost rule, on a 48x64 scene: a block stands in the first 60
    # frames and leaves; another arrives at frame 80 and stays.  Without the rule the ghost
    # stays to the end (140 frames); with it, it is gone within 30 frames, while the stopped
    # block is still foreground 120 frames after it arrived
    frames, ghost, stopped = ghost_frames_scene(200, 48, 64, 3, seed=80, leave=60, stop=80)
    inner = np.zeros_like(ghost)
    inner[4:-4, 4:-4] = True  # away from the vote's rounded corners

    def run(**params):
        m = MixtureSubtractor(**params)
        return [m.apply(f) == 255 for f in frames]

    on = run(ghost_frames=10)
    off = run(ghost_frames=0)
    # measured (the rule every 8th frame): the ghost 0.88 of its place or more without the
    # rule, 0.00 from 11 frames after the departure with it; the stopped block 0.97 or more
    # without, 0.92 with (0.93-0.96 when the rule looked every 4th frame)
    assert min(m[ghost].mean() for m in off[60:200]) > 0.85
    assert max(m[ghost].mean() for m in on[90:200]) < 0.05
    assert min(m[stopped & inner].mean() for m in on[80:200]) > 0.9
    # with the neighbourhood rule (the accurate setting), which clears the ghost's rim before
    # the rule looks (measured: the ghost 0.74 or more without the rule, 0.00 from 11 frames
    # after the departure with it; the stopped block 0.89)
    accurate = run(**ACCURATE)
    assert min(m[ghost].mean() for m in run(**ACCURATE, ghost_frames=0)[60:200]) > 0.7
    assert max(m[ghost].mean() for m in accurate[90:200]) < 0.05
    assert min(m[stopped & inner].mean() for m in accurate[80:200]) > 0.85


def test_a_saved_model_continues_its_runs_of_foreground(tmp_path):
    # the ghost rule's runs travel with a saved model: the loaded one goes on bit for bit
    frames, _, _ = ghost_frames_scene(40, 12, 18, 3, seed=90)
    a = MixtureSubtractor(n_components=3, learning_rate=0.02, ghost_frames=3)
    for f in frames[:14]:
        a.apply(f)
    a.save(tmp_path / "m.npz")
    b = MixtureSubtractor.load(tmp_path / "m.npz")
    assert b.ghost_frames == 3
    for t, f in enumerate(frames[14:]):
        np.testing.assert_array_equal(a.apply(f), b.apply(f), err_msg=f"frame {14 + t}")
    np.testing.assert_array_equal(a.components(), b.components())


def test_a_model_file_of_the_old_format_continues_its_runs(tmp_path):
    # files written before the runs were counted hold each pixel's (first, last) frame of its
    # run: loaded, they go on as the reference's (first, last) runs do, bit for bit
    frames, _, _ = ghost_frames_scene(40, 12, 18, 3, seed=91)
    params = dict(n_components=3, learning_rate=0.02, smoothing=3, vote=0.4, solid=1,
                  ghost_frames=3)
    a = MixtureSubtractor(**params)
    ref = ReferenceModel(**params)
    for f in frames[:14]:
        a.apply(f)
        ref.apply(f)
    a.save(tmp_path / "new.npz")
    with np.load(tmp_path / "new.npz") as z:
        old = {k: z[k] for k in z.files if k != "run_lengths"}
    old["runs"] = np.stack(ref.runs).astype(np.int32)
    np.savez(tmp_path / "old.npz", **old)
    b = MixtureSubtractor.load(tmp_path / "old.npz")
    np.testing.assert_array_equal(b._runs[0], a._runs[0])
    for t, f in enumerate(frames[14:]):
        np.testing.assert_array_equal(b.apply(f), ref.apply(f), err_msg=f"frame {14 + t}")


@pytest.mark.parametrize("shape", [(1, 1), (1, 40), (40, 1), (7, 9), (30, 50)])
def test_ghost_blobs_are_the_8_connected_components(shape):
    # the spans of random images, from sparse to dense (corners that touch, spans that end
    # where the next row's begin, a single column or row): each span's blob, numbered in the
    # order of the blobs' first spans, is the 8-connected component OpenCV finds
    import cv2

    rng = np.random.default_rng(shape[0] * 100 + shape[1])
    for density in (0.1, 0.3, 0.5, 0.7, 0.9):
        image = (rng.random(shape) < density).astype(np.uint8)
        edges = np.diff(np.pad(image.astype(np.int8), ((0, 0), (1, 1))), axis=1)
        starts, ends = np.nonzero(edges == 1), np.nonzero(edges == -1)
        n_spans = starts[0].size
        spans = np.zeros((3, max(n_spans, 1)), np.int32)
        spans[0, :n_spans], spans[1, :n_spans], spans[2, :n_spans] = starts[0], starts[1], ends[1]
        blob = np.zeros(max(n_spans, 1), np.int32)
        n = _jit.kernels()["ghost_blobs"](spans, n_spans, blob)
        n_cv, labels = cv2.connectedComponents(image, connectivity=8, ltype=cv2.CV_32S)
        assert n == n_cv
        seen = {}  # OpenCV's label -> our number, in the order of the first spans
        for s in range(n_spans):
            seen.setdefault(labels[spans[0, s], spans[1, s]], len(seen) + 1)
            assert blob[s] == seen[labels[spans[0, s], spans[1, s]]], (density, s)


def _textured_means(h, w, channels, seed):
    """A state whose rank-0 means are a smooth texture with edges (the alignment's points)."""
    import cv2

    rng = np.random.default_rng(seed)
    state = layout.new_state(2, h, w, channels)
    hot, _ = layout.views(state, 2, h, w, channels)
    tex = cv2.GaussianBlur(rng.uniform(0, 255, (h, w)).astype(np.float32), (0, 0), 1.5)
    tex = (tex - tex.min()) / (tex.max() - tex.min()) * 220 + 15
    for c in range(channels):
        hot[:, layout.MEAN + c, :] = np.float32(tex + 3 * c)
    hot[:, layout.U, :] = 1.0
    hot[:, layout.VAR, :] = 25.0
    return hot


@pytest.mark.parametrize("channels, step", [(1, 1), (3, 1), (1, 3), (3, 2)])
def test_shift_points_match_a_plain_loop(channels, step):
    # background pixels of every step-th row and column away from the border whose mean steps
    # by more than grad to the left or upper neighbour, spread evenly when there are more than
    # the array holds
    h, w, radius, grad = 31, 43, 3, np.float32(8.0)
    hot = _textured_means(h, w, channels, seed=channels)
    rng = np.random.default_rng(5)
    mask = rng.choice(np.array([0, 0, 1, 2], np.uint8), (h, w))
    ch = channels // 2
    mu = hot[:, layout.MEAN + ch, :]
    r = radius + 1
    cand = [i * w + j for i in range(r, h - r, step) for j in range(r, w - r, step)
            if mask[i, j] == 0 and (abs(mu[i, j] - mu[i, j - 1]) > grad
                                    or abs(mu[i, j] - mu[i - 1, j]) > grad)]
    assert 100 // step ** 2 < len(cand) < (h - 2 * r) * (w - 2 * r) // step ** 2
    k = _jit.kernels()
    for n_max in (7, 100, len(cand), 5000):
        pts = np.full(n_max, -1, np.int32)
        n = k["shift_points"](hot, ch, mask, radius, step, grad, pts)
        m = len(cand)
        want = cand if m <= n_max else [c for q, c in enumerate(cand)
                                        if (q * n_max) // m != ((q + 1) * n_max) // m]
        assert n == len(want) == min(m, n_max)
        assert list(pts[:n]) == want


def _climb(table, radius, start):
    """The reference climb: to the best of the 3 x 3 shifts around, first found wins a tie,
    while that is better than where it stands."""
    cx, cy = start
    while True:
        nx, ny, nv = cx, cy, table[cy + radius, cx + radius]
        for a in (-1, 0, 1):
            for b in (-1, 0, 1):
                qx, qy = cx + a, cy + b
                if abs(qx) <= radius and abs(qy) <= radius and table[qy + radius,
                                                                     qx + radius] > nv:
                    nx, ny, nv = qx, qy, table[qy + radius, qx + radius]
        if (nx, ny) == (cx, cy):
            return cx, cy
        cx, cy = nx, ny


@pytest.mark.parametrize("channels", [1, 3])
def test_shift_estimate_finds_the_reference_climbs_best_shift(channels):
    # frames that are the model's means shifted by a known amount, with noise and a block of
    # outliers; every shift's count of agreeing points by brute force, then the climb from
    # the last shift and from (0, 0) over that table
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    from make_shake import shift

    h, w, radius, tol = 40, 56, 4, np.float32(6.0)
    hot = _textured_means(h, w, channels, seed=10 + channels)
    ch = channels // 2
    rng = np.random.default_rng(channels)
    pts = np.empty(400, np.int32)
    n = _jit.kernels()["shift_points"](hot, ch, np.zeros((h, w), np.uint8), radius, 1,
                                       np.float32(8.0), pts)
    assert n == 400
    mean_img = np.rint(hot[:, layout.MEAN:, :].transpose(0, 2, 1))
    for dx, dy, prev in [(0, 0, (0, 0)), (2, -1, (0, 0)), (-4, 3, (-3, 3)), (1, 1, (1, 1)),
                         (3, 0, (-2, 2))]:
        frame = shift(mean_img, dx, dy) + rng.normal(0, 2, mean_img.shape)
        frame[5:15, 5:25] = rng.uniform(0, 255, (10, 20, channels))
        frame = np.clip(frame, 0, 255).astype(np.uint8)
        x = frame[:, :, ch].astype(np.float32)
        mu = hot[:, layout.MEAN + ch, :]
        table = np.zeros((2 * radius + 1, 2 * radius + 1), np.int64)
        for qy in range(-radius, radius + 1):
            for qx in range(-radius, radius + 1):
                table[qy + radius, qx + radius] = sum(
                    abs(x[p // w + qy, p % w + qx] - mu[p // w, p % w]) < tol for p in pts[:n])
        at0 = table[radius, radius]
        for enough, gain in ((60, 12), (n + 1, 0)):  # the model's 15% and 3%; never enough
            # the climb from the last shift, and from (0, 0) unless the first found enough
            bx, by = _climb(table, radius, prev)
            best = table[by + radius, bx + radius]
            if not (best >= enough and best - at0 >= gain):
                cx, cy = _climb(table, radius, (0, 0))
                if table[cy + radius, cx + radius] > best:
                    bx, by, best = cx, cy, table[cy + radius, cx + radius]
            got = _jit.kernels()["shift_estimate"](
                frame, hot, ch, pts, n, np.empty(n, np.float32),
                np.empty((2 * radius + 1) ** 2, np.int64), prev[0], prev[1], radius, tol,
                enough, gain)
            assert tuple(int(v) for v in got) == (bx, by, best, at0)
            assert (bx, by) == (dx, dy)  # the texture is smooth enough to climb to
