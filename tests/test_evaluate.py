"""CDnet scoring: hand-computed counts, label rules, spatial and temporal ROI, bad folders, the
``bgsub eval`` command, and the real sequences when they are present."""

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from bgsub.cli import main
from bgsub.evaluate import Scores, Sequence, SequenceError, evaluate_sequence

DATA = Path(os.environ.get("BGSUB_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
SAMPLES = Path(__file__).resolve().parents[1] / "sample_videos"


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
    with pytest.raises(SequenceError, match="no inNNNNNN"):
        Sequence.open(tmp_path)


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


needs_data = pytest.mark.skipif(not (DATA / "sequences").is_dir(),
                                reason=f"real data not found at {DATA} (set BGSUB_DATA)")


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
def test_bgsub_defaults_beat_mog2_on_every_real_sequence():
    from bgsub.evaluate import make_method

    seqs = sorted(p for p in (DATA / "sequences").iterdir() if (p / "groundtruth").is_dir())
    ours, theirs = [], []
    for p in seqs:
        seq = Sequence.open(p)
        ours.append(evaluate_sequence(seq, make_method("bgsub")).f_measure)
        theirs.append(evaluate_sequence(Sequence.open(p), make_method("opencv-mog2")).f_measure)
    assert np.mean(ours) >= np.mean(theirs) + 0.05, (ours, theirs)
    for name, a, b in zip([p.name for p in seqs], ours, theirs):
        assert a >= b - 0.01, (name, a, b)
