"""Scoring foreground masks against CDnet-2014-style ground truth.

A sequence is a folder with ``input/`` (numbered frames: ``in000001.jpg``, any other prefix or
none, any image suffix), ``groundtruth/`` (``gtNNNNNN.png``; matched to the frames by number),
an optional ``ROI.bmp`` (nonzero = evaluate) and an optional ``temporalROI.txt`` ("first last",
frame numbers as in the file names, inclusive).

CDnet's rules: ground-truth labels 0 (static) and 50 (hard shadow) are background, 255 is
foreground, 85 (outside the ROI) and 170 (unknown) are not scored; only a predicted 255 is
foreground (a 127 shadow label counts as background).  Per sequence the counts are summed over
every scored frame and pixel, then turned into the seven CDnet metrics.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from bgsub.io.sources import SourceError, numbered_images, numbered_series

GT_FOREGROUND = 255
GT_NEGATIVE = (0, 50)


class Subtractor(Protocol):
    """What :func:`evaluate_sequence` runs: ``apply(frame)`` returns the uint8 mask (255 =
    foreground), as :class:`bgsub.MixtureSubtractor` and OpenCV's subtractors do."""

    def apply(self, frame: np.ndarray, /) -> np.ndarray: ...


class SequenceError(ValueError):
    """A folder that cannot be scored; the message names the problem."""


@dataclass
class Scores:
    """Summed confusion counts of one sequence, and the CDnet metrics derived from them."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    frames_scored: int = 0

    def add(self, pred: np.ndarray, gt: np.ndarray,
            roi: np.ndarray | None = None) -> tuple[int, int, int, int]:
        """Add one frame: ``pred`` uint8 mask (255 = foreground), ``gt`` CDnet labels.
        Returns that frame's counts (tp, fp, fn, tn)."""
        counts = frame_counts(pred, gt, roi)
        tp, fp, fn, tn = counts
        self.tp += tp
        self.fp += fp
        self.fn += fn
        self.tn += tn
        self.frames_scored += 1
        return counts

    @staticmethod
    def _div(a: float, b: float) -> float:
        return a / b if b else 0.0

    @property
    def recall(self) -> float:
        return self._div(self.tp, self.tp + self.fn)

    @property
    def specificity(self) -> float:
        return self._div(self.tn, self.tn + self.fp)

    @property
    def fpr(self) -> float:
        return self._div(self.fp, self.fp + self.tn)

    @property
    def fnr(self) -> float:
        return self._div(self.fn, self.tp + self.fn)

    @property
    def pwc(self) -> float:
        return 100.0 * self._div(self.fp + self.fn, self.tp + self.fp + self.fn + self.tn)

    @property
    def precision(self) -> float:
        return self._div(self.tp, self.tp + self.fp)

    @property
    def f_measure(self) -> float:
        p, r = self.precision, self.recall
        return self._div(2 * p * r, p + r)

    METRICS = ("recall", "specificity", "fpr", "fnr", "pwc", "precision", "f_measure")

    def as_dict(self) -> dict[str, float]:
        d = {m: getattr(self, m) for m in self.METRICS}
        d.update(asdict(self))
        return d


def frame_counts(pred: np.ndarray, gt: np.ndarray,
                 roi: np.ndarray | None = None) -> tuple[int, int, int, int]:
    """One frame's (tp, fp, fn, tn) under CDnet's rules."""
    if pred.shape != gt.shape:
        raise SequenceError(f"mask shape {pred.shape} differs from ground truth {gt.shape}")
    fg = pred == 255
    pos = gt == GT_FOREGROUND
    neg = (gt == GT_NEGATIVE[0]) | (gt == GT_NEGATIVE[1])
    if roi is not None:
        pos &= roi
        neg &= roi
    tp = int(np.count_nonzero(fg & pos))
    fp = int(np.count_nonzero(fg & neg))
    return tp, fp, int(np.count_nonzero(pos)) - tp, int(np.count_nonzero(neg)) - fp


def frame_f_measure(tp: int, fp: int, fn: int) -> float:
    """F of one frame; NaN when it has no foreground, predicted or true (F is undefined)."""
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")


