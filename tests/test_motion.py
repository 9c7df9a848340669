"""Post-processing, the motion detector and the event model, on hand-built cases."""

import cv2
import numpy as np
import pytest

from bgsub.motion.detector import (EventTracker, MotionDetector, MotionResult, PostProcessor,
                                   detect_motion)

from .conftest import SAMPLES


def result(i, moving=False, fraction=None, global_change=False):
    f = fraction if fraction is not None else (0.1 if moving else 0.0)
    return MotionResult(i, i / 10.0, None, [], f, moving, global_change)


def track(pattern, **kw):
    """pattern: a string, one char per frame: '#' moving, '.' quiet, 'G' global change."""
    t = EventTracker(**kw)
    for i, c in enumerate(pattern):
        t.update(result(i, moving=c == "#", global_change=c == "G",
                        fraction=0.9 if c == "G" else None))
    t.finish()
    return [(e.kind, e.start, e.end) for e in t.events]


def test_event_needs_min_frames_and_ends_after_gap():
    #          0123456789012345678901234
    pattern = "..#....###..#.........##."
    assert track(pattern, min_event_frames=3, event_gap=4) == [("motion", 7, 12)]
    assert track(pattern, min_event_frames=1, event_gap=4) == [
        ("motion", 2, 2), ("motion", 7, 12), ("motion", 22, 23)]


def test_event_padding_is_clamped_and_does_not_overlap():
    pattern = "##....##" + "." * 10
    events = track(pattern, min_event_frames=2, event_gap=3, pre=5, post=2)
    # first: 0..1 padded to 0..3; second: 6..7 padded back to 4 (not into the first), on to 9
    assert events == [("motion", 0, 3), ("motion", 4, 9)]


def test_event_open_at_the_end_is_closed_at_the_last_frame():
    assert track("...####", min_event_frames=2, event_gap=5, post=10) == [("motion", 3, 6)]


def test_global_changes_are_separate_events_not_motion():
    events = track("..GGG..", min_event_frames=1, event_gap=2)
    assert events == [("global_change", 2, 4)]


def test_event_times_and_peak():
    t = EventTracker(min_event_frames=2, event_gap=2)
    for i, f in enumerate([0, 0.2, 0.5, 0.3, 0, 0, 0]):
        t.update(MotionResult(i, 100 + i * 0.5, None, [], f, f > 0, False))
    (e,) = t.events
    assert (e.start, e.end, e.start_time, e.end_time, e.peak_fraction, e.frames_moving) == (
        1, 3, 100.5, 101.5, 0.5, 3)
    d = e.as_dict()
    assert d["start_timecode"] == "00:01:40.500" and d["duration_seconds"] == 1.0


def test_tracker_rejects_negative_settings():
    with pytest.raises(ValueError, match="event_gap"):
        EventTracker(event_gap=-1)


def test_postprocessor_opens_away_specks_and_keeps_blobs():
    m = np.zeros((40, 60), np.uint8)
    m[5, 5] = 255  # a speck: removed by the opening
    m[10:20, 20:35] = 255  # a blob of 150 pixels
    m[30:33, 50:53] = 255  # 9 pixels: kept by the opening, dropped by min_area
    out, boxes, fraction = PostProcessor(kernel=3, min_area=20)(m)
    assert out[5, 5] == 0 and out[31, 51] == 0
    assert len(boxes) == 1
    x, y, w, h, area = boxes[0]
    assert (x, y, w, h) == (20, 10, 15, 10) and area == int((out == 255).sum())
    assert fraction == pytest.approx(area / m.size)


def test_postprocessor_roi_and_shadow_label():
    m = np.zeros((10, 10), np.uint8)
    m[:, :5] = 255
    m[:, 5:] = 127  # shadows are background
    roi = np.zeros((10, 10), bool)
    roi[:, 3:] = True  # 70 pixels, 20 of them foreground
    out, boxes, fraction = PostProcessor(kernel=0, roi=roi)(m)
    assert fraction == pytest.approx(20 / 70)
    assert (out[:, :3] == 0).all() and (out[:, 5:] == 0).all()


