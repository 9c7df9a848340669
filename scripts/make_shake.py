"""A camera that moves: derived sequences in which every frame of a shared ground-truth sequence
is shifted by a random 1-3 pixels, as a camera on a pole that sways, the ground truth with it;
(``--pan``) sequences in which the camera pans slowly and stops; and (``--knock``) sequences
in which it is knocked 16 px right and 8 down from one frame to the next.

    python scripts/make_shake.py [--data DIR] [--out DIR] [--force] [--pan | --knock]

Each variant ``<base>-shake`` is a CDnet-layout folder in ``$BGSUB_DERIVED`` or
``/tmp/bgsub-derived`` (PNG, lossless; never inside the repository): frame n is the base's
frame n translated by (dx, dy) (:func:`offsets`: a random walk kept within 3 pixels of the
rest position, at least 1 pixel from it in one axis; the edge pixels are repeated where the
shift uncovers the border); its ground truth is the base's translated by the same amount, with
the uncovered border labelled 85 (outside the region of interest: not scored).  ``ROI.bmp``
and ``temporalROI.txt`` are the base's.  ``VARIANTS`` lists the bases; scored by
``scripts/accuracy.py --shake``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from make_lighting import derived_dir, sequences_dir  # noqa: E402

MAX_SHIFT = 3
PAN_X, PAN_Y = 24, 12
KNOCK_X, KNOCK_Y = 16, 8
SEED = 23
VARIANTS = ["highway", "HighwayI", "IBMtest2", "Board", "PeopleAndFoliage", "Foliage",
            "Snellen", "fall_subset"]


def offsets(n: int, seed: int = SEED) -> np.ndarray:
    """(n, 2) integer shifts (dx, dy): a random walk of steps -1, 0 or +1 per axis, kept within
    MAX_SHIFT of the rest position, and never at rest (at least 1 pixel off in one axis)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, 2), np.int64)
    pos = np.array([1, 0])
    for t in range(n):
        pos = np.clip(pos + rng.integers(-1, 2, 2), -MAX_SHIFT, MAX_SHIFT)
        if not pos.any():
            pos[rng.integers(0, 2)] = rng.choice([-1, 1])
        out[t] = pos
    return out


def shift(img: np.ndarray, dx: int, dy: int, fill=None) -> np.ndarray:
    """``img`` translated by (dx, dy) pixels (content moves right and down for positive
    values); the uncovered border repeats the edge, or is ``fill`` when given."""
    h, w = img.shape[:2]
    ys = np.clip(np.arange(h) - dy, 0, h - 1)
    xs = np.clip(np.arange(w) - dx, 0, w - 1)
    out = img[ys][:, xs].copy()
    if fill is not None:
        if dy > 0:
            out[:dy] = fill
        elif dy < 0:
            out[dy:] = fill
        if dx > 0:
            out[:, :dx] = fill
        elif dx < 0:
            out[:, dx:] = fill
    return out


def make_variant(base: str, data: Path, out: Path, force: bool = False) -> Path:
    from bgsub.evaluate.scoring import Sequence

    dest = out / f"{base}-shake"
    if (dest / "temporalROI.txt").exists() and not force:
        return dest
    src = Sequence.open(data / base)
    off = offsets(len(src.frames))
    return _write(src, dest, lambda t, img: shift(img, *off[t]),
                  lambda t, gt: shift(gt, *off[t], 85), link_roi=True)