@dataclass
class Sequence:
    """A CDnet-layout folder: which frames exist, which are scored, and the spatial ROI."""

    path: Path
    frames: dict[int, Path]
    groundtruth: dict[int, Path]
    roi: np.ndarray | None
    temporal: tuple[int, int]
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Sequence:
        import cv2

        path = Path(path)
        if not path.is_dir():
            raise SequenceError(f"{path}: not a folder")
        inp, gtd = path / "input", path / "groundtruth"
        if not inp.is_dir() or not gtd.is_dir():
            raise SequenceError(f"{path}: not a CDnet sequence (needs input/ and groundtruth/)")
        frames, gts, notes = _frames_and_groundtruth(path, inp, gtd)
        with_gt = sorted(frames.keys() & gts.keys())
        roi = None
        roi_path = path / "ROI.bmp"
        if roi_path.exists():
            img = cv2.imread(str(roi_path), cv2.IMREAD_GRAYSCALE)
            if img is None:
                raise SequenceError(f"{roi_path}: unreadable image")
            roi = img > 127
        lo, hi = min(frames), max(frames)
        first, last = lo, hi
        troi = path / "temporalROI.txt"
        if troi.exists():
            try:
                a, b = (int(v) for v in troi.read_text().split()[:2])
            except ValueError:
                raise SequenceError(f"{troi}: expected two frame numbers") from None
            first, last = max(a, lo), min(b, hi)
            if not any(first <= n <= last for n in with_gt):
                notes.append(f"temporalROI {a}-{b} covers none of the frames with ground truth "
                             f"({with_gt[0]}-{with_gt[-1]}): scoring every one of them")
                first, last = lo, hi
            elif (a, b) != (first, last):
                notes.append(f"temporalROI {a}-{b} clamped to the frames present ({first}-{last})")
        return cls(path, frames, gts, roi, (first, last), notes)

    def scored(self, number: int) -> bool:
        """Whether frame ``number`` is scored: inside the temporal ROI, with ground truth."""
        return self.temporal[0] <= number <= self.temporal[1] and number in self.groundtruth


def _frames_and_groundtruth(path: Path, inp: Path, gtd: Path):
    """The numbered frames of ``input/`` and ``gtNNNNNN`` masks of ``groundtruth/``, which must
    share at least one number; notes on what is left out."""
    try:
        frames = numbered_images(inp)
        gts = numbered_images(gtd, prefix="gt")
    except SourceError as exc:
        raise SequenceError(str(exc)) from None
    if not frames.files:
        found = (f" ({len(frames.unnumbered)} images, none numbered: {_few(frames.unnumbered)})"
                 if frames.unnumbered else "")
        raise SequenceError(f"{path}: input/ has no numbered frames such as in000001.png{found}")
    if not gts.files:
        try:
            others = numbered_series(gtd)[0]
        except SourceError:
            others = []
        found = f" (it has {others[0].describe()})" if others else ""
        raise SequenceError(f"{path}: input/ has {frames.describe()}, groundtruth/ has 0 "
                            f"gtNNNNNN.png files{found}")
    common = frames.files.keys() & gts.files.keys()
    if not common:
        raise SequenceError(f"{path}: no frame numbers in common between input/ "
                            f"({frames.span()}) and groundtruth/ ({gts.span()})")
    notes = []
    if frames.unnumbered:
        notes.append(f"input/: {len(frames.unnumbered)} image(s) without a frame number "
                     f"left out ({_few(frames.unnumbered)})")
    orphans = sorted(gts.files.keys() - common)
    if orphans:
        notes.append(f"{len(orphans)} ground-truth mask(s) have no input frame (numbers "
                     f"{orphans[0]}..{orphans[-1]}): not scored")
    return frames.files, gts.files, notes


def _few(names: list[str], k: int = 3) -> str:
    return ", ".join(names[:k]) + (", ..." if len(names) > k else "")


def read_image(path: Path, flags=None) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR if flags is None else flags)
    if img is None:
        raise SequenceError(f"{path}: unreadable image")
    return img


