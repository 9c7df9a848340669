"""The ``bgsub`` command line: parses options and delegates to the Python API."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import __version__


def _model_options(fn):
    """The MixtureSubtractor parameters as options (None = the model's default)."""
    opts = [
        click.option("-k", "--components", "n_components", type=click.IntRange(1, 16),
                     help="Gaussian components per pixel (default 5)."),
        click.option("--learning-rate", type=click.FloatRange(0, 1, min_open=True),
                     help="alpha: per-frame weight decay (default 0.003)."),
        click.option("--threshold", "match_threshold", type=click.FloatRange(0, min_open=True),
                     help="Match within this many standard deviations (default 3.5)."),
        click.option("--background-ratio", type=click.FloatRange(0, 1, min_open=True),
                     help="Weight share that makes up the background (default 0.5)."),
        click.option("--initial-variance", type=click.FloatRange(0, min_open=True),
                     help="Variance of a new component (default 225)."),
        click.option("--min-variance", type=click.FloatRange(0, min_open=True),
                     help="Lower variance clamp (default 25)."),
        click.option("--max-variance", type=click.FloatRange(0, min_open=True),
                     help="Upper variance clamp (default 1600)."),
        click.option("--rho", type=click.Choice(["weight", "density"]),
                     help="Mean/variance rate: alpha/w (default) or alpha*N(x)."),
        click.option("--warmup", type=click.FloatRange(0),
                     help="Warm-up c: rate max(alpha, 1/(c t)); 0 = off (default 4)."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


_MODEL_KEYS = ("n_components", "learning_rate", "match_threshold", "background_ratio",
               "initial_variance", "min_variance", "max_variance", "rho", "warmup")


def _fail(message, code=1):
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bgsub")
def main():
    """Background subtraction and motion detection in video."""


@main.command("eval")
@click.argument("sequences", nargs=-1, required=True,
                type=click.Path(file_okay=False, path_type=Path))
@click.option("--method", type=click.Choice(["bgsub", "opencv-mog2", "opencv-knn"]),
              default="bgsub", show_default=True, help="Which subtractor to score.")
@_model_options
@click.option("--json", "as_json", is_flag=True, help="Print the scores as one JSON object.")
@click.option("--save-masks", type=click.Path(file_okay=False, path_type=Path),
              help="Write predicted masks (binNNNNNN.png) to DIR/<sequence>/.")
def eval_cmd(sequences, method, as_json, save_masks, **kwargs):
    """Score a method against CDnet-layout ground truth (input/, groundtruth/, ROI.bmp,
    temporalROI.txt) in each SEQUENCE folder."""
    from .evaluate import Sequence, SequenceError, evaluate_sequence, make_method, mean_scores

    params = {k: v for k, v in kwargs.items() if v is not None}
    if params and method != "bgsub":
        _fail(f"model options ({', '.join(sorted(params))}) apply to --method bgsub only", 2)
    results = []
    try:
        opened = [Sequence.open(p) for p in sequences]  # all checked before any work
        for seq in opened:
            model = make_method(method, **params)
            out = save_masks / seq.name if save_masks else None
            results.append((seq, evaluate_sequence(seq, model, save_masks=out)))
    except (SequenceError, ValueError) as exc:
        _fail(str(exc))
    mean = mean_scores([s for _, s in results])
    if as_json:
        doc = {"method": method, "parameters": params,
               "sequences": [{"name": seq.name, **s.as_dict(), "notes": seq.notes}
                             for seq, s in results],
               "mean": mean}
        click.echo(json.dumps(doc, indent=2))
        return
    cols = ("frames", "recall", "precision", "f_measure", "specificity", "fpr", "fnr", "pwc")
    width = max(len("mean"), *(len(seq.name) for seq, _ in results))
    click.echo(f"method: {method}")
    click.echo(f"{'sequence':<{width}}  " + "  ".join(f"{c:>9}" for c in cols))
    for seq, s in results:
        vals = [f"{s.frames_scored:>9d}"] + [f"{getattr(s, c):>9.4f}" for c in cols[1:]]
        click.echo(f"{seq.name:<{width}}  " + "  ".join(vals))
        for note in seq.notes:
            click.echo(f"  note: {note}")
    if len(results) > 1:
        vals = [f"{'':>9}"] + [f"{mean[c]:>9.4f}" for c in cols[1:]]
        click.echo(f"{'mean':<{width}}  " + "  ".join(vals))


if __name__ == "__main__":
    main()