def pan_offsets(n: int, start: int) -> np.ndarray:
    """(n, 2) window positions (x, y) of a pan that begins after frame index ``start``."""
    k = np.maximum(np.arange(n) - start, 0)
    return np.stack([np.minimum(k // 2, PAN_X), np.minimum(k // 4, PAN_Y)], axis=1)


def make_pan(base: str, data: Path, out: Path, force: bool = False) -> Path:
    """``<base>-pan``: a window of the base, PAN_X px narrower and PAN_Y lower, that stands
    still for a quarter of the scored frames, then pans (:func:`pan_offsets`) and stops."""
    return _make_window(base, data, out, force, "pan", (PAN_X, PAN_Y), pan_offsets)


def make_knock(base: str, data: Path, out: Path, force: bool = False) -> Path:
    """``<base>-knock``: a window of the base, KNOCK_X px narrower and KNOCK_Y lower, that jumps
    by (KNOCK_X, KNOCK_Y) from one frame to the next (a camera knocked, further than the
    model's search) a quarter of the way into the scored frames, and stays there."""
    def knock(n, at):
        return np.array([(KNOCK_X, KNOCK_Y) if t >= at else (0, 0) for t in range(n)])

    return _make_window(base, data, out, force, "knock", (KNOCK_X, KNOCK_Y), knock)


def _make_window(base, data, out, force, kind, cut, positions) -> Path:
    """``<base>-<kind>``: each frame (and its ground truth, outside the base's ROI labelled 85)
    cut to a window ``cut`` (x, y) px smaller than the base's, at ``positions(n, at)[t]``
    (x, y) for frame index t, where ``at`` is a quarter of the way into the scored frames."""
    from bgsub.evaluate.scoring import Sequence

    dest = out / f"{base}-{kind}"
    if (dest / "temporalROI.txt").exists() and not force:
        return dest
    src = Sequence.open(data / base)
    numbers = sorted(src.frames)
    scored = [t for t, n in enumerate(numbers) if src.scored(n)]
    pos = positions(len(numbers), scored[0] + (scored[-1] - scored[0]) // 4)

    def window(t, img):
        (x, y), (h, w) = pos[t], img.shape[:2]
        return img[y:y + h - cut[1], x:x + w - cut[0]]

    def truth(t, gt):
        return window(t, gt if src.roi is None else np.where(src.roi, gt, 85).astype(np.uint8))

    return _write(src, dest, window, truth)


def _write(src, dest: Path, frame, truth, link_roi: bool = False) -> Path:
    """``dest``, a CDnet-layout folder made from the sequence ``src``: its frame t is
    ``frame(t, image)``, its ground truth ``truth(t, labels)``; the base's ``ROI.bmp`` linked
    when ``link_roi``, its temporal ROI copied last (it marks the folder complete)."""
    import cv2

    from bgsub.evaluate.scoring import read_image

    done = dest / "temporalROI.txt"
    for sub in ("input", "groundtruth"):
        (dest / sub).mkdir(parents=True, exist_ok=True)
    roi = src.path / "ROI.bmp"
    if link_roi and roi.exists() and not (dest / "ROI.bmp").exists():
        (dest / "ROI.bmp").symlink_to(roi.resolve())
    if done.exists():
        done.unlink()
    for t, n in enumerate(sorted(src.frames)):
        cv2.imwrite(str(dest / "input" / f"in{n:06d}.png"), frame(t, read_image(src.frames[n])))
        if n in src.groundtruth:
            gt = cv2.imread(str(src.groundtruth[n]), cv2.IMREAD_GRAYSCALE)
            cv2.imwrite(str(dest / "groundtruth" / f"gt{n:06d}.png"), truth(t, gt))
    a, b = src.temporal
    done.write_text(f"{a} {b}\n")
    return dest


def make_all(data: Path, out: Path, force: bool = False, names=None,
             pan: bool = False, knock: bool = False) -> list[Path]:
    """The shaken variants of ``names`` (default VARIANTS), or with ``pan`` the panned ones,
    with ``knock`` the knocked ones."""
    out.mkdir(parents=True, exist_ok=True)
    made = []
    for base in names or VARIANTS:
        if not (data / base).is_dir():
            print(f"make_shake: no base sequence {base} in {data}", file=sys.stderr)
            continue
        make = make_knock if knock else make_pan if pan else make_variant
        made.append(make(base, data, out, force))
    return made


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="folder of base sequences")
    ap.add_argument("--out", default=None)
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--pan", action="store_true", help="the panning camera's variants")
    ap.add_argument("--knock", action="store_true", help="the knocked camera's variants")
    args = ap.parse_args(argv)
    data = sequences_dir(args.data)
    for p in make_all(data, derived_dir(args.out), args.force, pan=args.pan,
                      knock=args.knock):
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
