"""Settings chosen on one half of the ground truth and confirmed on the other (issue 23).

    python scripts/split.py [--configs JSON] [--methods bgsub,opencv-mog2,opencv-knn]
                            [--half A|B] [--groups real,light,ghost,stop,shake,pan,knock]
                            [--json FILE]

The shared sequences are split by scene, and every derived case (lighting steps and ramps of
``scripts/make_lighting.py``, ghosts and stopped objects of ``scripts/ghosts.py``, shaking,
panning and knocked camera of ``scripts/make_shake.py``) goes to the half of the sequence it
was made from, so the halves share no scene:

* half A: highway, Board, Foliage, fall_subset -- traffic, people standing from the first frame,
  leaves labelled foreground, waving trees labelled background;
* half B: HighwayI, IBMtest2, PeopleAndFoliage, Snellen -- traffic with cast shadows, people
  indoors, leaves and people, leaves before a chart.

A setting is chosen on A (``--half A``) and reported on both; a change of the defaults lands
only if it also wins on B.  ``--configs`` is a JSON list of MixtureSubtractor parameter sets
(default ``[{}]``, the defaults), each run as its own column ``bgsub#i``; OpenCV's methods run
at their defaults.  Prints per group and half a markdown table of F per case and the means.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

HALVES = {
    "A": ("highway", "Board", "Foliage", "fall_subset"),
    "B": ("HighwayI", "IBMtest2", "PeopleAndFoliage", "Snellen"),
}
GROUPS = ("real", "light", "ghost", "stop", "shake", "pan", "knock")


def half_of(base: str) -> str | None:
    return next((h for h, bases in HALVES.items() if base in bases), None)


def cases(data: Path, out: Path, groups=GROUPS) -> list[tuple[str, Path, str, str]]:
    """[(name, folder, half, group)] of every case whose base is in ``data`` (derived cases
    are made in ``out`` when missing)."""
    import ghosts
    import make_lighting
    import make_shake

    found = []
    if "real" in groups:
        for base in HALVES["A"] + HALVES["B"]:
            if (data / base).is_dir():
                found.append((base, data / base, half_of(base), "real"))
    if "light" in groups:
        table = {**make_lighting.VARIANTS, **make_lighting.HELD_OUT, **make_lighting.RAMPS}
        for p in make_lighting.make_all(data, out, names=list(table)):
            found.append((p.name, p, half_of(table[p.name][0]), "light"))
    if "ghost" in groups or "stop" in groups:
        for p in ghosts.make_all(data, out):
            base, _, kind = ghosts.CASES[p.name]
            group = "ghost" if kind == "g" else "stop"
            if group in groups:
                found.append((p.name, p, half_of(base), group))
    if "shake" in groups:
        for p in make_shake.make_all(data, out):
            found.append((p.name, p, half_of(p.name.rsplit("-", 1)[0]), "shake"))
    if "pan" in groups:
        for p in make_shake.make_all(data, out, pan=True):
            found.append((p.name, p, half_of(p.name.rsplit("-", 1)[0]), "pan"))
    if "knock" in groups:
        for p in make_shake.make_all(data, out, knock=True):
            found.append((p.name, p, half_of(p.name.rsplit("-", 1)[0]), "knock"))
    return found


def parse_configs(text: str) -> list[dict]:
    """The MixtureSubtractor parameter sets of a ``--configs`` option (a JSON list of objects),
    each checked by making a model of it; ValueError naming what is wrong."""
    from bgsub.model.mixture import MixtureSubtractor

    try:
        configs = json.loads(text)
    except ValueError:
        configs = None
    if not isinstance(configs, list) or not all(isinstance(c, dict) for c in configs):
        raise ValueError("--configs must be a JSON list of objects")
    for c in configs:
        try:
            MixtureSubtractor(**c)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"--configs: {json.dumps(c)}: {exc}") from None
    return configs


def run(found, configs, methods):
    """{column: {case name: F}}; every case's frames are decoded once for all columns."""
    from bgsub.evaluate.scoring import Sequence, evaluate_sequence, make_method, read_image

    columns = [f"bgsub#{i}" for i in range(len(configs))] + list(methods)
    results = {c: {} for c in columns}
    for name, path, _, _ in found:
        seq = Sequence.open(path)
        frames = [read_image(seq.frames[n]) for n in sorted(seq.frames)]
        for c in columns:
            model = (make_method("bgsub", **configs[int(c[6:])]) if c.startswith("bgsub#")
                     else make_method(c))
            results[c][name] = evaluate_sequence(seq, model, frames=frames).f_measure
        print(f"split: {name} " + " ".join(f"{results[c][name]:.3f}" for c in columns),
              file=sys.stderr, flush=True)
    return results


def tables(found, results) -> str:
    """Per group and half: F per case per column, the mean, and the mean of each half over all
    groups (each group weighing as much as another)."""
    columns = list(results)
    out = []
    for group in GROUPS:
        for half in HALVES:
            names = [n for n, _, h, g in found if g == group and h == half]
            if not names:
                continue
            out.append(f"\n{group}, half {half}:\n")
            out.append("| case | " + " | ".join(columns) + " |")
            out.append("|---|" + "---|" * len(columns))
            for n in names:
                out.append(f"| {n} | " + " | ".join(f"{results[c][n]:.3f}" for c in columns)
                           + " |")
            out.append("| **mean** | " + " | ".join(
                f"**{np.mean([results[c][n] for n in names]):.3f}**" for c in columns) + " |")
    out.append("\nmean of the group means, per half:\n")
    out.append("| half | " + " | ".join(columns) + " |")
    out.append("|---|" + "---|" * len(columns))
    for half in HALVES:
        groups = [[n for n, _, h, g in found if g == group and h == half] for group in GROUPS]
        groups = [g for g in groups if g]
        if groups:
            out.append(f"| {half} | " + " | ".join(
                f"{np.mean([np.mean([results[c][n] for n in g]) for g in groups]):.3f}"
                for c in columns) + " |")
    return "\n".join(out)


def main(argv=None):
    import make_lighting

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="folder of base sequences")
    ap.add_argument("--out", default=None, help="folder of derived cases")
    ap.add_argument("--configs", default="[{}]")
    ap.add_argument("--methods", default="opencv-mog2,opencv-knn")
    ap.add_argument("--half", choices=sorted(HALVES), default=None)
    ap.add_argument("--groups", default=",".join(GROUPS))
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    try:
        configs = parse_configs(args.configs)
    except ValueError as exc:
        ap.error(str(exc))
    groups = [g for g in args.groups.split(",") if g]
    if any(g not in GROUPS for g in groups):
        ap.error(f"--groups: one of {', '.join(GROUPS)}")
    data = make_lighting.sequences_dir(args.data)
    found = cases(data, make_lighting.derived_dir(args.out), groups)
    if args.half:
        found = [f for f in found if f[2] == args.half]
    if not found:
        print(f"split: no sequences under {data}", file=sys.stderr)
        return 2
    methods = [m for m in args.methods.split(",") if m]
    results = run(found, configs, methods)
    print(tables(found, results))
    if args.json:
        args.json.write_text(json.dumps({"configs": configs, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
