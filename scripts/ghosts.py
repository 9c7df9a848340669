"""Ghosts (what stood in the first frames and then left) and stopped objects (what arrives
and stays): derived cases from the shared ground-truth sequences, scored against the ground truth.

    python scripts/ghosts.py [--data DIR] [--out DIR] [--methods bgsub,opencv-mog2,opencv-knn]
                             [--cases a,b] [key=value ...]

Each case takes the object(s) that the ground truth labels at frame ``s`` of a base sequence
(the pixels within 1 px of a 255 label, cut from frame ``s``) and pastes them, still, into
other frames of the same sequence, the ground truth following (255 there), so that the
object stands where it stood:

* ``<base>-g<s>`` (a ghost): the case starts at frame ``s`` with the object pasted into its
  first ``HOLD`` (50) frames; then it leaves.  Every model learns it as background first.  The
  scored frames are the ``SCORED`` (100) frames from the departure ``d`` on: the first frame
  at or after ``s + HOLD`` where under ``LEFT`` (5%) of the object's pixels are foreground in
  the base's ground truth (the real object, too, has gone);
* ``<base>-s<s>`` (a stopped object): the case starts at the base's departure from ``s`` (as
  above, with HOLD = 0), learns ``LEARN`` (60) frames of the scene without the object, then
  the object is pasted into the next ``SCORED`` frames, which are scored: a model that takes
  it into the background early loses recall.

Besides the CDnet F over the scored frames, the ghost table gives the ghost's residue: the
fraction of the object's pixels that are background in the ground truth and predicted
foreground, 50 frames after the departure.  Cases are CDnet-layout folders in
``$BGSUB_DERIVED`` or ``/tmp/bgsub-derived`` (PNG, lossless; never inside the repository).
``CASES`` lists them; the real case, Board (people stand in front of it in the first frame),
is one of the shared eight and scored by ``scripts/accuracy.py``.  key=value pairs are
MixtureSubtractor parameters for bgsub.
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

LEFT = 0.05  # the object has left when under this fraction of it is still foreground
HOLD = 50  # frames the object stands still at the start of a ghost case
LEARN = 60  # frames of the empty scene before a stopped object arrives
SCORED = 100  # frames scored
RESIDUE_AT = 50  # frames after the departure at which the ghost's residue is reported

# name: (base, s, kind): the object is the ground truth's at frame s; kind "g" ghost, "s" stop
CASES = {
    "highway-g800": ("highway", 800, "g"),
    "highway-g1000": ("highway", 1000, "g"),
    "highway-g1430": ("highway", 1430, "g"),
    "HighwayI-g143": ("HighwayI", 143, "g"),
    "HighwayI-g286": ("HighwayI", 286, "g"),
    "IBMtest2-g20": ("IBMtest2", 20, "g"),
    "PeopleAndFoliage-g150": ("PeopleAndFoliage", 150, "g"),
    "Board-g60": ("Board", 60, "g"),
    "highway-s800": ("highway", 800, "s"),
    "highway-s1000": ("highway", 1000, "s"),
    "HighwayI-s143": ("HighwayI", 143, "s"),
    "HighwayI-s60": ("HighwayI", 60, "s"),
}


def departure(object_mask: np.ndarray, later) -> int | None:
    """The index into ``later`` (ground-truth masks after the start, in order) of the first
    mask that labels under ``LEFT`` of ``object_mask``'s pixels 255; None if none does."""
    n = int(np.count_nonzero(object_mask))
    if n == 0:
        return None
    for idx, gt in enumerate(later):
        if np.count_nonzero((gt == 255) & object_mask) < LEFT * n:
            return idx
    return None


def read_gt(path):
    import cv2

    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)


