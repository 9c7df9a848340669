"""Small objects: discs 3, 5 and 7 pixels across pasted into real footage, moving; in what
fraction of frames does each method find them?

    python scripts/discs.py [--data DIR] [--configs JSON] [--methods opencv-mog2,opencv-knn]

Bases: the shared sequences ``BASES`` (their first ``FRAMES`` frames).  After ``LEARN`` frames of
the plain footage, ``DISCS`` discs of each diameter cross the frame (:func:`disc_paths`: each
moves 2 pixels a frame along its own row, bouncing at the sides; rows spread over the frame),
drawn over the frame in a grey level far from the background's there (30 on light ground, 225
on dark).  Prints, per method and diameter, the percentage of (disc, frame) pairs in which the
disc is seen (one of its pixels or more is foreground, 255, in the method's mask) and in which
it is whole (half of its pixels or more).  ``--configs``: a JSON list of MixtureSubtractor
parameter sets (default ``[{}]``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BASES = ("highway", "HighwayI", "IBMtest2", "Board")
FRAMES = 300
LEARN = 40
DISCS = 4
DIAMETERS = (3, 5, 7)
SPEED = 2


def disc_mask(d: int) -> np.ndarray:
    """A d x d boolean disc (centre distance <= d / 2)."""
    r = (d - 1) / 2
    yy, xx = np.mgrid[0:d, 0:d]
    return (yy - r) ** 2 + (xx - r) ** 2 <= (d / 2) ** 2


def disc_paths(h: int, w: int, n_frames: int, d: int, n: int = DISCS) -> np.ndarray:
    """(n_frames, n, 2) top-left corners (y, x): disc k on row band k of n (top and bottom
    margins of d), moving SPEED pixels a frame from x = 2 k d, bouncing between 0 and w - d."""
    out = np.zeros((n_frames, n, 2), np.int64)
    span = w - d
    for k in range(n):
        y = d + (h - 3 * d) * (2 * k + 1) // (2 * n)
        for t in range(n_frames):
            p = (2 * k * d + SPEED * t) % (2 * span)
            out[t, k] = (y, p if p <= span else 2 * span - p)
    return out


def draw(frame: np.ndarray, corners, disc: np.ndarray) -> list[np.ndarray]:
    """Draw the discs into ``frame`` (in place); returns their pixel masks (frame-sized)."""
    d = disc.shape[0]
    masks = []
    for y, x in corners:
        patch = frame[y:y + d, x:x + d]
        level = 30 if patch.mean() > 128 else 225
        patch[disc] = level
        m = np.zeros(frame.shape[:2], bool)
        m[y:y + d, x:x + d] = disc
        masks.append(m)
    return masks


def found_fractions(frames, make_model, d: int) -> tuple[float, float]:
    """Over the (disc, frame) pairs after LEARN frames: the fraction in which the disc is seen
    (one of its pixels or more foreground: a detector that grows blobs reports it) and the
    fraction in which its shape is kept (half of its pixels or more foreground)."""
    h, w = frames[0].shape[:2]
    disc = disc_mask(d)
    paths = disc_paths(h, w, len(frames), d)
    model = make_model()
    seen = kept = total = 0
    for t, f in enumerate(frames):
        f = f.copy()
        masks = draw(f, paths[t], disc) if t >= LEARN else []
        out = model.apply(f)
        for m in masks:
            on = (out[m] == 255).mean()
            seen += on > 0
            kept += on >= 0.5
            total += 1
    return seen / total, kept / total


def main(argv=None):
    import split

    from bgsub.evaluate.scoring import Sequence, make_method, read_image

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="folder of base sequences")
    ap.add_argument("--configs", default="[{}]")
    ap.add_argument("--methods", default="opencv-mog2,opencv-knn")
    args = ap.parse_args(argv)
    try:
        configs = split.parse_configs(args.configs)
    except ValueError as exc:
        ap.error(str(exc))
    import make_lighting

    data = make_lighting.sequences_dir(args.data)
    bases = [b for b in BASES if (data / b).is_dir()]
    if not bases:
        print(f"discs: no base sequences under {data}", file=sys.stderr)
        return 2
    columns = {f"bgsub#{i}": (lambda c=c: make_method("bgsub", **c))
               for i, c in enumerate(configs)}
    columns.update({m: (lambda m=m: make_method(m)) for m in args.methods.split(",") if m})
    found = {c: {d: [] for d in DIAMETERS} for c in columns}  # (seen, kept) per base
    for base in bases:
        seq = Sequence.open(data / base)
        frames = [read_image(seq.frames[n]) for n in sorted(seq.frames)[:FRAMES]]
        for c, make in columns.items():
            for d in DIAMETERS:
                found[c][d].append(found_fractions(frames, make, d))
        print(f"discs: {base} done", file=sys.stderr, flush=True)
    print("Seen: one pixel of the disc or more is foreground; whole: half of it or more.\n")
    print("| method | " + " | ".join(f"{d} px seen / whole" for d in DIAMETERS) + " |")
    print("|---|" + "---|" * len(DIAMETERS))
    for c in columns:
        cells = [f"{100 * np.mean([s for s, _ in found[c][d]]):.0f}% / "
                 f"{100 * np.mean([k for _, k in found[c][d]]):.0f}%" for d in DIAMETERS]
        print(f"| {c} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