def evaluate_sequence(seq: Sequence | str | os.PathLike[str], model: Subtractor,
                      save_masks: str | os.PathLike[str] | None = None,
                      frames: list[np.ndarray] | None = None, init_frames: int = 0,
                      on_frame: Callable[..., Any] | None = None) -> Scores:
    """Run ``model.apply`` over every frame of ``seq`` in order and score the scored frames.

    ``frames``: optional list of already decoded frames in the sequence's order (for repeated
    runs).  ``save_masks``: a folder for the predicted masks, CDnet-named ``binNNNNNN.png``.
    ``init_frames``: first fit ``model`` (a MixtureSubtractor) by per-pixel batch EM on the
    sequence's first N frames, then run it over every frame.
    ``on_frame``: called for every scored frame as ``on_frame(number, frame, mask, gt, roi,
    counts)`` with that frame's (tp, fp, fn, tn) (the evaluation report uses it).
    """
    import cv2

    from bgsub.io.sinks import write_image_atomic

    if not isinstance(seq, Sequence):
        seq = Sequence.open(seq)
    if save_masks is not None:
        save_masks = Path(save_masks)
        save_masks.mkdir(parents=True, exist_ok=True)
    scores = Scores()
    roi = seq.roi
    numbers = sorted(seq.frames)
    head = []
    if init_frames:
        head = [frames[i] if frames is not None else read_image(seq.frames[n])
                for i, n in enumerate(numbers[:init_frames])]
        model.fit_frames(head)  # type: ignore[attr-defined]  # a MixtureSubtractor here
    for idx, n in enumerate(numbers):
        if idx < len(head):
            frame = head[idx]  # decoded once, for the fit and for scoring
        else:
            frame = frames[idx] if frames is not None else read_image(seq.frames[n])
        mask = model.apply(frame)
        if save_masks is not None:
            write_image_atomic(save_masks / f"bin{n:06d}.png", mask)
        if not seq.scored(n):
            continue
        gt = read_image(seq.groundtruth[n], cv2.IMREAD_GRAYSCALE)
        if gt.shape != mask.shape:
            raise SequenceError(f"{seq.groundtruth[n]}: ground truth is {gt.shape[1]}x"
                                f"{gt.shape[0]}, frames are {mask.shape[1]}x{mask.shape[0]}")
        if roi is not None and roi.shape != gt.shape:
            seq.notes.append(f"ROI.bmp is {roi.shape[1]}x{roi.shape[0]}, frames are "
                             f"{gt.shape[1]}x{gt.shape[0]}: ignored")
            roi = seq.roi = None
        counts = scores.add(mask, gt, roi)
        if on_frame is not None:
            on_frame(n, frame, mask, gt, roi, counts)
    return scores


# ---------------------------------------------------------------------------- methods
class OpenCVMethod:
    """An OpenCV subtractor behind the ``apply(frame) -> mask`` interface."""

    def __init__(self, kind: str):
        import cv2

        self.kind = kind
        if kind == "opencv-mog2":
            self.impl = cv2.createBackgroundSubtractorMOG2()
        elif kind == "opencv-knn":
            self.impl = cv2.createBackgroundSubtractorKNN()
        else:
            raise ValueError(f"unknown OpenCV method {kind!r}")

    def apply(self, frame):
        return self.impl.apply(frame)


METHODS = ("bgsub", "opencv-mog2", "opencv-knn")


def make_method(method: str, **params):
    """A fresh model for ``method``; ``params`` go to MixtureSubtractor for ``bgsub``."""
    if method == "bgsub":
        from bgsub.model.mixture import MixtureSubtractor

        return MixtureSubtractor(**params)
    if params:
        raise ValueError(f"model options apply to --method bgsub only, not {method}")
    return OpenCVMethod(method)


def mean_scores(all_scores: list[Scores]) -> dict:
    """The mean of each metric over sequences (CDnet averages per-video metrics)."""
    if not all_scores:
        return {}
    return {m: float(np.mean([getattr(s, m) for s in all_scores])) for m in Scores.METRICS}
