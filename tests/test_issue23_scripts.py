"""scripts/ghosts.py, scripts/make_shake.py, scripts/split.py and make_lighting.py's ramps, on
hand-made inputs: the departure and residue of a ghost, the pasted object and its ground truth,
the shaken frame and ground truth, the ramps' gains, the split's halves and tables."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import ghosts  # noqa: E402
import make_lighting  # noqa: E402
import make_shake  # noqa: E402
import split  # noqa: E402


def test_departure_is_the_first_mask_that_labels_under_5_percent_of_the_object():
    obj = np.zeros((4, 10), bool)
    obj[:, :5] = True  # 20 pixels: under 5% is 0 pixels
    later = [np.zeros((4, 10), np.uint8) for _ in range(4)]
    later[0][0, :5] = 255  # 5 of 20 still foreground
    later[1][0, 0] = 255  # 1 of 20: 5%, not under
    later[2][0, 9] = 255  # outside the object: it has left
    later[3][0, 0] = 255
    assert ghosts.departure(obj, later) == 2
    assert ghosts.departure(obj, later[:2]) is None
    assert ghosts.departure(np.zeros((4, 10), bool), later) is None


def test_residue_counts_the_objects_background_pixels_still_foreground():
    obj = np.zeros((2, 4), bool)
    obj[0] = True  # 4 pixels
    gt = np.zeros((2, 4), np.uint8)
    gt[0, 0] = 255  # a real object there now: not counted
    gt[0, 1] = 170  # unknown: not counted
    pred = np.zeros((2, 4), np.uint8)
    pred[0, :3] = 255  # (0, 2) is the only counted pixel predicted foreground
    pred[1, :] = 255  # outside the object
    assert ghosts.residue(pred, gt, obj) == pytest.approx(1 / 2)  # (0, 2), (0, 3) counted
    assert np.isnan(ghosts.residue(pred, np.full((2, 4), 255, np.uint8), obj))


def test_object_mask_and_paste():
    gt = np.zeros((5, 5), np.uint8)
    gt[2, 2] = 255
    obj = ghosts.object_mask(gt)
    assert obj.sum() == 9 and obj[1:4, 1:4].all()
    frame = np.zeros((5, 5, 3), np.uint8)
    src = np.full((5, 5, 3), 7, np.uint8)
    f, g = ghosts.paste(frame, np.zeros((5, 5), np.uint8), src, obj)
    assert (f[obj] == 7).all() and (f[~obj] == 0).all()
    assert (g[obj] == 255).all() and (g[~obj] == 0).all()
    assert frame.max() == 0  # the inputs are not changed


def test_offsets_stay_within_3_pixels_and_never_at_rest():
    off = make_shake.offsets(500)
    assert np.abs(off).max() <= 3
    assert (np.abs(off).max(axis=1) >= 1).all()
    assert (np.abs(np.diff(off, axis=0)) <= 2).all()  # a sway, not a jump across the range
    assert len({tuple(o) for o in off}) > 10
    np.testing.assert_array_equal(off, make_shake.offsets(500))  # the same every time


def test_shift_moves_content_and_labels_the_uncovered_border():
    img = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = make_shake.shift(img, 1, -1)  # right 1, up 1
    np.testing.assert_array_equal(out, [[4, 4, 5, 6], [8, 8, 9, 10], [8, 8, 9, 10]])
    gt = make_shake.shift(img, 1, -1, fill=85)
    np.testing.assert_array_equal(gt, [[85, 4, 5, 6], [85, 8, 9, 10], [85, 85, 85, 85]])


def test_linear_ramps_and_the_new_step():
    assert make_lighting.gain("up40r200", 0) == (pytest.approx(1.002), 0.0)
    assert make_lighting.gain("up40r200", 99) == (pytest.approx(1.2), 0.0)
    assert make_lighting.gain("up40r200", 199) == (pytest.approx(1.4), 0.0)
    assert make_lighting.gain("up40r200", 500) == (pytest.approx(1.4), 0.0)
    assert make_lighting.gain("down30r300", 149) == (pytest.approx(0.85), 0.0)
    assert make_lighting.gain("down30", 3) == (0.7, 0.0)
    for base, change, s, last in make_lighting.RAMPS.values():
        assert s < last and make_lighting.gain(change, 0)


def test_split_halves_share_no_scene_and_tables_average_per_group():
    assert not set(split.HALVES["A"]) & set(split.HALVES["B"])
    assert split.half_of("Board") == "A" and split.half_of("Snellen") == "B"
    assert split.half_of("nowhere") is None
    found = [("a1", None, "A", "real"), ("a2", None, "A", "real"), ("g1", None, "A", "ghost"),
             ("b1", None, "B", "real")]
    results = {"x": {"a1": 0.5, "a2": 0.7, "g1": 0.9, "b1": 0.4},
               "y": {"a1": 0.1, "a2": 0.3, "g1": 0.5, "b1": 0.8}}
    text = split.tables(found, results)
    assert "| a1 | 0.500 | 0.100 |" in text
    assert "| **mean** | **0.600** | **0.200** |" in text  # real, half A
    assert "| A | 0.750 | 0.350 |" in text  # (0.6 + 0.9) / 2, (0.2 + 0.5) / 2
    assert "| B | 0.400 | 0.800 |" in text


def test_discs_their_paths_and_what_counts_as_found():
    import discs

    assert discs.disc_mask(3).sum() == 9  # corners at distance sqrt(2) <= 1.5
    np.testing.assert_array_equal(discs.disc_mask(5).sum(axis=0), [3, 5, 5, 5, 3])
    paths = discs.disc_paths(60, 80, 200, 7)
    assert paths[..., 0].min() >= 7 and paths[..., 0].max() + 7 <= 60
    assert paths[..., 1].min() == 0 and 72 <= paths[..., 1].max() <= 73  # bounces at the sides
    assert (np.abs(np.diff(paths[..., 1], axis=0)) <= discs.SPEED).all()
    assert len(set(paths[0, :, 0])) == discs.DISCS  # one row each

    class Half:  # reports the left half of every disc's box: 2 of a 3-px disc's 3 columns
        def apply(self, frame):
            out = np.zeros(frame.shape[:2], np.uint8)
            out[:, : frame.shape[1] // 2] = 255
            return out

    # one frame with discs (t = LEARN = 40): x = (6 k + 80) mod 114, reflected past 57: 34, 28,
    # 22, 16; the disc at 34 lies right of column 30, the one at 28 has 6 of its 9 pixels left
    frames = [np.full((40, 60, 3), 100, np.uint8) for _ in range(discs.LEARN + 1)]
    assert discs.found_fractions(frames, Half, 3) == (0.75, 0.75)

    class Column30:  # reports column 30 only: 3 of the 9 pixels of the disc at 28
        def apply(self, frame):
            out = np.zeros(frame.shape[:2], np.uint8)
            out[:, 30] = 255
            return out

    assert discs.found_fractions(frames, Column30, 3) == (0.25, 0.0)


def test_parse_configs_refuses_what_the_model_refuses():
    assert split.parse_configs('[{}, {"ghost_frames": 10}]') == [{}, {"ghost_frames": 10}]
    for text, says in [("{}", "JSON list of objects"), ("not json", "JSON list of objects"),
                       ('[{"ghost_frames": -1}]',
                        r"ghost_frames must be an integer in \[0, 65534\]"),
                       ('[{"nope": 1}]', "unexpected keyword argument 'nope'")]:
        with pytest.raises(ValueError, match=says):
            split.parse_configs(text)