def test_detector_scale_reports_boxes_in_full_resolution():
    from bgsub.evaluate.synthetic import SyntheticScene

    frames = list(SyntheticScene(width=160, height=120, n_frames=60, seed=3, foliage=False))
    det = MotionDetector(scale=0.5, kernel=3, min_area=16)
    for img, gt in frames:
        r = det.process(img)
    assert r.mask.shape == (60, 80)
    ys, xs = np.nonzero(gt)
    x, y, w, h, _ = max(r.boxes, key=lambda b: b[4])
    # the largest box lies on an object of the ground truth (full-resolution coordinates)
    assert gt[y + h // 2, x + w // 2] == 255 or (abs(x - xs.min()) < 6 and abs(y - ys.min()) < 6)


def test_detector_validates_options():
    with pytest.raises(ValueError, match="scale"):
        MotionDetector(scale=0)
    with pytest.raises(ValueError, match="max_area"):
        MotionDetector(max_area=0)
    with pytest.raises(ValueError, match="learning_rate"):
        MotionDetector(learning_rate=3)


def test_postprocessor_takes_uint8_or_bool_masks_and_names_anything_else():
    square = np.zeros((20, 30), bool)
    square[5:15, 10:20] = True
    m, boxes, fraction = PostProcessor(0, 0, None, shadows=False)(square)
    assert m.dtype == np.uint8 and set(np.unique(m)) == {0, 255}
    assert boxes == [(10, 5, 10, 10, 100)] and fraction == 100 / 600
    for bad in (square.astype(np.float64) * 255, np.dstack([square] * 3).astype(np.uint8)):
        with pytest.raises(ValueError, match=r"mask must be a 2-D uint8 .* got "):
            PostProcessor()(bad)


def test_detect_motion_on_the_sample_video_finds_the_cars():
    import cv2

    events = detect_motion(SAMPLES / "street.mp4")
    assert len(events) == 1
    gt_frames = sorted(SAMPLES.joinpath("street", "groundtruth").glob("gt*.png"))
    moving = [i for i, p in enumerate(gt_frames)
              if (cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) == 255).mean() > 0.002]
    e = events[0]
    # the event covers the frames in which objects fill more than 0.2% of the frame, to within
    # the frames a fresh object needs to cross the area threshold
    assert abs(e.start - moving[0]) <= 8 and e.end >= moving[-1] - 2


def test_clip_recorder_writes_each_event_with_its_padding(tmp_path):
    import cv2

    from bgsub.io.sinks import ClipRecorder

    #          0         1         2         3
    #          0123456789012345678901234567890123456
    pattern = "......###..#.............##...#......."
    pre, post, gap, min_frames = 2, 3, 5, 2
    tracker = EventTracker(min_frames, gap, pre, post)
    clips = ClipRecorder(tmp_path / "clips", 25.0, pre + min_frames + 1)
    for i, c in enumerate(pattern):
        image = np.zeros((64, 64, 3), np.uint8)
        image[:i] = 255  # the frame's index as the number of white rows: survives the codec
        r = result(i, moving=c == "#")
        closed = tracker.update(r)
        clips.feed(i, image, r.moving, tracker.open_start, closed)
    clips.finish(tracker.finish())
    spans = [(e.start, e.end) for e in tracker.events]
    assert spans == [(4, 14), (23, 33)]
    assert len(clips.paths) == 2
    for path, (start, end) in zip(clips.paths, spans):
        cap = cv2.VideoCapture(str(path))
        got = []
        while True:
            ok, f = cap.read()
            if not ok:
                break
            got.append(int((f[:, :, 1].mean(axis=1) > 128).sum()))
        assert got == list(range(start, end + 1)), (path.name, got)


