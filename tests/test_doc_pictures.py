"""scripts/make_doc_pictures.py: the colours of its masks against hand-made ground truth, and
a picture made from the street sample whose captions give what ``bgsub eval`` scores."""

import json
import re
import sys
from pathlib import Path

import cv2
import numpy as np
from click.testing import CliRunner

from bgsub.cli import main

from .conftest import SAMPLES

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import make_doc_pictures as pictures  # noqa: E402


def test_masks_are_coloured_against_the_ground_truth():
    # CDnet labels: 255 foreground, 0 and 50 background, 85 and 170 not scored
    gt = np.array([[255, 255, 0, 50, 85, 170]], np.uint8)
    mask = np.array([[255, 0, 255, 0, 255, 0]], np.uint8)
    out = pictures.against_truth(mask, gt)
    assert [tuple(int(v) for v in px) for px in out[0]] == [
        pictures.WHITE, pictures.BLUE, pictures.RED, (0, 0, 0), pictures.GREY, (0, 0, 0)]
    roi = np.array([[True, False, True, True, True, True]])
    assert tuple(pictures.against_truth(mask, gt, roi)[0, 1]) == (0, 0, 0)  # outside the ROI


def test_the_small_objects_picture_gives_bgsub_evals_scores(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(pictures, "OUT", tmp_path)
    pictures.small(None)  # the street sample: no real data needed
    png = cv2.imread(str(tmp_path / "tuning-small.png"))
    assert png is not None and png.shape[0] == pictures.TILE_H + 42  # a two-line caption bar
    printed = dict(re.findall(r"tuning-small: (.+?): F ([\d.]+) over street", capsys.readouterr().out))
    assert list(printed) == ["--solid 1", "defaults (--solid 3)", "--smoothing 5 --vote 0.5"]
    for caption, args in (("--solid 1", ["--solid", "1"]), ("defaults (--solid 3)", []),
                          ("--smoothing 5 --vote 0.5", ["--smoothing", "5", "--vote", "0.5"])):
        r = CliRunner().invoke(main, ["eval", str(SAMPLES / "street"), *args, "--json"])
        assert r.exit_code == 0, r.output
        assert printed[caption] == f"{json.loads(r.output)['sequences'][0]['f_measure']:.3f}"
