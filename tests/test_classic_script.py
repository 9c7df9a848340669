"""scripts/classic.py: its tables and its report of where bgsub is behind, on hand-made scores;
its columns, its run over hand-made sequences, its options and JSON; its one-line refusal
without pybgs."""

import importlib.util
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from bgsub.evaluate.scoring import Scores

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import classic  # noqa: E402


def scores(tp, fp, fn):
    return Scores(tp=tp, fp=fp, fn=fn, tn=1000, frames_scored=1)


SCORES = {  # F = 2 tp / (2 tp + fp + fn)
    "bgsub": {"a": scores(8, 2, 2), "b": scores(5, 5, 5)},  # 0.8, 0.5
    "LOBSTER": {"a": scores(6, 4, 4), "b": scores(6, 2, 2)},  # 0.6, 0.75
    "SuBSENSE": {"a": scores(9, 0, 0), "b": scores(1, 0, 8)},  # 1.0, 0.2
}


def test_table_marks_the_best_and_means_each_column():
    text = classic.table(SCORES, ["a", "b"], ["bgsub", "LOBSTER", "SuBSENSE"])
    lines = text.splitlines()
    assert lines[0] == "| sequence | bgsub | LOBSTER | SuBSENSE |"
    assert lines[2] == "| a | 0.800 | 0.600 | **1.000** |"
    assert lines[3] == "| b | 0.500 | **0.750** | 0.200 |"
    assert lines[4] == "| **mean F** | **0.650** | **0.675** | **0.600** |"


def test_behind_names_the_best_classic_method_per_sequence():
    assert classic.behind(SCORES, ["a", "b"], ["LOBSTER", "SuBSENSE"]) == [
        "a (0.800 vs SuBSENSE 1.000)", "b (0.500 vs LOBSTER 0.750)"]
    assert classic.behind(SCORES, ["a"], ["LOBSTER"]) == []


@pytest.mark.skipif(importlib.util.find_spec("pybgs") is not None, reason="pybgs is installed")
def test_without_pybgs_it_says_so_in_one_line(capsys):
    assert classic.main([]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["classic: needs pybgs (pip install pybgs, in a virtual environment of its own)"]


def test_makers_one_bgsub_column_per_config_then_opencv_then_classic():
    make = classic.makers(["bgsub", "opencv-knn"], [{}, {"ghost_frames": 0}], ["PAWCS"])
    assert list(make) == ["bgsub", "bgsub ghost_frames=0", "opencv-knn", "PAWCS"]
    assert make["bgsub"]().ghost_frames == 10
    assert make["bgsub ghost_frames=0"]().ghost_frames == 0
    assert make["opencv-knn"]().kind == "opencv-knn"
    assert classic.makers([], [{}], []) == {}


def write_case(root, gts):
    """A CDnet folder of black 4x3 frames with the ground truth ``gts``."""
    (root / "input").mkdir(parents=True)
    (root / "groundtruth").mkdir()
    for n, gt in enumerate(gts, start=1):
        cv2.imwrite(str(root / "input" / f"in{n:06d}.png"), np.zeros((3, 4, 3), np.uint8))
        cv2.imwrite(str(root / "groundtruth" / f"gt{n:06d}.png"), np.full((3, 4), gt, np.uint8))
    return root


class Constant:
    """A model that calls every pixel of every frame foreground (255) or background (0)."""

    def __init__(self, value):
        self.value, self.seen = value, 0

    def apply(self, frame):
        self.seen += 1
        return np.full(frame.shape[:2], self.value, np.uint8)


def test_run_scores_every_case_with_a_fresh_model_per_column(tmp_path):
    a = write_case(tmp_path / "a", [0, 255, 255])  # 12 pixels a frame
    b = write_case(tmp_path / "b", [255, 0])
    made = []

    def new(value):
        made.append(Constant(value))
        return made[-1]

    scores, spf = classic.run([a, b], {"all": lambda: new(255), "none": lambda: new(0)})
    assert [m.seen for m in made] == [3, 3, 2, 2]
    assert (scores["all"]["a"].tp, scores["all"]["a"].fp) == (24, 12)
    assert (scores["all"]["b"].tp, scores["all"]["b"].fp) == (12, 12)
    assert (scores["none"]["a"].fn, scores["none"]["a"].tn) == (24, 12)
    assert scores["all"]["a"].f_measure == pytest.approx(2 * 24 / (2 * 24 + 12))
    assert set(spf) == {"all", "none"} and all(v >= 0 for v in spf.values())


@pytest.mark.parametrize("argv", [["--configs", "{}"], ["--configs", "[1]"],
                                  ["--groups", "light,wind"], ["--groups", ""],
                                  ["--ours", "bgsub,PAWCS"]])
def test_bad_options_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        classic.options(argv)
    assert exc.value.code == 2
    assert ": error: --" in capsys.readouterr().err.strip().splitlines()[-1]


def test_options_split_the_lists():
    args = classic.options(["--groups", "light,shake", "--methods", "PAWCS", "--ours", "",
                            "--configs", '[{"ghost_frames": 10}]'])
    assert (args.groups, args.methods, args.ours) == (["light", "shake"], ["PAWCS"], [])
    assert args.configs == [{"ghost_frames": 10}]


def test_json_holds_every_score_and_time(tmp_path):
    path = tmp_path / "out.json"
    classic.save_json(path, ["--groups", "light"], {"light": (SCORES, {"bgsub": 0.0125})})
    data = json.loads(path.read_text())
    assert list(tmp_path.iterdir()) == [path]
    assert data["argv"] == ["--groups", "light"]
    assert data["groups"]["light"]["ms_per_frame"] == {"bgsub": 12.5}
    assert data["groups"]["light"]["scores"]["LOBSTER"]["b"]["f_measure"] == pytest.approx(0.75)
    assert data["groups"]["light"]["scores"]["bgsub"]["a"]["tp"] == 8
