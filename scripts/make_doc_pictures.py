"""The documentation's pictures, made from real runs: ``docs/img/*.png``.

    python scripts/make_doc_pictures.py [--data DIR] [--only NAME ...] [--out DIR]

Each tuning picture runs :class:`bgsub.MixtureSubtractor` with two or three settings over one
real ground-truth sequence from ``../shared/data/sequences`` (or ``$BGSUB_DATA``), scores every
setting over the whole sequence as ``bgsub eval`` does, and draws one frame: the input, the
ground truth, then each setting's mask coloured against the ground truth (white: foreground
found, red: false foreground, blue: foreground missed; grey in the ground truth: not scored).
The caption of each mask gives the setting and its F over the sequence.  The speed picture also
gives each setting's model CPU time a frame, measured here over the sequence's frames held in
memory (the median of 5 rounds in which the settings alternate; the figure depends on the
machine).

The small-objects picture uses the synthetic ``sample_videos/street`` (exact ground truth,
objects of 10 to 20 pixels).  Where ImageMagick's ``convert`` is on the path, each picture is
reduced to 128 colours.  ``readme.png`` is a frame of the shared traffic video beside its mask, with the blobs' boxes
as ``bgsub run --overlay`` draws them; ``kmeans_vs_gmm.png`` is what
``bgsub em --demo elongated --compare-kmeans --plot`` writes.  Every file is written under a
temporary name and renamed.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import bgsub
from bgsub.evaluate.scoring import Sequence, evaluate_sequence, read_image  # noqa: E402

OUT = ROOT / "docs" / "img"
TILE_H = 180
WHITE, RED, BLUE, GREY = (255, 255, 255), (40, 40, 230), (230, 120, 30), (110, 110, 110)


# ---------------------------------------------------------------------------- drawing
def tile(image, caption, height=TILE_H):
    """``image`` scaled to ``height`` with a caption bar (one or two lines) above it."""
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    h, w = image.shape[:2]
    scaled = cv2.resize(image, (max(1, round(w * height / h)), height),
                        interpolation=cv2.INTER_AREA if h > height else cv2.INTER_NEAREST)
    lines = caption.split("\n")
    bar = np.full((18 * len(lines) + 6, scaled.shape[1], 3), 32, np.uint8)
    for i, line in enumerate(lines):
        cv2.putText(bar, line, (5, 17 + 18 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (235, 235, 235), 1, cv2.LINE_AA)
    return np.vstack([bar, scaled])


def strip(tiles, gap=6):
    height = max(t.shape[0] for t in tiles)
    padded = [np.vstack([t, np.full((height - t.shape[0], t.shape[1], 3), 255, np.uint8)])
              for t in tiles]
    out = [padded[0]]
    for t in padded[1:]:
        out += [np.full((height, gap, 3), 255, np.uint8), t]
    return np.hstack(out)


def against_truth(mask, gt, roi=None):
    """The mask coloured against the ground truth: found, false, missed; unscored grey."""
    fg = mask == 255
    pos, neg = gt == 255, (gt == 0) | (gt == 50)
    if roi is not None:
        pos, neg = pos & roi, neg & roi
    out = np.zeros(mask.shape + (3,), np.uint8)
    out[fg & pos] = WHITE
    out[fg & neg] = RED
    out[~fg & pos] = BLUE
    out[~(pos | neg) & fg] = GREY
    return out


def truth_picture(gt):
    out = np.zeros(gt.shape + (3,), np.uint8)
    out[gt == 255] = WHITE
    out[(gt == 85) | (gt == 170)] = GREY
    return out


def shrink(png):
    """Where ImageMagick is installed: the picture in 128 colours, a third of the bytes.  A
    ``convert`` that is not ImageMagick's, or that fails, leaves the picture as it was (said
    on stderr): the colours are a saving, not part of the picture."""
    if not shutil.which("convert"):
        return
    small = png.with_name(png.stem + ".128.png")
    r = subprocess.run(["convert", str(png), "-dither", "None", "-colors", "128",
                        f"PNG8:{small}"], capture_output=True, text=True)
    if r.returncode == 0 and small.exists() and small.stat().st_size > 0:
        os.replace(small, png)
        return
    small.unlink(missing_ok=True)
    why = (r.stderr.strip().splitlines() or [f"exit status {r.returncode}"])[0]
    print(f"make_doc_pictures: {png.name} kept in full colour (convert: {why})", file=sys.stderr)


def write_png(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.partial.png")
    if not cv2.imwrite(str(tmp), image, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise SystemExit(f"could not write {tmp}")
    shrink(tmp)
    os.replace(tmp, path)
    print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


# ---------------------------------------------------------------------------- runs
class Prepared:
    """A model that sees gray and/or downscaled frames (as ``bgsub run --gray --scale``), its
    mask scaled back to the frame's size."""

    def __init__(self, model, gray=False, scale=1.0):
        self.model, self.gray, self.scale = model, gray, scale

    def apply(self, frame):
        h, w = frame.shape[:2]
        if self.gray and frame.ndim == 3:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        if self.scale != 1.0:
            frame = cv2.resize(frame, (round(w * self.scale), round(h * self.scale)),
                               interpolation=cv2.INTER_AREA)
        mask = self.model.apply(frame)
        if mask.shape != (h, w):
            mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)
        return mask


