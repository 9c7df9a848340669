"""CDnet scoring: hand-computed counts, label rules, spatial and temporal ROI, bad folders, the
``bgsub eval`` command, and the real sequences when they are present."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from bgsub.cli import main
from bgsub.evaluate.scoring import Scores, Sequence, SequenceError, evaluate_sequence, make_method

from .conftest import DATA, SAMPLES, needs_data


class Replay:
    """A 'model' that returns prepared masks in order."""

    def __init__(self, masks):
        self.masks = list(masks)

    def apply(self, frame):
        return self.masks.pop(0)


def make_sequence(root, gts, first=1, roi=None, temporal=None, size=(4, 3)):
    w, h = size
    (root / "input").mkdir(parents=True)
    (root / "groundtruth").mkdir()
    for n, gt in enumerate(gts, start=first):
        cv2.imwrite(str(root / "input" / f"in{n:06d}.png"), np.zeros((h, w, 3), np.uint8))
        cv2.imwrite(str(root / "groundtruth" / f"gt{n:06d}.png"), np.asarray(gt, np.uint8))
    if roi is not None:
        cv2.imwrite(str(root / "ROI.bmp"), np.asarray(roi, np.uint8))
    if temporal is not None:
        (root / "temporalROI.txt").write_text(temporal)
    return root


class Echo:
    """A 'model' for frames whose pixels all hold 10 * (frame number) + 5: records the numbers
    it is shown, predicts foreground exactly on the frames numbered in ``moving``."""

    def __init__(self, moving):
        self.moving, self.seen = set(moving), []

    def apply(self, frame):
        n = round((int(frame[0, 0, 0]) - 5) / 10)  # JPEG may be off by a few levels
        self.seen.append(n)
        return np.full(frame.shape[:2], 255 if n in self.moving else 0, np.uint8)


def numbered_sequence(root, fmt, numbers, gt_numbers, moving, size=(4, 3)):
    """input/ holds frames ``fmt.format(n)`` for ``numbers`` (written in reverse; pixels
    10n+5), groundtruth/ gtNNNNNN.png for ``gt_numbers`` (all 255 when the number is in
    ``moving``, else 0)."""
    w, h = size
    (root / "input").mkdir(parents=True)
    (root / "groundtruth").mkdir()
    for n in reversed(numbers):
        cv2.imwrite(str(root / "input" / fmt.format(n)), np.full((h, w, 3), 10 * n + 5, np.uint8))
    for n in gt_numbers:
        cv2.imwrite(str(root / "groundtruth" / f"gt{n:06d}.png"),
                    np.full((h, w), 255 if n in moving else 0, np.uint8))
    return root


def test_scores_hand_computed():
    s = Scores()
    gt = np.array([[255, 255, 0, 0], [50, 85, 170, 255]], np.uint8)
    pred = np.array([[255, 0, 255, 0], [255, 255, 255, 127]], np.uint8)
    s.add(pred, gt)
    # positives: (0,0) hit, (0,1) miss, (1,3) predicted 127 -> miss; negatives: (0,2) FP,
    # (0,3) TN, (1,0) shadow predicted 255 -> FP; 85 and 170 not scored
    assert (s.tp, s.fp, s.fn, s.tn) == (1, 2, 2, 1)
    assert s.recall == pytest.approx(1 / 3)
    assert s.precision == pytest.approx(1 / 3)
    assert s.f_measure == pytest.approx(1 / 3)
    assert s.specificity == pytest.approx(1 / 3)
    assert s.fpr == pytest.approx(2 / 3)
    assert s.fnr == pytest.approx(2 / 3)
    assert s.pwc == pytest.approx(100 * 4 / 6)


def test_scores_with_no_positives_do_not_divide_by_zero():
    s = Scores()
    s.add(np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8))
    assert (s.recall, s.precision, s.f_measure, s.tn) == (0.0, 0.0, 0.0, 4)


def test_sequence_spatial_and_temporal_roi(tmp_path):
    fg = np.full((3, 4), 255)
    roi = np.zeros((3, 4))
    roi[:, :2] = 255
    # frames 1..4; temporal ROI 2..3: frames 1 and 4 are not scored
    seq = make_sequence(tmp_path / "s", [fg] * 4, roi=roi, temporal="2 3")
    pred_all = np.full((3, 4), 255, np.uint8)
    pred_none = np.zeros((3, 4), np.uint8)
    s = evaluate_sequence(seq, Replay([pred_none, pred_all, pred_none, pred_none]))
    assert s.frames_scored == 2
    # only the 6 ROI pixels of frames 2 and 3 count
    assert (s.tp, s.fn, s.fp, s.tn) == (6, 6, 0, 0)


def test_temporal_roi_one_past_the_end_is_clamped(tmp_path):
    seq_dir = make_sequence(tmp_path / "s", [np.zeros((3, 4))] * 3, first=0, temporal="0 3")
    seq = Sequence.open(seq_dir)
    assert seq.temporal == (0, 2)
    assert any("clamped" in n for n in seq.notes)
    s = evaluate_sequence(seq, Replay([np.zeros((3, 4), np.uint8)] * 3))
    assert s.frames_scored == 3 and s.tn == 36


def test_temporal_roi_outside_the_frames_scores_everything(tmp_path):
    seq = Sequence.open(make_sequence(tmp_path / "s", [np.zeros((3, 4))] * 2,
                                      temporal="1000 4000"))
    assert seq.temporal == (1, 2)
    assert any("covers none" in n for n in seq.notes)


def test_temporal_roi_over_frames_without_ground_truth_scores_those_with_it(tmp_path):
    # frames 1..4, masks for 1 and 2 only, temporal ROI 3-4: nothing would be scored
    root = numbered_sequence(tmp_path / "s", "in{:06d}.png", [1, 2, 3, 4], [1, 2], {2})
    (root / "temporalROI.txt").write_text("3 4")
    seq = Sequence.open(root)
    assert any("covers none of the frames with ground truth (1-2)" in n for n in seq.notes)
    s = evaluate_sequence(seq, Echo({2}))
    assert s.frames_scored == 2 and (s.tp, s.fp, s.fn) == (12, 0, 0)


def test_roi_of_another_size_is_ignored(tmp_path):
    seq = make_sequence(tmp_path / "s", [np.full((3, 4), 255)], roi=np.zeros((5, 5)))
    seq = Sequence.open(seq)
    s = evaluate_sequence(seq, Replay([np.full((3, 4), 255, np.uint8)]))
    assert s.tp == 12
    assert any("ignored" in n for n in seq.notes)


def test_ground_truth_of_the_wrong_size_is_an_error(tmp_path):
    seq = make_sequence(tmp_path / "s", [np.zeros((5, 5))])
    with pytest.raises(SequenceError, match="ground truth is 5x5"):
        evaluate_sequence(seq, Replay([np.zeros((3, 4), np.uint8)]))


def test_folders_that_are_not_sequences(tmp_path):
    with pytest.raises(SequenceError, match="not a CDnet sequence"):
        Sequence.open(tmp_path)
    with pytest.raises(SequenceError, match="not a folder"):
        Sequence.open(tmp_path / "missing")
    (tmp_path / "input").mkdir()
    (tmp_path / "groundtruth").mkdir()
    with pytest.raises(SequenceError, match="input/ has no numbered frames"):
        Sequence.open(tmp_path)


@pytest.mark.parametrize("fmt", ["in{:06d}.jpg", "PeopleAndFoliage_{:06d}.png", "{:06d}.png",
                                 "frame_{}.png"])
def test_frames_of_any_prefix_are_read_in_numeric_order_and_matched_to_gt_by_number(
        tmp_path, fmt):
    # input 0,1,2,9,10,11; ground truth 1,2,9,10,11,12: matched by position, every frame would
    # meet the wrong mask; frame 0 has no mask and mask 12 no frame
    numbers, gt_numbers, moving = [0, 1, 2, 9, 10, 11], [1, 2, 9, 10, 11, 12], {2, 10}
    seq_dir = numbered_sequence(tmp_path / "s", fmt, numbers, gt_numbers, moving)
    seq = Sequence.open(seq_dir)
    assert sorted(seq.frames) == numbers
    assert any("1 ground-truth mask(s) have no input frame (numbers 12..12)" in n
               for n in seq.notes)
    model = Echo(moving)
    s = evaluate_sequence(seq, model)
    assert model.seen == numbers
    assert s.frames_scored == 5
    assert (s.tp, s.fp, s.fn, s.tn) == (2 * 12, 0, 0, 3 * 12)


def test_cli_eval_reads_frames_with_another_prefix(tmp_path):
    numbered_sequence(tmp_path / "s", "PeopleAndFoliage_{:06d}.png", range(8), range(8), {5, 6})
    res = CliRunner().invoke(main, ["eval", str(tmp_path / "s"), "--json"])
    assert res.exit_code == 0, res.output
    seq = json.loads(res.output)["sequences"][0]
    assert seq["frames_scored"] == 8 and seq["notes"] == []


@pytest.mark.parametrize("names, gt_numbers, message", [
    ([f"PeopleAndFoliage_{n:06d}.png" for n in range(341)], [],
     "input/ has 341 frames named PeopleAndFoliage_000000.png..PeopleAndFoliage_000340.png, "
     "groundtruth/ has 0 gtNNNNNN.png files"),
    ([f"{n:06d}.png" for n in range(3)], range(3, 6),
     "no frame numbers in common between input/ (0..2) and groundtruth/ (3..5)"),
    (["frame_1.png", "frame_2.png", "frame_3.png", "other_1.png"], range(1, 4),
     "input: 2 series of numbered images, 3 frames named frame_1.png..frame_3.png and 1 frame "
     "named other_1.png; keep one series per folder"),
    (["frame_1.png", "frame_01.png"], [1], "frame_01.png and frame_1.png both have frame "
     "number 1"),
    (["a.png", "b.png"], [1], "input/ has no numbered frames such as in000001.png (2 images, "
     "none numbered: a.png, b.png)"),
])
def test_sequences_whose_frames_cannot_be_matched_say_what_they_found(tmp_path, names,
                                                                       gt_numbers, message):
    root = tmp_path / "s"
    (root / "input").mkdir(parents=True)
    (root / "groundtruth").mkdir()
    for name in names:
        cv2.imwrite(str(root / "input" / name), np.zeros((3, 4, 3), np.uint8))
    for n in gt_numbers:
        cv2.imwrite(str(root / "groundtruth" / f"gt{n:06d}.png"), np.zeros((3, 4), np.uint8))
    with pytest.raises(SequenceError) as err:
        Sequence.open(root)
    assert message in str(err.value) and "\n" not in str(err.value)
    res = CliRunner().invoke(main, ["eval", str(root)])
    assert res.exit_code == 1 and message in res.output and "Traceback" not in res.output


def test_groundtruth_with_other_names_is_described(tmp_path):
    root = numbered_sequence(tmp_path / "s", "in{:06d}.png", [1], [], set())
    cv2.imwrite(str(root / "groundtruth" / "mask_1.png"), np.zeros((3, 4), np.uint8))
    with pytest.raises(SequenceError, match=r"has 0 gtNNNNNN.png files \(it has 1 frame named "
                                            r"mask_1.png\)"):
        Sequence.open(root)


def test_unreadable_input_image_is_an_error(tmp_path):
    seq = make_sequence(tmp_path / "s", [np.zeros((3, 4))])
    (seq / "input" / "in000001.png").write_text("not an image")
    with pytest.raises(SequenceError, match="unreadable image"):
        evaluate_sequence(seq, Replay([]))


def test_cli_eval_on_the_sample_video_json_and_masks(tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["eval", str(SAMPLES / "street"), "--json",
                               "--save-masks", str(tmp_path / "masks")])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    seq = doc["sequences"][0]
    assert doc["method"] == "bgsub" and seq["name"] == "street"
    assert seq["frames_scored"] == 110  # temporalROI 11..120
    assert seq["f_measure"] > 0.9
    assert seq["tp"] + seq["fn"] > 0
    masks = sorted((tmp_path / "masks" / "street").glob("bin*.png"))
    assert len(masks) == 120 and masks[0].name == "bin000001.png"


def test_cli_accurate_is_the_accurate_setting_and_explicit_options_override_it():
    from bgsub.model.mixture import ACCURATE

    def cli_counts(*opts):
        res = CliRunner().invoke(main, ["eval", str(SAMPLES / "park"), "--json", *opts])
        assert res.exit_code == 0, res.output
        s = json.loads(res.output)["sequences"][0]
        return s["tp"], s["fp"], s["fn"], s["tn"]

    def api_counts(**params):
        s = evaluate_sequence(SAMPLES / "park", make_method("bgsub", **params))
        return s.tp, s.fp, s.fn, s.tn

    accurate = cli_counts("--accurate")
    assert accurate == api_counts(**ACCURATE)
    assert accurate != api_counts()  # not the defaults
    assert cli_counts("--accurate", "--vote", "0.67") == api_counts(**{**ACCURATE, "vote": 0.67})
    res = CliRunner().invoke(main, ["eval", str(SAMPLES / "park"), "--method", "opencv-mog2",
                                    "--accurate"])
    assert res.exit_code == 2
    assert res.output.strip() == "Error: --accurate applies to --method bgsub only"


def test_cli_eval_report_with_saved_masks_scores_once(tmp_path, monkeypatch):
    """--report with --save-masks: the chosen method's masks come from the report's own pass
    (the sequence is evaluated once per method, not twice for the chosen one)."""
    import bgsub.evaluate.scoring as ev

    calls = []
    real = ev.evaluate_sequence

    def counting(seq, model, **kw):
        calls.append(type(model).__name__)
        return real(seq, model, **kw)

    monkeypatch.setattr(ev, "evaluate_sequence", counting)
    plain = CliRunner().invoke(main, ["eval", str(SAMPLES / "street"), "--json",
                                      "--method", "opencv-mog2"])
    calls.clear()
    res = CliRunner().invoke(main, ["eval", str(SAMPLES / "street"), "--json", "--method",
                                    "opencv-mog2", "--save-masks", str(tmp_path / "masks"),
                                    "--report", str(tmp_path / "rep")], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert len(calls) == 3  # bgsub, MOG2, KNN: once each
    doc = json.loads(res.output)
    assert doc["sequences"] == json.loads(plain.output)["sequences"]
    masks = sorted((tmp_path / "masks" / "street").glob("bin*.png"))
    assert len(masks) == 120 and (tmp_path / "rep" / "report.html").is_file()


def test_cli_eval_table_and_methods():
    runner = CliRunner()
    res = runner.invoke(main, ["eval", str(SAMPLES / "street"), "--method", "opencv-mog2"])
    assert res.exit_code == 0, res.output
    assert "method: opencv-mog2" in res.output and "street" in res.output


@pytest.mark.parametrize("args, code, text", [
    (["eval", "{tmp}"], 1, "not a CDnet sequence"),
    (["eval", "{samples}", "--components", "0"], 2, "--components"),
    (["eval", "{samples}", "--learning-rate", "2"], 2, "--learning-rate"),
    (["eval", "{samples}", "--method", "opencv-knn", "-k", "3"], 2, "apply to --method bgsub"),
])
def test_cli_eval_bad_input(tmp_path, args, code, text):
    args = [a.format(tmp=tmp_path, samples=SAMPLES / "street") for a in args]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == code
    assert text in res.output
    assert "Traceback" not in res.output


@needs_data
def test_mog2_scores_on_real_sequences_match_the_reference_figures():
    # figures measured independently with OpenCV 5.0 MOG2 defaults (issue 5)
    runner = CliRunner()
    res = runner.invoke(main, ["eval", str(DATA / "sequences" / "IBMtest2"),
                               str(DATA / "sequences" / "fall_subset"),
                               "--method", "opencv-mog2", "--json"])
    assert res.exit_code == 0, res.output
    f = {s["name"]: s["f_measure"] for s in json.loads(res.output)["sequences"]}
    assert f["IBMtest2"] == pytest.approx(0.830, abs=0.002)
    assert f["fall_subset"] == pytest.approx(0.366, abs=0.002)


@needs_data
def test_real_sequence_with_its_own_prefix_is_matched_to_its_ground_truth():
    seq = Sequence.open(DATA / "sequences" / "PeopleAndFoliage")
    assert sorted(seq.frames) == sorted(seq.groundtruth) == list(range(341))
    assert seq.frames[7].name == "PeopleAndFoliage_000007.png"
    assert seq.groundtruth[7].name == "gt000007.png"
    assert seq.temporal == (0, 340) and seq.notes == []


# F-measure of the default MixtureSubtractor() on each real sequence as measured (bgsub eval /
# scripts/accuracy.py, 2-core test machine) less 0.01, rounded down to 2 decimals: a regression
# below them fails.  They pin what the model achieves, not a goal.  Measured with the 13x13
# vote at 0.55 over the foreground of solid 3x3 blocks (speckle 3; 2026-12-08, bgsub eval):
# Board 0.917, Foliage 0.731, HighwayI 0.748, IBMtest2 0.924, PeopleAndFoliage 0.804, Snellen
# 0.580, fall_subset 0.444, highway 0.955.  With the 11x11 vote at 0.67 over every foreground
# pixel and match_threshold 2.2 (2026-12-07, scripts/split.py): Board 0.916, Foliage 0.735, HighwayI
# 0.751, IBMtest2 0.923, PeopleAndFoliage 0.802, Snellen 0.568, fall_subset 0.377 (a lower
# threshold leaves more of fall's waving trees foreground; MOG2 0.366 there), highway 0.957.
# With match_threshold 2.4, background_ratio 0.4 and warmup 2.5 (2026-12-06): Board 0.915,
# Foliage 0.690, HighwayI 0.747, IBMtest2 0.928, PeopleAndFoliage 0.784, Snellen 0.548,
# fall_subset 0.410, highway 0.955.  At efbfb49 (background_ratio 0.5, warmup 4; max_variance 121,
# match_threshold 2.4, the 11x11 vote at 0.67 with the 3x3 solid core, the ghost rule): Board
# 0.885, Foliage 0.692, HighwayI 0.717, IBMtest2 0.925, PeopleAndFoliage 0.739, Snellen 0.532,
# fall_subset 0.369, highway 0.952.  (Without the ghost rule: Board
# 0.875, Foliage 0.696, HighwayI 0.710, IBMtest2 0.918, PeopleAndFoliage 0.742, Snellen 0.536,
# fall_subset 0.365, highway 0.952.  The defaults before, max_variance 1600, match_threshold 3.5, the 5x5
# vote at 0.4: Board 0.860, Foliage 0.517, HighwayI 0.602, IBMtest2 0.918, PeopleAndFoliage
# 0.644, Snellen 0.156, fall_subset 0.455, highway 0.934.)
F_FLOORS = {"Board": 0.90, "Foliage": 0.72, "HighwayI": 0.73, "IBMtest2": 0.91,
            "PeopleAndFoliage": 0.79, "Snellen": 0.57, "fall_subset": 0.43, "highway": 0.94}


@pytest.fixture(scope="module")
def bgsub_scores():
    """Scores of MixtureSubtractor() per real sequence, each sequence evaluated once."""
    cache = {}

    def score(name):
        if name not in cache:
            cache[name] = evaluate_sequence(DATA / "sequences" / name, make_method("bgsub"))
        return cache[name]
    return score


@needs_data
def test_every_real_sequence_has_a_floor():
    present = sorted(p.name for p in (DATA / "sequences").iterdir()
                     if (p / "groundtruth").is_dir())
    assert present == sorted(F_FLOORS)


@needs_data
@pytest.mark.parametrize("name, floor", sorted(F_FLOORS.items()))
def test_bgsub_defaults_stay_above_the_measured_f_floor(bgsub_scores, name, floor):
    s = bgsub_scores(name)
    assert s.frames_scored > 0
    assert s.f_measure >= floor, f"{name}: F {s.f_measure:.4f} fell below {floor}"


# The accurate setting (bgsub.ACCURATE, `--accurate`: max_variance 81, the 11x11 vote at 0.5,
# the neighbourhood rule at 2.0 and match_threshold 2.4 over the other defaults, the ghost rule
# included; unchanged when the defaults' threshold went to 2.2 on 2026-12-07), measured the
# same way over background_ratio 0.4 and warmup 2.5, floors 0.01 below: Board 0.918, Foliage
# 0.714, HighwayI 0.743, IBMtest2 0.927, PeopleAndFoliage 0.808, Snellen 0.586, fall_subset
# 0.499, highway 0.959 (over background_ratio 0.5 and warmup 4, at efbfb49: Board 0.898,
# Foliage 0.727, HighwayI 0.718, IBMtest2 0.933, PeopleAndFoliage 0.760, Snellen 0.561,
# fall_subset 0.465, highway 0.956).
ACCURATE_FLOORS = {"Board": 0.90, "Foliage": 0.70, "HighwayI": 0.73, "IBMtest2": 0.91,
                   "PeopleAndFoliage": 0.79, "Snellen": 0.57, "fall_subset": 0.48,
                   "highway": 0.94}


@needs_data
@pytest.mark.parametrize("name, floor", sorted(ACCURATE_FLOORS.items()))
def test_the_accurate_setting_stays_above_its_measured_f_floor(name, floor):
    from bgsub.model.mixture import ACCURATE

    s = evaluate_sequence(DATA / "sequences" / name, make_method("bgsub", **ACCURATE))
    assert s.f_measure >= floor, f"{name}: F {s.f_measure:.4f} fell below {floor}"


@needs_data
def test_a_lighting_variant_keeps_its_f_after_a_20_percent_brighter_step(tmp_path):
    # scripts/make_lighting.py's IBMtest2-up20 (frames 40-90 at 120% brightness, clipped at
    # 255, scored from frame 40): measured F 0.875 with the defaults (0.871 with the 11x11 vote
    # at 0.67 over every foreground pixel, before 2026-12-08; 0.894 with match_threshold 2.4, 0.925 with background_ratio 0.5 and warmup 4); 0.699
    # before the clipped pixels were judged against what the model knew there (BGSLibrary's
    # SuBSENSE 0.859)
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    import make_lighting

    path = make_lighting.make_variant("IBMtest2-up20", DATA / "sequences", tmp_path)
    assert evaluate_sequence(path, make_method("bgsub")).f_measure >= 0.86


# scripts/make_shake.py's IBMtest2 variants, F with the defaults (floor 0.01 below the measured
# value, rounded down; with the 13x13 vote over solid foreground, 2026-12-08: shake 0.925, pan
# 0.919, knock 0.921) and with the alignment off (max_shift=0, a ceiling above it; those F at
# match_threshold 2.4, not re-measured at 2.2):
# - shake, every frame and its ground truth shifted by a random walk within 3 pixels: 0.925
#   (0.929 with match_threshold 2.4), each frame aligned with the model; 0.769 with
#   max_shift=0 (0.928 and 0.745 with background_ratio 0.5 and warmup 4; BGSLibrary's PAWCS
#   0.921);
# - pan, a window that pans 24 px right and 12 down, then stops: 0.919 (0.923 with 2.4), the
#   model moving with the camera; 0.258 with max_shift=0, 0.310 at 766af51, whose alignment
#   kept the first frame's place (OpenCV MOG2 0.403, KNN 0.231);
# - knock, a window that jumps 16 px right and 8 down from one frame to the next: 0.920 (0.925
#   with 2.4), the knock found again at once; 0.231 with max_shift=0, 0.219 before the knock
#   was looked for (OpenCV MOG2 0.633, KNN 0.353)
@needs_data
@pytest.mark.parametrize("kind, floor, unaligned", [("shake", 0.91, 0.8), ("pan", 0.90, 0.4),
                                                    ("knock", 0.91, 0.3)])
def test_a_moving_camera_variant_keeps_its_f(tmp_path, kind, floor, unaligned):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    import make_shake

    make = {"pan": make_shake.make_pan, "knock": make_shake.make_knock}.get(
        kind, make_shake.make_variant)
    path = make("IBMtest2", DATA / "sequences", tmp_path)
    assert evaluate_sequence(path, make_method("bgsub")).f_measure >= floor
    assert evaluate_sequence(path, make_method("bgsub", max_shift=0)).f_measure < unaligned


@needs_data
def test_a_lighting_variant_keeps_its_f_after_a_35_percent_darker_step(tmp_path):
    # scripts/make_lighting.py's IBMtest2-down35 (frames 40-90 at 65% brightness, scored from
    # frame 40): measured F 0.938 with the defaults (0.930 with the 11x11 vote at 0.67 over
    # every foreground pixel, 0.936 with match_threshold 2.4; floor 0.01
    # below, rounded down), 0.098
    # without gain compensation (OpenCV MOG2 0.864, KNN 0.854).
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    import make_lighting

    path = make_lighting.make_variant("IBMtest2-down35", DATA / "sequences", tmp_path)
    assert evaluate_sequence(path, make_method("bgsub")).f_measure >= 0.91
    old = evaluate_sequence(path, make_method("bgsub", gain_compensation=False)).f_measure
    assert old < 0.2