def _raster_order(labels):
    """The labels of an image but 0, in the raster order of their first pixels."""
    flat = labels.ravel()
    firsts = np.unique(flat, return_index=True)[1]
    order = flat[np.sort(firsts)]
    return [int(k) for k in order if k != 0]


def _post_reference(mask, kernel, min_area, roi):
    """The post-processing rules written plainly: every step on the whole frame."""
    m = np.where(mask == 255, 255, 0).astype(np.uint8)
    roi_u8 = None if roi is None else roi.astype(np.uint8) * 255
    if roi_u8 is not None:
        m &= roi_u8
    if kernel > 1:
        se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel, kernel))
        m = cv2.morphologyEx(cv2.morphologyEx(m, cv2.MORPH_OPEN, se), cv2.MORPH_CLOSE, se)
        if roi_u8 is not None:
            m &= roi_u8
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    keep = np.r_[False, stats[1:, cv2.CC_STAT_AREA] >= min_area]
    m = np.where(keep[labels], 255, 0).astype(np.uint8)
    boxes = [tuple(int(v) for v in stats[k]) for k in _raster_order(labels) if keep[k]]
    total = roi.sum() if roi is not None else m.size
    return m, boxes, np.count_nonzero(m) / total


@pytest.mark.parametrize("engine", ["numba", "numpy"])
@pytest.mark.parametrize("kernel, min_area, use_roi", [
    (3, 16, False), (5, 40, True), (0, 5, False), (3, 0, True), (1, 200, False), (0, 3, False)])
def test_postprocessor_matches_the_plain_rules(kernel, min_area, use_roi, engine):
    # on the Numba kernels and on their NumPy twins; densities with a few small blobs (erased
    # inside their boxes) and with more than 64 (erased in one pass over the labels)
    from bgsub.model import _jit

    old = _jit.set_mode("sync" if engine == "numba" else "numpy")
    try:
        _check_postprocessor(kernel, min_area, use_roi)
    finally:
        _jit.set_mode(old)


def _check_postprocessor(kernel, min_area, use_roi):
    rng = np.random.default_rng(kernel * 100 + min_area)
    roi = rng.random((90, 120)) < 0.8 if use_roi else None
    for shadows in (False, True):
        post = PostProcessor(kernel, min_area, roi, shadows=shadows)
        for density in (0.0, 0.02, 0.3, 0.6):
            blobs = cv2.dilate((rng.random((90, 120)) < density / 9).astype(np.uint8),
                               np.ones((3, 3), np.uint8))
            mask = np.where(blobs > 0, 255, 0).astype(np.uint8)
            mask[rng.random(mask.shape) < 0.05] = 255  # specks
            if shadows:
                mask[rng.random(mask.shape) < 0.1] = 127
            given = mask.copy()
            got = post(given)
            np.testing.assert_array_equal(given, mask)  # the caller's mask is left alone
            want = _post_reference(mask, kernel, min_area, roi)
            np.testing.assert_array_equal(got[0], want[0])
            assert got[1] == want[1] and got[2] == pytest.approx(want[2], abs=0)


def test_postprocessor_with_more_blobs_than_16_bit_labels():
    mask = np.zeros((700, 700), np.uint8)
    mask[::2, ::2] = 255  # 122,500 one-pixel blobs: past 65,535 labels
    mask[100:140, 100:140] = 255
    got = PostProcessor(0, 2, None, shadows=False)(mask.copy())
    want = _post_reference(mask, 0, 2, None)
    np.testing.assert_array_equal(got[0], want[0])
    assert got[1] == want[1] and got[2] == want[2] and len(got[1]) == 1