def score(seq, frames, model, show):
    """F over the sequence, the mask at frame ``show`` and the model's median ms a frame."""
    shown, times = {}, []

    class Timed:
        def apply(self, frame):
            t0 = time.perf_counter()
            mask = model.apply(frame)
            times.append(time.perf_counter() - t0)
            return mask

    def on_frame(n, frame, mask, gt, roi, counts):
        if n == show:
            shown.update(frame=frame.copy(), mask=mask.copy(), gt=gt, roi=roi)

    scores = evaluate_sequence(seq, Timed(), frames=frames, on_frame=on_frame)
    if not shown:
        raise SystemExit(f"{seq.name}: frame {show} is not scored")
    return scores.f_measure, shown, 1000 * statistics.median(times[len(times) // 4:])


def model_ms(settings, frames, rounds=5):
    """Median over ``rounds`` of each setting's mean model CPU time a frame (ms: the process's
    CPU time, all threads, which other work on a shared machine inflates less than the wall
    clock), the settings alternating within each round."""
    times = {caption: [] for caption, _ in settings}
    for _ in range(rounds):
        for caption, make in settings:
            model = make()
            t0 = time.process_time()
            for f in frames:
                model.apply(f)
            times[caption].append(1000 * (time.process_time() - t0) / len(frames))
    return {caption: statistics.median(v) for caption, v in times.items()}


def comparison(name, seq, frames, show, settings, timed=False):
    """One picture: input, ground truth, then one mask per (caption, make_model); with
    ``timed``, each caption also gives the model's time a frame (:func:`model_ms`)."""
    tiles, first = [], None
    timing = model_ms(settings, frames) if timed else {}
    for caption, make in settings:
        f, shown, ms = score(seq, frames, make(), show)
        ms = timing.get(caption, ms)
        first = first or shown
        label = f"{caption}\nF {f:.3f}" + (f", {ms:.2f} CPU ms/frame" if timed else "")
        print(f"  {name}: {caption}: F {f:.3f} over {seq.name}, model {ms:.2f} ms a frame (CPU when timed)")
        tiles.append(tile(against_truth(shown["mask"], shown["gt"], shown["roi"]), label))
    head = [tile(first["frame"], f"{seq.name}, frame {show}\ninput"),
            tile(truth_picture(first["gt"]), "\nground truth")]
    write_png(OUT / f"{name}.png", strip(head + tiles))


def load(data, name):
    seq = Sequence.open(data / "sequences" / name)
    return seq, [read_image(seq.frames[n]) for n in sorted(seq.frames)]


def M(**params):
    return lambda: bgsub.MixtureSubtractor(**params)


# ---------------------------------------------------------------------------- the pictures
def trees(data):
    seq, frames = load(data, "fall_subset")
    comparison("tuning-trees", seq, frames, 1500, [
        ("--smoothing 1 (no vote)", M(smoothing=1)),
        ("defaults", M()),
        ("--accurate", M(**bgsub.ACCURATE)),
    ])


def small(data):
    seq = Sequence.open(ROOT / "sample_videos" / "street")  # synthetic: objects 10-20 px
    frames = [read_image(seq.frames[n]) for n in sorted(seq.frames)]
    comparison("tuning-small", seq, frames, 70, [
        ("--solid 1", M(solid=1)),
        ("defaults (--solid 3)", M()),
        ("--smoothing 5 --vote 0.5", M(smoothing=5, vote=0.5)),
    ])


def light(data):
    from make_lighting import VARIANTS, apply_change, gain

    base, change, s, last = VARIANTS["highway-up35"]
    seq, frames = load(data, base)
    numbers = sorted(seq.frames)
    changed = []
    for n, f in zip(numbers, frames):
        if n >= s:
            g, offset = gain(change, n - s)
            f = apply_change(f, g, offset)
        changed.append(f)
    seq = dataclasses.replace(seq, temporal=(s, last), notes=[])
    seq = dataclasses.replace(seq, path=seq.path.with_name("highway-up35"))
    comparison("tuning-light", seq, changed, s + 20, [
        ("--no-gain-compensation", M(gain_compensation=False)),
        ("defaults", M()),
    ])


def speed(data):
    seq, frames = load(data, "highway")
    comparison("tuning-speed", seq, frames, 900, [
        ("--gray --scale 0.5", lambda: Prepared(bgsub.MixtureSubtractor(), True, 0.5)),
        ("defaults", M()),
        ("--accurate", M(**bgsub.ACCURATE)),
    ], timed=True)


def readme(data):
    """A frame of the traffic video with its boxes, beside the mask (bgsub run's defaults)."""
    video = data / "videos" / "bridge_traffic_640x360.mp4"
    detector = bgsub.MotionDetector()
    cap = cv2.VideoCapture(str(video))
    result = frame = None
    for _ in range(400):
        ok, frame = cap.read()
        if not ok:
            raise SystemExit(f"{video}: fewer than 400 frames")
        result = detector.process(frame)
    cap.release()
    boxed = frame.copy()
    for x, y, w, h, _ in result.boxes:
        cv2.rectangle(boxed, (x, y), (x + w, y + h), (0, 0, 255), 2)
    caption = f"frame 400, {len(result.boxes)} blobs, foreground {100 * result.fraction:.1f}%"
    write_png(OUT / "readme.png", strip([tile(boxed, f"{video.name}\n{caption}", 220),
                                         tile(result.mask, "\nmask (bgsub run's defaults)", 220)]))


def kmeans(data):
    out = OUT / "kmeans_vs_gmm.png"
    tmp = out.with_name(".kmeans_vs_gmm.partial.png")
    subprocess.run([sys.executable, "-m", "bgsub.cli", "em", "--demo", "elongated",
                    "--compare-kmeans", "--plot", str(tmp)], check=True, cwd=ROOT)
    shrink(tmp)
    os.replace(tmp, out)
    print(f"wrote {out} ({out.stat().st_size // 1024} KB)")


PICTURES = {"trees": trees, "small": small, "light": light, "speed": speed, "readme": readme,
            "kmeans": kmeans}


def main(argv=None):
    global OUT
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path,
                    default=Path(os.environ.get("BGSUB_DATA", ROOT.parent / "shared" / "data")))
    ap.add_argument("--only", nargs="+", choices=sorted(PICTURES))
    ap.add_argument("--out", type=Path, default=OUT, help="folder of the pictures (docs/img)")
    args = ap.parse_args(argv)
    OUT = args.out
    if set(args.only or PICTURES) - {"small", "kmeans"} and not (args.data / "sequences").is_dir():
        raise SystemExit(f"no real data in {args.data} (give --data or $BGSUB_DATA)")
    from bgsub.model import _jit

    _jit.set_mode("sync")  # compiled kernels only: timings never include the NumPy twin
    for name in args.only or PICTURES:
        PICTURES[name](args.data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