def object_mask(gt: np.ndarray) -> np.ndarray:
    """The pixels within 1 px (8-neighbourhood) of a 255 label: the object with its border."""
    import cv2

    return cv2.dilate((gt == 255).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0


def paste(frame, gt, src, obj):
    """``frame`` and ``gt`` with ``src``'s pixels under ``obj`` pasted in (the ground truth 255
    there)."""
    frame = frame.copy()
    frame[obj] = src[obj]
    gt = gt.copy()
    gt[obj] = 255
    return frame, gt


def make_case(name: str, data: Path, out: Path, force: bool = False) -> Path | None:
    """The case's folder (made when missing); None when the base is too short for it."""
    import cv2

    from bgsub.evaluate.scoring import Sequence, read_image

    base, s, kind = CASES[name]
    dest = out / name
    done = dest / "temporalROI.txt"
    if done.exists() and not force:
        return dest
    src = Sequence.open(data / base)
    numbers = [n for n in sorted(src.frames) if n in src.groundtruth]
    gt_s = read_gt(src.groundtruth[s])
    obj = object_mask(gt_s)
    hold = HOLD if kind == "g" else 0
    later = [n for n in numbers if n >= s + max(hold, 1)]
    d = departure(gt_s == 255, (read_gt(src.groundtruth[n]) for n in later))
    if d is None:
        print(f"ghosts: {name}: the object never leaves", file=sys.stderr)
        return None
    d_frame = later[d]
    if kind == "g":
        first, pasted, scored = s, range(s, s + HOLD), d_frame
    else:
        first = d_frame
        pasted = range(d_frame + LEARN, d_frame + LEARN + SCORED)
        scored = pasted[0]
    keep = [n for n in numbers if first <= n < scored + SCORED]
    if keep[-1] < scored + SCORED - 1:
        print(f"ghosts: {name}: the base ends before the scored frames do", file=sys.stderr)
        return None
    img_s = read_image(src.frames[s])
    for sub in ("input", "groundtruth"):
        (dest / sub).mkdir(parents=True, exist_ok=True)
    roi = src.path / "ROI.bmp"
    if roi.exists() and not (dest / "ROI.bmp").exists():
        (dest / "ROI.bmp").symlink_to(roi.resolve())
    if done.exists():
        done.unlink()
    for n in keep:
        img, gt = read_image(src.frames[n]), read_gt(src.groundtruth[n])
        if n in pasted:
            img, gt = paste(img, gt, img_s, obj)
        cv2.imwrite(str(dest / "input" / f"in{n:06d}.png"), img)
        cv2.imwrite(str(dest / "groundtruth" / f"gt{n:06d}.png"), gt)
    np.save(dest / "object.npy", obj)
    done.write_text(f"{scored} {scored + SCORED - 1}\n")  # written last: the case is complete
    return dest


def make_all(data: Path, out: Path, force: bool = False, names=None) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    made = []
    for name in names or CASES:
        if not (data / CASES[name][0]).is_dir():
            print(f"ghosts: no base sequence {CASES[name][0]} in {data}", file=sys.stderr)
            continue
        p = make_case(name, data, out, force)
        if p is not None:
            made.append(p)
    return made


def residue(pred: np.ndarray, gt: np.ndarray, obj: np.ndarray) -> float:
    """The fraction of the object's pixels that are background in ``gt`` (0) and predicted
    foreground (255) in ``pred``, of those that are background in ``gt``; nan when none is."""
    free = obj & (gt == 0)
    n = int(np.count_nonzero(free))
    return float(np.count_nonzero(free & (pred == 255))) / n if n else float("nan")


def score_case(path: Path, model, frames=None):
    """(Scores over the scored frames, the ghost's residue ``RESIDUE_AT`` frames after the
    first scored frame)."""
    from bgsub.evaluate.scoring import Sequence, evaluate_sequence

    seq = Sequence.open(path)
    obj = np.load(path / "object.npy")
    d = seq.temporal[0]
    res = [float("nan")]

    def on_frame(n, frame, mask, gt, roi, counts):
        if n - d == RESIDUE_AT:
            res[0] = residue(mask, gt, obj)

    scores = evaluate_sequence(seq, model, frames=frames, on_frame=on_frame)
    return scores, res[0]


def table(results: dict, names: list[str], with_residue: bool = True) -> str:
    """results: {method: {case: (Scores, residue)}} -> a markdown table of F (and the residue)
    per method, and the mean F."""
    methods = list(results)
    head = " F (residue +50)" if with_residue else " F"
    lines = ["| case | " + " | ".join(f"{m}{head}" for m in methods) + " |",
             "|---|" + "---|" * len(methods)]
    for n in names:
        cells = []
        for m in methods:
            s, r = results[m][n]
            cells.append(f"{s.f_measure:.3f}" + (f" ({r:.2f})" if with_residue else ""))
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    lines.append("| **mean F** | " + " | ".join(
        f"**{np.mean([results[m][n][0].f_measure for n in names]):.3f}**" for m in methods)
        + " |")
    return "\n".join(lines)


def parse_value(v: str):
    """An int, a float or the string itself (``rho=density``)."""
    for kind in (int, float):
        try:
            return kind(v)
        except ValueError:
            pass
    return v


def main(argv=None):
    from bgsub.evaluate.scoring import Sequence, make_method, read_image

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="folder of base sequences")
    ap.add_argument("--out", default=None)
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--methods", default="bgsub,opencv-mog2,opencv-knn")
    ap.add_argument("--cases", default=None, help="comma-separated case names (default: all)")
    ap.add_argument("params", nargs="*", help="key=value MixtureSubtractor parameters")
    args = ap.parse_args(argv)
    params = {}
    for a in args.params:
        if "=" not in a:
            ap.error(f"expected key=value, got {a!r}")
        k, v = a.split("=", 1)
        params[k] = parse_value(v)
    data = sequences_dir(args.data)
    names = args.cases.split(",") if args.cases else None
    unknown = [n for n in names or () if n not in CASES]
    if unknown:
        ap.error(f"unknown case {unknown[0]!r}")
    paths = make_all(data, derived_dir(args.out), args.force, names)
    if not paths:
        print(f"ghosts: no base sequences in {data}", file=sys.stderr)
        return 2
    results = {m: {} for m in args.methods.split(",")}
    for p in paths:
        seq = Sequence.open(p)
        frames = [read_image(seq.frames[n]) for n in sorted(seq.frames)]
        for m in results:
            model = make_method(m, **(params if m == "bgsub" else {}))
            results[m][p.name] = score_case(p, model, frames)
    ghosts = [p.name for p in paths if CASES[p.name][2] == "g"]
    stops = [p.name for p in paths if CASES[p.name][2] == "s"]
    if ghosts:
        print("Ghosts (scored over the 100 frames after the departure):\n")
        print(table(results, ghosts))
    if stops:
        print("\nStopped objects (scored over their first 100 frames):\n")
        print(table(results, stops, with_residue=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