@pytest.mark.parametrize("impl", ["numba", "numpy"])
@pytest.mark.parametrize("width", [1, 7, 8, 120, 123])
def test_mask_blobs_equal_opencvs_components(impl, width):
    """The blobs from the spans (the Numba kernel and its NumPy twin) are OpenCV's 8-connected
    components: the same statistics, in the raster order of the blobs' first pixels, the small
    ones erased and the rest left as they were (any nonzero value is foreground), whatever the
    row length (the span search reads 8 columns at a time)."""
    from bgsub.model import _blob

    fn = _blob.mask_blobs if impl == "numba" else _blob.mask_blobs_numpy
    rng = np.random.default_rng(width)
    for density in (0.0, 0.01, 0.2, 0.7):
        for min_area in (0, 1, 4, 40):
            mask = np.where(rng.random((90, width)) < density, 255, 0).astype(np.uint8)
            mask = cv2.dilate(mask, np.ones((2, 3), np.uint8))
            mask[:, -1] = 255 if density > 0.5 else 0  # blobs touching the last column
            mask[rng.random(mask.shape) < 0.02] = 7  # a value that is not 255 counts too
            n, labels, want, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
            keep = [k for k in _raster_order(labels) if want[k, 4] >= min_area]
            erased = mask.copy()
            erased[~np.isin(labels, [0] + keep)] = 0
            got = mask.copy()
            st = _blob.scratch(mask.shape)
            n_kept, area = fn(got, min_area, *st)
            assert n_kept == len(keep) and area == want[keep, 4].sum()
            np.testing.assert_array_equal(st[3][:n_kept], want[keep])
            np.testing.assert_array_equal(got, erased)


# ---------------------------------------------------------------------------- camera moves
def camera_moves(shifts, **kw):
    """The camera_moved events (start, end, move, the frame that reported it) of a series of
    camera shifts, one per frame."""
    from bgsub.motion.detector import CameraTracker

    t, out = CameraTracker(**kw), []
    for i, s in enumerate(shifts):
        e = t.update(i, i / 10.0, s)
        if e is not None:
            assert e.kind == "camera_moved" and e.start_time == e.start / 10.0
            out.append((e.start, e.end, e.move, i))
    return out


def test_a_bumped_camera_is_one_move_reported_when_the_image_has_held_still():
    shifts = [(0, 0)] * 50 + [(5, -3)] * 100
    assert camera_moves(shifts, settle=30) == [(50, 50, (5, -3), 79)]
    assert camera_moves(shifts, settle=10) == [(50, 50, (5, -3), 59)]
    # and back again: a second move, the other way
    assert camera_moves(shifts + [(0, 0)] * 40, settle=30) == [
        (50, 50, (5, -3), 79), (150, 150, (-5, 3), 179)]


def test_a_pan_is_one_move_from_its_first_frame_to_where_it_stops():
    # still for 20 frames, then a pixel left a frame for 10 frames, then still at -10
    shifts = [(0, 0)] * 20 + [(-k, 0) for k in range(1, 11)] + [(-10, 0)] * 60
    # it is more than a pixel away from frame 21 on (-2); the first 30 frames within a
    # pixel of each other begin at frame 28 (-9, then -10)
    assert camera_moves(shifts, settle=30) == [(21, 28, (-10, 0), 57)]
    # a wobble of a pixel about the old place before it moves is not part of the move
    wobble = [(0, 0), (1, 0)] * 10 + [(1, 0)] * 10 + shifts[20:]
    assert camera_moves(wobble, settle=30) == [(31, 38, (-10, 0), 67)]


def test_a_shaking_camera_a_one_pixel_wobble_and_no_estimate_are_no_moves():
    rng = np.random.default_rng(1)
    walk, pos = [], np.array([1, 0])
    for _ in range(2000):  # as scripts/make_shake.py: a walk within 3 pixels, never at rest
        pos = np.clip(pos + rng.integers(-1, 2, 2), -3, 3)
        if not pos.any():
            pos[0] = 1
        walk.append(tuple(int(v) for v in pos))
    assert camera_moves(walk, settle=30) == []
    assert camera_moves([(i % 2, 0) for i in range(200)], settle=10) == []
    assert camera_moves([None] * 100, settle=10) == []
    # a shift that is None now and then: the frames without one are left out
    assert camera_moves([(0, 0)] * 5 + [None, (4, 0)] * 20, settle=10) == [
        (6, 6, (4, 0), 24)]


