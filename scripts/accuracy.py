"""Accuracy of bgsub, OpenCV MOG2 and OpenCV KNN on every ground-truth sequence we have.

    python scripts/accuracy.py [--docs] [--data DIR] [--json FILE]

Sequences: every CDnet-layout folder in ``../shared/data/sequences`` (or ``$BGSUB_DATA``) and in
``sample_videos/``, and the lighting variants of ``scripts/make_lighting.py`` (made from the real
sequences into ``$BGSUB_DERIVED`` or ``/tmp/bgsub-derived`` when missing; ``--no-lighting``
skips them), reported in a second table scored from the brightness change on, and the held-out
variants (``make_lighting.HELD_OUT``: other bases, changes and change frames, never used to
choose the defaults) in a third.  Every method runs at its defaults (bgsub:
``MixtureSubtractor()``).
Prints a markdown table of F-measure, precision and recall per sequence, the mean over the real
sequences and over all, and the real sequences on which bgsub scores a lower F than each OpenCV
method (a report, not a check: nothing here fails when bgsub is behind); ``--docs`` also
writes that text into docs/accuracy.md between the ``<!-- accuracy:begin -->`` and
``<!-- accuracy:end -->`` markers.  A folder that cannot be scored is reported and left out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bgsub.evaluate.scoring import (METHODS, Sequence, SequenceError, evaluate_sequence,
                                    make_method, read_image)

BEGIN, END = "<!-- accuracy:begin -->", "<!-- accuracy:end -->"


def data_dir(arg=None) -> Path:
    if arg:
        return Path(arg)
    return Path(os.environ.get("BGSUB_DATA", ROOT.parent / "shared" / "data"))


def find_sequences(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if (p / "groundtruth").is_dir())


def load(seq_path: Path):
    seq = Sequence.open(seq_path)
    frames = [read_image(seq.frames[n]) for n in sorted(seq.frames)]
    return seq, frames


def load_all(paths):
    """[(Sequence, frames)] for the folders that open, and {name: why} for those that do not."""
    loaded, skipped = [], {}
    for p in paths:
        try:
            loaded.append(load(p))
        except SequenceError as exc:
            skipped[p.name] = str(exc)
            print(f"accuracy: skipped {p.name}: {exc}", file=sys.stderr)
    return loaded, skipped


def run_all(loaded, methods=METHODS, params=None):
    """{method: {sequence name: Scores}}"""
    out = {}
    for method in methods:
        out[method] = {}
        for seq, frames in loaded:
            model = make_method(method, **(params or {}) if method == "bgsub" else {})
            out[method][seq.name] = evaluate_sequence(seq, model, frames=frames)
    return out


def mean_f(results, names):
    return sum(results[n].f_measure for n in names) / len(names) if names else float("nan")


def table(results, real, synthetic):
    methods = list(results)
    head = "| sequence | " + " | ".join(f"{m} F / P / R" for m in methods) + " |"
    lines = [head, "|---|" + "---|" * len(methods)]
    for name in real + synthetic:
        tag = "" if name in real else " (synthetic)"
        cells = []
        for m in methods:
            s = results[m][name]
            cells.append(f"{s.f_measure:.3f} / {s.precision:.3f} / {s.recall:.3f}")
        lines.append(f"| {name}{tag} | " + " | ".join(cells) + " |")
    for label, names in (("mean F, real sequences", real), ("mean F, all", real + synthetic)):
        if names:
            lines.append(f"| **{label}** | " + " | ".join(
                f"**{mean_f(results[m], names):.3f}**" for m in methods) + " |")
    return "\n".join(lines)


def behind(results, real, ours="bgsub"):
    """One line per other method: the real sequences where ``ours`` has the lower F."""
    lines = []
    for m in results:
        if m == ours:
            continue
        worse = [(n, results[ours][n].f_measure, results[m][n].f_measure) for n in real
                 if results[ours][n].f_measure < results[m][n].f_measure]
        mean = f"mean F {mean_f(results[ours], real):.3f} vs {mean_f(results[m], real):.3f}"
        if worse:
            seqs = ", ".join(f"{n} ({a:.3f} vs {b:.3f})" for n, a, b in worse)
            lines.append(f"- {ours} is behind {m} on {len(worse)} of {len(real)} real "
                         f"sequences: {seqs}; {mean}.")
        else:
            lines.append(f"- {ours} is ahead of {m} on all {len(real)} real sequences; {mean}.")
    return "\n".join(lines)


def lighting_table(results, names, ours="bgsub"):
    """Lighting variants: F per method, the better of the OpenCV methods, and bgsub's margin."""
    methods = list(results)
    others = [m for m in methods if m != ours]
    lines = ["| lighting variant | " + " | ".join(f"{m} F" for m in methods)
             + " | bgsub - best OpenCV |", "|---|" + "---|" * (len(methods) + 1)]
    for n in names:
        best = max(results[m][n].f_measure for m in others) if others else float("nan")
        lines.append(f"| {n} | " + " | ".join(f"{results[m][n].f_measure:.3f}" for m in methods)
                     + f" | {results[ours][n].f_measure - best:+.3f} |")
    if names:
        lines.append("| **mean F** | " + " | ".join(
            f"**{mean_f(results[m], names):.3f}**" for m in methods) + " | |")
    return "\n".join(lines)


def write_readme(text):
    """The tables into docs/accuracy.md's accuracy block, with the machine and the command."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from docblock import write_block

    write_block("accuracy.md", "accuracy", text)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--docs", "--readme", dest="readme", action="store_true",
                    help="write the tables into docs/accuracy.md")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--no-lighting", action="store_true")
    args = ap.parse_args(argv)
    real_paths = find_sequences(data_dir(args.data) / "sequences")
    synth_paths = find_sequences(ROOT / "sample_videos")
    if not real_paths:
        print(f"accuracy: no real sequences under {data_dir(args.data)}; synthetic only",
              file=sys.stderr)
    light_paths = held_paths = []
    if real_paths and not args.no_lighting:
        import make_lighting

        light_paths = make_lighting.make_all(data_dir(args.data) / "sequences",
                                             make_lighting.derived_dir())
        held_paths = make_lighting.make_all(data_dir(args.data) / "sequences",
                                            make_lighting.derived_dir(),
                                            names=list(make_lighting.HELD_OUT))
    t0 = time.time()
    loaded, skipped = load_all(real_paths + synth_paths + light_paths + held_paths)
    results = run_all(loaded)
    opened = {seq.name for seq, _ in loaded}
    real = [p.name for p in real_paths if p.name in opened]
    synth = [p.name for p in synth_paths if p.name in opened]
    light = [p.name for p in light_paths if p.name in opened]
    held = [p.name for p in held_paths if p.name in opened]
    text = table(results, real, synth)
    if real:
        text += "\n\n" + behind(results, real)
    if light:
        text += ("\n\nLighting variants (`scripts/make_lighting.py`: a real sequence with a "
                 "global brightness change, scored from the change on):\n\n"
                 + lighting_table(results, light))
    if held:
        text += ("\n\nHeld-out lighting variants (other bases, changes and change frames, never "
                 "used to choose the defaults):\n\n" + lighting_table(results, held))
    for name, why in skipped.items():
        text += f"\n- not scored: {name}: {why}"
    print(text)
    print(f"\n({time.time() - t0:.0f} s)", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps({m: {n: s.as_dict() for n, s in r.items()}
                                         for m, r in results.items()}, indent=2))
    if args.readme:
        write_readme(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
