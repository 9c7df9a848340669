"""Lighting variants of the shared ground-truth sequences: a global brightness change from a
frame ``s`` on, scored from ``s`` on.

    python scripts/make_lighting.py [--data DIR] [--out DIR] [--force]

Each variant is a CDnet-layout folder: ``input/`` holds the base sequence's frames (PNG,
lossless) with the change applied (frames before ``s`` unchanged), ``groundtruth/`` and
``ROI.bmp`` are links to the base sequence's, and ``temporalROI.txt`` is ``s last`` so only the
frames from the change on are scored.  The out folder is ``$BGSUB_DERIVED`` or
``/tmp/bgsub-derived`` (never inside the repository: the frames are derived data).

Changes (a gain g(t) applied as ``clip(round(frame * g), 0, 255)``):

* ``down35``, ``down20``, ``up20``, ``up35``: a step to g = 0.65, 0.8, 1.2, 1.35 at s;
* ``ramp``: g falls linearly from 1 to 0.7 over 60 frames from s (a cloud, dusk);
* ``autoexp``: an auto-exposure jump: g jumps to 1.45 at s and settles exponentially
  (time constant 8 frames) to 1.2, with a small offset (-6 grey levels) from the black level;
* ``down30``: a step to g = 0.7; ``up40r200``, ``up40r100``, ``down30r300``, ``down30r150``:
  g moves linearly from 1 to 1.4 or 0.7 over 200, 100, 300 or 150 frames from s (``LINEAR``).

A variant named ``<base>-<change>`` keeps the base's frames up to ``last``; ``VARIANTS`` lists
them (base sequences with people or traffic: highway, HighwayI, Board, IBMtest2).
``HELD_OUT`` lists eight more (names ending in ``h``), kept aside: made with ``--held-out``.
``RAMPS`` (issue 23): slow ramps and steps on busy scenes, made with ``--ramps``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# name: (base, change, s, last); s and last are frame numbers as in the base's file names
VARIANTS = {
    "highway-down35": ("highway", "down35", 800, 1150),
    "highway-up35": ("highway", "up35", 800, 1150),
    "highway-ramp": ("highway", "ramp", 800, 1150),
    "highway-autoexp": ("highway", "autoexp", 800, 1150),
    "HighwayI-down20": ("HighwayI", "down20", 200, 440),
    "HighwayI-up35": ("HighwayI", "up35", 200, 440),
    "Board-up20": ("Board", "up20", 100, 227),
    "Board-down35": ("Board", "down35", 100, 227),
    "IBMtest2-down35": ("IBMtest2", "down35", 40, 90),
    "IBMtest2-up20": ("IBMtest2", "up20", 40, 90),
}

# Kept aside: other bases, other changes and other change frames, never used to choose the
# defaults; scripts/accuracy.py reports them in a table of their own, to check that what the
# variants above taught is general.
HELD_OUT = {
    "highway-down20h": ("highway", "down20", 700, 1150),
    "highway-up20h": ("highway", "up20", 900, 1300),
    "HighwayI-ramph": ("HighwayI", "ramp", 150, 440),
    "HighwayI-autoexph": ("HighwayI", "autoexp", 250, 440),
    "Board-autoexph": ("Board", "autoexp", 80, 227),
    "IBMtest2-up35h": ("IBMtest2", "up35", 30, 90),
    "PeopleAndFoliage-down20h": ("PeopleAndFoliage", "down20", 150, 341),
    "Foliage-up20h": ("Foliage", "up20", 200, 389),
}

# Issue 23: slow ramps (100-300 frames) and steps on busy scenes, never used to choose the
# defaults before it; scripts/split.py scores them, split by base like the sequences.
RAMPS = {
    "highway-up40r200": ("highway", "up40r200", 800, 1150),
    "highway-down30r300": ("highway", "down30r300", 700, 1100),
    "highway-down30": ("highway", "down30", 900, 1150),
    "Board-up40r100": ("Board", "up40r100", 60, 227),
    "Board-down30": ("Board", "down30", 90, 227),
    "HighwayI-up40r200": ("HighwayI", "up40r200", 120, 439),
    "HighwayI-down30r150": ("HighwayI", "down30r150", 150, 439),
    "HighwayI-down30": ("HighwayI", "down30", 220, 439),
    "PeopleAndFoliage-up40r200": ("PeopleAndFoliage", "up40r200", 100, 340),
    "PeopleAndFoliage-down30": ("PeopleAndFoliage", "down30", 150, 340),
}

STEPS = {"down35": 0.65, "down30": 0.7, "down20": 0.8, "up20": 1.2, "up35": 1.35}
# name: (gain at the end, frames): a linear ramp from 1
LINEAR = {"up40r200": (1.4, 200), "up40r100": (1.4, 100), "down30r300": (0.7, 300),
          "down30r150": (0.7, 150)}


def gain(change: str, k: int) -> tuple[float, float]:
    """(gain, offset) ``k`` frames after the change starts (k >= 0)."""
    if change in STEPS:
        return STEPS[change], 0.0
    if change == "ramp":
        return 1.0 - 0.3 * min(1.0, (k + 1) / 60.0), 0.0
    if change in LINEAR:
        end, frames = LINEAR[change]
        return 1.0 + (end - 1.0) * min(1.0, (k + 1) / frames), 0.0
    if change == "autoexp":
        return 1.2 + 0.25 * math.exp(-k / 8.0), -6.0
    raise ValueError(f"unknown change {change!r}")


def apply_change(frame: np.ndarray, g: float, offset: float = 0.0) -> np.ndarray:
    lut = np.clip(np.rint(np.arange(256) * g + offset), 0, 255).astype(np.uint8)
    return lut[frame]


def derived_dir(arg=None) -> Path:
    if arg:
        return Path(arg)
    return Path(os.environ.get("BGSUB_DERIVED", "/tmp/bgsub-derived"))


def sequences_dir(arg=None) -> Path:
    """The folder of base sequences: ``arg``, else ``$BGSUB_DATA/sequences`` or
    ``../shared/data/sequences`` beside the project."""
    if arg:
        return Path(arg)
    return Path(os.environ.get("BGSUB_DATA", ROOT.parent / "shared" / "data")) / "sequences"


def make_variant(name: str, data: Path, out: Path, force: bool = False) -> Path:
    import cv2

    from bgsub.evaluate.scoring import Sequence

    base, change, s, last = {**VARIANTS, **HELD_OUT, **RAMPS}[name]
    dest = out / name
    done = dest / "temporalROI.txt"
    if done.exists() and not force:
        return dest
    src = Sequence.open(data / base)
    (dest / "input").mkdir(parents=True, exist_ok=True)
    for link, target in (("groundtruth", src.path / "groundtruth"), ("ROI.bmp",
                                                                     src.path / "ROI.bmp")):
        p = dest / link
        if target.exists() and not p.exists():
            p.symlink_to(target.resolve())
    if done.exists():
        done.unlink()
    for n in sorted(src.frames):
        if n > last:
            break
        img = cv2.imread(str(src.frames[n]), cv2.IMREAD_COLOR)
        if n >= s:
            img = apply_change(img, *gain(change, n - s))
        cv2.imwrite(str(dest / "input" / f"in{n:06d}.png"), img)
    done.write_text(f"{s} {last}\n")  # written last: marks the variant complete
    return dest


def make_all(data: Path, out: Path, force: bool = False, names=None) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    made = []
    for name in names or VARIANTS:
        base = {**VARIANTS, **HELD_OUT, **RAMPS}[name][0]
        if not (data / base).is_dir():
            print(f"make_lighting: no base sequence {base} in {data}",
                  file=sys.stderr)
            continue
        made.append(make_variant(name, data, out, force))
    return made


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="folder of base sequences")
    ap.add_argument("--out", default=None)
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--held-out", action="store_true", help="make the held-out variants too")
    ap.add_argument("--ramps", action="store_true", help="make the ramps and steps too")
    args = ap.parse_args(argv)
    data = sequences_dir(args.data)
    names = (list(VARIANTS) + (list(HELD_OUT) if args.held_out else [])
             + (list(RAMPS) if args.ramps else []))
    for p in make_all(data, derived_dir(args.out), args.force, names):
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