def test_the_smallest_move_reported_and_a_slow_drift_that_adds_up():
    drift = [(0, 0)] * 40 + [(1, 0)] * 40 + [(2, 0)] * 40
    # a pixel is less than min_move: nothing until the drift reaches two (frame 80, the first
    # more than a pixel from the old place; frames 70-89, at 1 then 2, are the first 20 within
    # a pixel of each other, so the move is the one frame 80)
    assert camera_moves(drift, settle=20) == [(80, 80, (2, 0), 89)]
    assert camera_moves(drift, settle=20, min_move=3) == []
    with pytest.raises(ValueError, match="settle"):
        camera_moves([], settle=0)
    with pytest.raises(ValueError, match="min_move"):
        camera_moves([], min_move=0)


def test_the_event_tracker_reports_camera_moves_beside_motion():
    t = EventTracker(min_event_frames=1, event_gap=2, camera_settle=5)
    t0 = EventTracker(min_event_frames=1, event_gap=2, camera_settle=0)
    for i in range(30):
        shift = (0, 0) if i < 10 else (-3, 2)
        r = MotionResult(i, i / 10.0, None, [], 0.1 if 3 <= i < 6 else 0.0, 3 <= i < 6, False,
                         camera_shift=shift)
        t.update(r)
        t0.update(r)
    t.finish()
    t0.finish()
    assert [(e.kind, e.start, e.end, e.move) for e in t.events] == [
        ("motion", 3, 5, None), ("camera_moved", 10, 10, (-3, 2))]
    assert [e.kind for e in t0.events] == ["motion"]
    d = t.events[1].as_dict()
    assert (d["dx"], d["dy"], d["start_seconds"], d["end_seconds"]) == (-3, 2, 1.0, 1.0)
    assert "dx" not in t.events[0].as_dict()


def _textured(h, w, seed=4):
    rng = np.random.default_rng(seed)
    tex = cv2.GaussianBlur(rng.uniform(0, 255, (h, w, 3)).astype(np.float32), (0, 0), 1.5)
    return ((tex - tex.min()) / (tex.max() - tex.min()) * 200 + 25).astype(np.uint8)


@pytest.mark.parametrize("scale", [1.0, 0.5])
@pytest.mark.parametrize("move", [(-4, 2), (-16, -8)])
def test_the_detector_reports_where_the_camera_is_in_the_frames_pixels(scale, move):
    """A textured scene (with a camera's noise) whose camera is bumped at frame 40 so that
    the scene moves by ``move`` pixels of the frame (within the search, or a knock beyond it):
    the results' camera_shift follow it (in the frame's pixels whatever the model's scale),
    and the tracker reports one move; with max_shift=0 there is no estimate."""
    big, rng = _textured(120, 160), np.random.default_rng(5)
    x, y = 10 - move[0], 10 - move[1]
    frames = [np.clip(rng.normal(0, 1.5, (96, 128, 3)) + (
        big[10:106, 10:138] if t < 40 else big[y:y + 96, x:x + 128]), 0, 255).astype(np.uint8)
        for t in range(100)]
    det = MotionDetector(scale=scale)
    tracker = EventTracker(camera_settle=20)
    shifts = []
    for t, f in enumerate(frames):
        r = det.process(f, t / 10.0)
        tracker.update(r)
        shifts.append(r.camera_shift)
    assert shifts[:40] == [(0, 0)] * 40
    assert shifts[-50:] == [move] * 50
    moves = [(e.start, e.move) for e in tracker.events if e.kind == "camera_moved"]
    assert moves == [(40, move)]
    off = MotionDetector(max_shift=0)
    assert {off.process(f).camera_shift for f in frames[:45]} == {None}
