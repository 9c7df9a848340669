"""bgsub against the best classic methods of BGSLibrary (SuBSENSE, LOBSTER) on our ground truth.

    python scripts/classic.py [--data DIR] [--methods SuBSENSE,LOBSTER] [--no-lighting]

Needs ``pybgs``, BGSLibrary's Python module (``pip install pybgs``: it builds against the
system's OpenCV, e.g. Debian's ``libopencv-dev``).  It is not a dependency of bgsub: install it
in a virtual environment of its own, beside bgsub (``pip install -e .``), as for DVR-Scan.

Scores every method at its defaults on the real sequences, the lighting variants and the
held-out variants of ``scripts/accuracy.py`` (the same sequences, the same scoring: lighting
variants from the change on), and prints one markdown table per group with bgsub, OpenCV MOG2
and KNN beside them, the mean F of each group, each method's time per frame and, last, the
sequences on which bgsub scores below the best classic method.  A report, not a check.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from accuracy import ROOT, data_dir, find_sequences, load_all  # noqa: E402

from bgsub.evaluate.scoring import evaluate_sequence, make_method  # noqa: E402

OURS = ("bgsub", "opencv-mog2", "opencv-knn")
CLASSIC = ("SuBSENSE", "LOBSTER")


@contextlib.contextmanager
def quiet_library():
    """BGSLibrary prints to standard output and saves each algorithm's settings to
    ./config/NAME.xml: run it in a temporary folder, its output sent to standard error, so that
    standard output holds only the report."""
    cwd = os.getcwd()
    saved = os.dup(1)
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "config"))
        os.chdir(tmp)
        sys.stdout.flush()
        os.dup2(2, 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
            os.chdir(cwd)


class Classic:
    """A BGSLibrary algorithm as a model: ``apply(frame)`` -> uint8 mask, 255 = foreground."""

    def __init__(self, name: str):
        import pybgs

        self.impl = getattr(pybgs, name)()

    def apply(self, frame):
        out = self.impl.apply(frame)
        if out.ndim == 3:
            out = out.max(axis=2)
        return np.where(out > 0, 255, 0).astype(np.uint8)


def run(loaded, methods):
    """({method: {name: Scores}}, {method: seconds per frame})"""
    scores, spf = {}, {}
    for m in methods:
        scores[m], seconds, frames = {}, 0.0, 0
        for seq, fr in loaded:
            model = Classic(m) if m in CLASSIC else make_method(m)
            t = time.perf_counter()
            scores[m][seq.name] = evaluate_sequence(seq, model, frames=fr)
            seconds += time.perf_counter() - t
            frames += len(fr)
        spf[m] = seconds / max(frames, 1)
        print(f"classic: {m} done ({seconds:.0f} s)", file=sys.stderr)
    return scores, spf


def table(scores, names, methods):
    head = "| sequence | " + " | ".join(methods) + " |"
    lines = [head, "|---|" + "---|" * len(methods)]
    for n in names:
        fs = [scores[m][n].f_measure for m in methods]
        best = max(fs)
        cells = [f"**{f:.3f}**" if f == best else f"{f:.3f}" for f in fs]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    means = [sum(scores[m][n].f_measure for n in names) / len(names) for m in methods]
    lines.append("| **mean F** | " + " | ".join(f"**{v:.3f}**" for v in means) + " |")
    return "\n".join(lines)


def behind(scores, names, classic):
    out = []
    for n in names:
        ours = scores["bgsub"][n].f_measure
        best = max(classic, key=lambda m: scores[m][n].f_measure)
        if scores[best][n].f_measure > ours:
            out.append(f"{n} ({ours:.3f} vs {best} {scores[best][n].f_measure:.3f})")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--methods", default=",".join(CLASSIC),
                    help="BGSLibrary algorithms, as pybgs names them")
    ap.add_argument("--no-lighting", action="store_true")
    args = ap.parse_args(argv)
    try:
        import pybgs  # noqa: F401
    except ImportError:
        print("classic: needs pybgs (pip install pybgs, in a virtual environment of its own)",
              file=sys.stderr)
        return 2
    classic = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    real = find_sequences(data_dir(args.data) / "sequences")
    if not real:
        print(f"classic: no real sequences under {data_dir(args.data)}", file=sys.stderr)
        return 2
    groups = {"real sequences": real}
    if not args.no_lighting:
        import make_lighting

        groups["lighting variants (scored from the change on)"] = make_lighting.make_all(
            data_dir(args.data) / "sequences", make_lighting.derived_dir())
        groups["held-out lighting variants"] = make_lighting.make_all(
            data_dir(args.data) / "sequences", make_lighting.derived_dir(),
            names=list(make_lighting.HELD_OUT))
    groups["synthetic samples"] = find_sequences(ROOT / "sample_videos")
    methods = OURS + classic
    text, spf_all, lost = [], {}, []
    for title, paths in groups.items():
        loaded, _ = load_all(paths)
        if not loaded:
            continue
        with quiet_library():
            scores, spf = run(loaded, methods)
        for m, s in spf.items():
            spf_all.setdefault(m, []).append(s)
        names = [seq.name for seq, _ in loaded]
        text.append(f"**{title}** (F-measure; best in bold)\n\n" + table(scores, names, methods))
        lost += behind(scores, names, classic)
    text.append("ms a frame (mean over the groups, one process, scoring included): "
                + ", ".join(f"{m} {1e3 * sum(v) / len(v):.2f}" for m, v in spf_all.items()))
    text.append("bgsub below the best classic method on: " + ("; ".join(lost) or "none"))
    print("\n\n".join(text))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
