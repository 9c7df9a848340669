"""bgsub against BGSLibrary's best classic methods (SuBSENSE, LOBSTER, PAWCS) on our ground truth.

    python scripts/classic.py [--data DIR] [--methods SuBSENSE,LOBSTER] [--no-lighting]
                              [--groups real,light,ghost,stop,shake] [--out DIR]
                              [--ours bgsub,opencv-mog2,opencv-knn] [--configs JSON] [--json FILE]

Needs ``pybgs``, BGSLibrary's Python module (``pip install pybgs``: it builds against the
system's OpenCV, e.g. Debian's ``libopencv-dev``).  It is not a dependency of bgsub: install it
in a virtual environment of its own, beside bgsub (``pip install -e .``), as for DVR-Scan.

Scores every method at its defaults on the real sequences, the lighting variants and the
held-out variants of ``scripts/accuracy.py`` (the same sequences, the same scoring: lighting
variants from the change on), and prints one markdown table per group with bgsub, OpenCV MOG2
and KNN beside them, the mean F of each group, each method's time per frame and, last, the
sequences on which bgsub scores below the best classic method.  A report, not a check.

``--groups`` scores instead the groups of ``scripts/split.py`` (the real sequences, the lighting
steps and ramps, ghosts, stopped objects, shaking camera; derived cases made in ``--out`` when
missing), one table per group.  ``--ours`` picks the bgsub and OpenCV columns (empty: none);
``--configs`` is a JSON list of MixtureSubtractor parameter sets, one bgsub column each (``{}``
is the defaults, column ``bgsub``); ``--json`` also saves every score and time per frame.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
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
CLASSIC = ("SuBSENSE", "LOBSTER")  # the default --methods; PAWCS is slower still


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


def label(config: dict) -> str:
    """The column of one bgsub parameter set: ``bgsub`` for the defaults."""
    return "bgsub" + "".join(f" {k}={v}" for k, v in config.items())


def makers(ours, configs, classic):
    """{column: a function that makes a fresh model}, in column order."""
    out = {}
    for m in ours:
        if m != "bgsub":
            out[m] = functools.partial(make_method, m)
        for config in (configs if m == "bgsub" else []):
            out[label(config)] = functools.partial(make_method, "bgsub", **config)
    for m in classic:
        out[m] = functools.partial(Classic, m)
    return out


def run(paths, make):
    """({column: {name: Scores}}, {column: seconds per frame}); each sequence is decoded once,
    for all the columns, and dropped before the next."""
    scores, seconds, frames = {c: {} for c in make}, dict.fromkeys(make, 0.0), 0
    for p in paths:
        for seq, fr in load_all([p])[0]:
            for c, new in make.items():
                model = new()
                t = time.perf_counter()
                scores[c][seq.name] = evaluate_sequence(seq, model, frames=fr)
                seconds[c] += time.perf_counter() - t
            frames += len(fr)
            print(f"classic: {seq.name} ({len(fr)} frames) " + " ".join(
                f"{c} {scores[c][seq.name].f_measure:.3f}" for c in make), file=sys.stderr,
                flush=True)
    return scores, {c: s / max(frames, 1) for c, s in seconds.items()}


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


def behind(scores, names, classic, column="bgsub"):
    out = []
    for n in names:
        ours = scores[column][n].f_measure
        best = max(classic, key=lambda m: scores[m][n].f_measure)
        if scores[best][n].f_measure > ours:
            out.append(f"{n} ({ours:.3f} vs {best} {scores[best][n].f_measure:.3f})")
    return out


def split_groups(data: Path, out, names) -> dict:
    """{group: [case folders]} of ``scripts/split.py``, both halves."""
    import make_lighting
    import split

    found = split.cases(data, make_lighting.derived_dir(out), names)
    return {g: [p for _, p, _, group in found if group == g] for g in names}


def lighting_groups(data: Path) -> dict:
    import make_lighting

    return {"lighting variants (scored from the change on)": make_lighting.make_all(
                data, make_lighting.derived_dir()),
            "held-out lighting variants": make_lighting.make_all(
                data, make_lighting.derived_dir(), names=list(make_lighting.HELD_OUT))}


def options(argv):
    import split

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--methods", default=",".join(CLASSIC),
                    help="BGSLibrary algorithms, as pybgs names them (e.g. PAWCS)")
    ap.add_argument("--no-lighting", action="store_true")
    ap.add_argument("--groups", default=None,
                    help="score these groups of scripts/split.py instead")
    ap.add_argument("--out", default=None, help="folder of derived cases (with --groups)")
    ap.add_argument("--ours", default=",".join(OURS))
    ap.add_argument("--configs", default="[{}]")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    try:
        args.configs = split.parse_configs(args.configs)
    except ValueError as exc:
        ap.error(str(exc))
    args.methods, args.ours = ([m.strip() for m in s.split(",") if m.strip()]
                               for s in (args.methods, args.ours))
    if any(m not in OURS for m in args.ours):
        ap.error(f"--ours: some of {', '.join(OURS)}")
    if args.groups is not None:
        args.groups = [g for g in args.groups.split(",") if g]
        if not args.groups or any(g not in split.GROUPS for g in args.groups):
            ap.error(f"--groups: some of {', '.join(split.GROUPS)}")
    return args


def sequences(args) -> dict:
    """{title: [sequence folders]}; empty when there are no real sequences."""
    data = data_dir(args.data) / "sequences"
    if args.groups:
        return split_groups(data, args.out, args.groups)
    real = find_sequences(data)
    if not real:
        return {}
    groups = {"real sequences": real}
    if not args.no_lighting:
        groups.update(lighting_groups(data))
    groups["synthetic samples"] = find_sequences(ROOT / "sample_videos")
    return groups


def save_json(path: Path, argv, results):
    data = {"argv": list(argv), "groups": {}}
    for title, (scores, spf) in results.items():
        data["groups"][title] = {
            "ms_per_frame": {c: 1e3 * s for c, s in spf.items()},
            "scores": {c: {n: s.as_dict() for n, s in by.items()} for c, by in scores.items()}}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def main(argv=None):
    args = options(argv)
    try:
        import pybgs  # noqa: F401
    except ImportError:
        print("classic: needs pybgs (pip install pybgs, in a virtual environment of its own)",
              file=sys.stderr)
        return 2
    groups = sequences(args)
    if not any(groups.values()):
        print(f"classic: no real sequences under {data_dir(args.data)}", file=sys.stderr)
        return 2
    make = makers(args.ours, args.configs, args.methods)
    ours = next((c for c in make if c.startswith("bgsub")), None)
    text, spf_all, lost, results = [], {}, [], {}
    for title, paths in groups.items():
        paths = [Path(p).resolve() for p in paths]  # quiet_library changes folder
        with quiet_library():
            scores, spf = run(paths, make)
        names = list(next(iter(scores.values()), {}))
        if not names:
            continue
        results[title] = scores, spf
        for m, s in spf.items():
            spf_all.setdefault(m, []).append(s)
        text.append(f"**{title}** (F-measure; best in bold)\n\n" + table(scores, names, list(make)))
        if ours and args.methods:
            lost += behind(scores, names, args.methods, ours)
    text.append("ms a frame (mean over the groups, one process, scoring included): "
                + ", ".join(f"{m} {1e3 * sum(v) / len(v):.2f}" for m, v in spf_all.items()))
    text.append("bgsub below the best classic method on: " + ("; ".join(lost) or "none"))
    print("\n\n".join(text))
    if args.json:
        save_json(args.json, sys.argv[1:] if argv is None else argv, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
