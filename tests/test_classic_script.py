"""scripts/classic.py: its tables and its report of where bgsub is behind, on hand-made scores;
its one-line refusal without pybgs."""

import importlib.util
import sys
from pathlib import Path

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
