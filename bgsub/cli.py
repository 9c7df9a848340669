"""The ``bgsub`` command line: parses options and delegates to the Python API."""

from __future__ import annotations

import atexit
import gc
import json
import os
import signal
import sys
from pathlib import Path

from bgsub._env import set_default

# NumPy's OpenBLAS starts a thread per core when NumPy is imported, and each spins for about
# 0.1 s waiting for work: 0.1 s of CPU taken from the start of every run on a 2-core machine.
# Only `bgsub em` multiplies matrices; the other commands do without the threads.  Read when
# NumPy is imported, just below; a value the user set is kept.
if sys.argv[1:2] != ["em"]:
    set_default("OPENBLAS_NUM_THREADS", "1")

import click  # noqa: E402
import numpy as np  # noqa: E402

from bgsub._version import __version__

# OpenCV and FFmpeg log to stderr on their own; the command line reports problems itself
set_default("OPENCV_LOG_LEVEL", "OFF")
set_default("OPENCV_FFMPEG_LOGLEVEL", "-8")

# The interpreter's last garbage collection, at exit, walks every object that Numba's typing
# and the imports made: 0.18 s of a 2 s run (measured with perf after main returned).  Frozen
# objects are skipped; exit handlers, thread joins and reference-counted clean-up still run, and
# every output is closed and renamed before main returns.
atexit.register(gc.freeze)


def _model_options(fn):
    """The MixtureSubtractor parameters as options (None = the model's default)."""
    opts = [
        click.option("-k", "--components", "n_components", type=click.IntRange(1, 16),
                     help="Gaussian components per pixel (default 5)."),
        click.option("--learning-rate", type=click.FloatRange(0, 1, min_open=True),
                     help="alpha: per-frame weight decay (default 0.003)."),
        click.option("--threshold", "match_threshold", type=click.FloatRange(0, min_open=True),
                     help="Match within this many standard deviations (default 2.2)."),
        click.option("--background-ratio", type=click.FloatRange(0, 1, min_open=True),
                     help="Weight share that makes up the background (default 0.4)."),
        click.option("--initial-variance", type=click.FloatRange(0, min_open=True),
                     help="Variance of a new component (default 225)."),
        click.option("--min-variance", type=click.FloatRange(0, min_open=True),
                     help="Lower variance clamp (default 25)."),
        click.option("--max-variance", type=click.FloatRange(0, min_open=True),
                     help="Upper variance clamp (default 121)."),
        click.option("--rho", type=click.Choice(["weight", "density"]),
                     help="Mean/variance rate: alpha/w (default) or alpha*N(x)."),
        click.option("--warmup", type=click.FloatRange(0),
                     help="Warm-up c: rate max(alpha, 1/(c t)); 0 = off (default 2.5)."),
        click.option("--smoothing", type=click.IntRange(1, 15),
                     help="Spatial vote window (odd; 1 = off; default 13)."),
        click.option("--vote", type=click.FloatRange(0, 1, min_open=True),
                     help="Fraction of the window that must be foreground (default 0.55)."),
        click.option("--solid", type=click.IntRange(1, 15),
                     help="A pixel whose solid x solid window is all foreground stays foreground "
                          "whatever the vote (odd; 1 = off; default 3)."),
        click.option("--speckle", type=click.IntRange(1, 15),
                     help="Foreground counts in the vote only where it lies in a speckle x "
                          "speckle block of foreground, so that flicker such as waving trees "
                          "does not vote (odd; 1 = off; default 3)."),
        click.option("--variant", type=click.Choice(["stauffer-grimson", "zivkovic"]),
                     help="Weight update: plain (default) or Zivkovic's pruning prior."),
        click.option("--complexity-prior", type=click.FloatRange(0, 1, max_open=True),
                     help="Zivkovic's c_T (default 0.05)."),
        click.option("--detect-shadows/--no-detect-shadows", default=None,
                     help="Label shadows 127, as MOG2 does (default off)."),
        click.option("--shadow-threshold", type=click.FloatRange(0, 1, min_open=True),
                     help="Darkest brightness ratio that is still a shadow (default 0.5)."),
        click.option("--gain-compensation/--no-gain-compensation", default=None,
                     help="Undo global brightness changes (lights, auto-exposure) before "
                          "modelling (default on)."),
        click.option("--neighbour-threshold", type=click.FloatRange(0),
                     help="Foreground that matches a neighbour's background within this many "
                          "standard deviations is background; 0 = off (default)."),
        click.option("--ghost-frames", type=click.IntRange(0, 65534), metavar="N",
                     help="The ghost rule: what stood still from the start and then left "
                          "stops being foreground once it has been foreground N frames and "
                          "its border matches the background beside it (default 10; 0 = off)."),
        click.option("--max-shift", type=click.IntRange(0, 16), metavar="PX",
                     help="A shaking camera: align each frame with the background by up to "
                          "PX pixels before modelling, masks shifted back (default 4; 0 = "
                          "off)."),
        click.option("--texture", type=click.IntRange(0, 8), metavar="BITS",
                     help="The texture cue: a pixel whose pattern of brighter and darker "
                          "neighbours differs from the background's in BITS of 8 is "
                          "foreground too (moving leaves the model has learned); 0 = off "
                          "(default)."),
        click.option("--accurate", is_flag=True,
                     help="The accurate setting: --max-variance 81 --smoothing 11 --vote 0.5 "
                          "--neighbour-threshold 2 --threshold 2.4 --speckle 1 (mean F 0.769 "
                          "against 0.763 on the real sequences we score, 1.2-1.5x the time); "
                          "options given as well override it."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


_MODEL_KEYS = ("n_components", "learning_rate", "match_threshold", "background_ratio",
               "initial_variance", "min_variance", "max_variance", "rho", "warmup", "smoothing",
               "vote", "solid", "detect_shadows", "shadow_threshold", "variant",
               "complexity_prior", "gain_compensation", "neighbour_threshold", "ghost_frames",
               "max_shift", "texture", "speckle")


def _model_params(kw):
    """Pop the model options from ``kw``: {name: value} of those given, over --accurate's
    values when it is set."""
    accurate = kw.pop("accurate", False)
    params = {k: kw.pop(k) for k in list(kw) if k in _MODEL_KEYS and kw[k] is not None}
    for k in _MODEL_KEYS:
        kw.pop(k, None)
    if accurate:
        from bgsub.model.mixture import ACCURATE

        params = {**ACCURATE, **params}
    return params


def _fail(message, code=1):
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def _load_config(ctx, param, value):
    """--config FILE (TOML): option names as keys (dashes or underscores), e.g.
    ``learning-rate = 0.005``; command-line options override it."""
    if not value:
        return
    import tomllib

    try:
        with open(value, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise click.BadParameter(f"{value}: {exc.strerror}", ctx, param) from None
    except tomllib.TOMLDecodeError as exc:
        raise click.BadParameter(f"{value}: invalid TOML ({exc})", ctx, param) from None
    names = {p.name: p for p in ctx.command.params if p.name and p.expose_value}
    opt_names = {o.lstrip("-").replace("-", "_"): p.name for p in ctx.command.params
                 for o in getattr(p, "opts", []) if o.startswith("--")}
    defaults = {}
    for key, v in (data.get("run", data) if ctx.command.name == "run" else data).items():
        k = key.replace("-", "_")
        k = opt_names.get(k, k)
        if k not in names or isinstance(names[k], click.Argument):
            raise click.BadParameter(f"{value}: unknown option {key!r}", ctx, param)
        defaults[k] = v
    ctx.default_map = {**(ctx.default_map or {}), **defaults}


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
@click.option("--init-frames", type=click.IntRange(0), default=0, show_default=True,
              help="bgsub only: start from a per-pixel batch EM fit of the first N frames.")
@click.option("--json", "as_json", is_flag=True, help="Print the scores as one JSON object.")
@click.option("--save-masks", type=click.Path(file_okay=False, path_type=Path),
              help="Write predicted masks (binNNNNNN.png) to DIR/<sequence>/.")
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also write DIR/report.html comparing bgsub, opencv-mog2 and opencv-knn: "
                   "precision, recall, F, F per frame, and input | ground truth | mask | "
                   "errors strips.")
def eval_cmd(sequences, method, as_json, save_masks, init_frames, report_dir, **kwargs):
    """Score a method against CDnet-layout ground truth (input/, groundtruth/, ROI.bmp,
    temporalROI.txt) in each SEQUENCE folder."""
    from bgsub.evaluate.scoring import (Sequence, SequenceError, evaluate_sequence, make_method,
                                        mean_scores)

    if kwargs.get("accurate") and method != "bgsub":
        _fail("--accurate applies to --method bgsub only", 2)
    params = _model_params(kwargs)
    if params and method != "bgsub":
        _fail(f"model options ({', '.join(sorted(params))}) apply to --method bgsub only", 2)
    if init_frames and method != "bgsub":
        _fail("--init-frames applies to --method bgsub only", 2)
    try:
        make_method(method, **params)  # parameters checked before any work
    except ValueError as exc:
        _fail(str(exc), 2)
    results = []
    try:
        opened = [Sequence.open(p) for p in sequences]  # all checked before any work
        reports = []
        for seq in opened:
            out = save_masks / seq.name if save_masks else None
            if report_dir is not None:
                from bgsub.report.eval_report import evaluate_for_report

                # every method scored once; the chosen one's scores are printed (and its
                # masks saved)
                rep = evaluate_for_report(seq, params=params, init_frames=init_frames,
                                          save_masks={method: out} if out else None)
                reports.append(rep)
                results.append((seq, rep.scores[method]))
                continue
            model = make_method(method, **params)
            results.append((seq, evaluate_sequence(seq, model, save_masks=out,
                                                   init_frames=init_frames)))
        if report_dir is not None:
            from bgsub.report.eval_report import write_eval_report

            path = write_eval_report(report_dir, reports, params=params)
            if not as_json:
                click.echo(f"report: {path}", err=True)
    except (SequenceError, ValueError) as exc:
        _fail(str(exc))
    except OSError as exc:
        from bgsub.io.sinks import describe_os_error

        _fail(describe_os_error(exc))
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


@main.command("em")
@click.argument("data", type=click.Path(dir_okay=False, path_type=Path), required=False)
@click.option("--demo", type=click.Choice(["elongated", "unequal"]),
              help="Built-in 2-D data with true labels instead of DATA: three long parallel "
                   "clusters, or a large spread cluster beside two small tight ones.")
@click.option("--compare-kmeans", is_flag=True,
              help="Also fit K-means with the same K; --plot draws both side by side and the "
                   "adjusted Rand index of each against the true labels (with --demo).")
@click.option("-k", "--components", type=click.IntRange(1), default=1, show_default=True,
              help="Number of components.")
@click.option("--covariance", type=click.Choice(["full", "tied", "diag", "spherical"]),
              default="full", show_default=True)
@click.option("--select-k", metavar="LO..HI",
              help="Choose K in this range by --criterion instead of -k (e.g. 1..10).")
@click.option("--criterion", type=click.Choice(["bic", "aic"]), default="bic",
              show_default=True)
@click.option("--init", "init_params",
              type=click.Choice(["kmeans", "k-means++", "kmeans++", "random",
                                 "random_from_data"]),
              help="Initialisation, as scikit-learn's init_params (kmeans++ is an older "
                   "spelling of k-means++).  Default kmeans; k-means++ with --compare-kmeans.")
@click.option("--n-init", type=click.IntRange(1),
              help="Initialisations tried, the best kept.  Default 1; 10 with "
                   "--compare-kmeans (for both methods).")
@click.option("--max-iter", type=click.IntRange(1), default=100, show_default=True)
@click.option("--tol", type=click.FloatRange(0), default=1e-3, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path),
              help="Draw the points and 1/2-sigma ellipses (first two dimensions) to a PNG.")
@click.option("--sample", nargs=2, type=(click.IntRange(1), click.Path(dir_okay=False)),
              metavar="N OUT.csv", help="Write N draws from the fitted model.")
@click.option("--json", "as_json", is_flag=True, help="Print the fit as JSON.")
def em_cmd(data, demo, compare_kmeans, components, covariance, select_k, criterion,
           init_params, n_init, max_iter, tol, seed, plot, sample, as_json):
    """Fit a Gaussian mixture by EM to DATA (.csv with an optional header, or .npy), or to
    --demo data."""
    import warnings

    from bgsub.em.mixture import ConvergenceWarning, GaussianMixture, select_components
    from bgsub.em.command import DataError, describe, plot as draw, read_data, write_samples

    if (data is None) == (demo is None):
        _fail("give DATA or --demo NAME (not both)" if data else "give DATA or --demo NAME", 2)
    if init_params is None:
        init_params = "k-means++" if compare_kmeans else "kmeans"
    if n_init is None:
        n_init = 10 if compare_kmeans else 1
    if demo and components == 1:
        components = 3  # the demo data have three clusters

    params = dict(covariance_type=covariance, init_params=init_params, n_init=n_init,
                  max_iter=max_iter, tol=tol, random_state=seed)
    ks = None
    if select_k:
        try:
            lo, hi = (int(v) for v in select_k.split(".."))
            if not 1 <= lo <= hi:
                raise ValueError
        except ValueError:
            _fail(f"--select-k {select_k!r}: expected LO..HI with 1 <= LO <= HI", 2)
        ks = range(lo, hi + 1)
    table = kmeans = truth = ari = None
    try:
        if demo:
            from bgsub.em.mixture import demo_data

            X, truth = demo_data(demo, seed)
            data = f"demo:{demo}"
        else:
            X = read_data(data)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            if ks is not None:
                model, table = select_components(X, ks, criterion=criterion, **params)
            else:
                model = GaussianMixture(components, **params).fit(X)
            if compare_kmeans:
                from bgsub.em.mixture import KMeans

                kmeans = KMeans(model.n_components, n_init=n_init, max_iter=max(max_iter, 300),
                                random_state=seed).fit(X)
        for w in caught:
            click.echo(f"Warning: {w.message}", err=True)
        if compare_kmeans:
            from bgsub.em.mixture import adjusted_rand_score

            if truth is not None:
                ari = {"kmeans": adjusted_rand_score(truth, kmeans.labels_),
                       "mixture": adjusted_rand_score(truth, model.predict(X))}
            if plot:
                from bgsub.em.command import plot_compare

                plot_compare(kmeans, model, X, plot, truth,
                             title=f"{data}: {X.shape[0]} points, K = {model.n_components}")
        elif plot:
            draw(model, X, plot)
        if sample:
            write_samples(model, sample[0], Path(sample[1]))
    except (DataError, ValueError, OSError) as exc:
        _fail(str(exc))
    doc = describe(model)
    doc.update({"data": str(data), "n_samples": int(X.shape[0]), "n_features": int(X.shape[1]),
                "bic": float(model.bic(X)), "aic": float(model.aic(X))})
    if table is not None:
        doc["selection"] = {"criterion": criterion,
                            "scores": [{"n_components": k, criterion: v} for k, v in table]}
    if kmeans is not None:
        doc["kmeans"] = {"n_clusters": kmeans.n_clusters, "inertia": kmeans.inertia_,
                         "n_iter": kmeans.n_iter_,
                         "cluster_centers": kmeans.cluster_centers_.tolist()}
        if ari is not None:
            doc["adjusted_rand_index"] = ari
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        return
    click.echo(f"{data}: {X.shape[0]} samples x {X.shape[1]} features; K = "
               f"{model.n_components}, {covariance} covariance; "
               f"{'converged' if model.converged_ else 'NOT converged'} in {model.n_iter_} "
               f"iterations; mean log-likelihood {model.lower_bound_:.6f}; BIC {doc['bic']:.2f}")
    if table is not None:
        click.echo("  " + ", ".join(f"K={k}: {v:.1f}" for k, v in table) + f"  ({criterion})")
    if ari is not None:
        click.echo(f"  adjusted Rand index against the true labels: K-means "
                   f"{ari['kmeans']:.3f}, Gaussian mixture {ari['mixture']:.3f}")
    elif kmeans is not None:
        click.echo(f"  K-means: inertia {kmeans.inertia_:.6g} in {kmeans.n_iter_} iterations")
    np.set_printoptions(precision=4, suppress=True)
    for k in range(model.n_components):
        click.echo(f"  component {k}: weight {model.weights_[k]:.4f}, mean "
                   f"{np.array2string(model.means_[k], separator=', ')}")


def _notify_options(fn):
    """Hooks, webhook and MQTT: motion events sent as they start and end (bgsub.notify)."""
    opts = [
        click.option("--name", metavar="NAME",
                     help="The input's name in hooks, webhook and MQTT topics (default: its "
                          "file stem)."),
        click.option("--on-event-start", metavar="CMD",
                     help="Run CMD (split like a shell line, run without a shell) when an "
                          "event starts, with BGSUB_EVENT_ID, BGSUB_NAME, BGSUB_SOURCE, "
                          "BGSUB_START, BGSUB_START_FRAME, BGSUB_PEAK, BGSUB_ZONES (and "
                          "BGSUB_CLIP with --clips) in its environment."),
        click.option("--on-event-end", metavar="CMD",
                     help="Run CMD when an event ends (also BGSUB_END, BGSUB_END_FRAME)."),
        click.option("--on-camera-moved", metavar="CMD",
                     help="Run CMD when the camera has moved (bumped, turned; see "
                          "--camera-settle), with BGSUB_DX and BGSUB_DY (pixels) beside the "
                          "event's variables."),
        click.option("--hook-timeout", type=click.FloatRange(0, min_open=True), default=30.0,
                     show_default=True, help="Seconds after which a hook is killed."),
        click.option("--webhook", metavar="URL",
                     help="POST each event's start and end as JSON to URL (Authorization: "
                          "Bearer $BGSUB_WEBHOOK_TOKEN when set)."),
        click.option("--mqtt", metavar="URL",
                     help="Publish motion ON/OFF, events and availability to an MQTT broker: "
                          "mqtt://[USER@]HOST[:PORT]/PREFIX (mqtts:// for TLS; password in "
                          "$BGSUB_MQTT_PASSWORD); needs pip install \"bgsub[mqtt]\"."),
        click.option("--mqtt-discovery", is_flag=True,
                     help="Also publish Home Assistant's MQTT discovery config (a motion "
                          "binary_sensor and a camera-moved event entity)."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def _event_options(kw, n_inputs=1):
    """Check and sort --roi (mask image or polygons), --zone and the notifier options in
    ``kw``, in place; exit 2 with one line on a bad one."""
    from bgsub.motion.zones import ZoneError, looks_like_polygon, parse_zone, parse_zones

    rois = tuple(kw.pop("roi", None) or ())
    if isinstance(kw.get("zones"), str):  # from a --config file
        kw["zones"] = (kw["zones"],)
    if isinstance(rois, str):
        rois = (rois,)
    images = [r for r in rois if Path(r).is_file() or not looks_like_polygon(r)]
    polygons = tuple(r for r in rois if r not in images)
    if len(images) > 1 or (images and polygons):
        _fail("--roi: give one mask image or polygons, not both", 2)
    try:
        for p in polygons:
            parse_zone(p, need_name=False, what="--roi")
        parse_zones(kw.get("zones"))
    except ZoneError as exc:
        _fail(str(exc), 2)
    kw["roi"] = images[0] if images else None
    kw["roi_polygons"] = polygons
    kw["zones"] = tuple(kw.get("zones") or ())
    if kw.get("name") and n_inputs > 1:
        _fail("--name names one input: give one input, or run one bgsub per camera", 2)


def _check_notifiers(opts):
    from bgsub.notify import NotifyConfigError, check_options

    try:
        check_options(opts)
    except NotifyConfigError as exc:
        _fail(str(exc), 2)


@main.command("run")
@click.argument("inputs", nargs=-1, required=True)
@click.option("--config", type=click.Path(dir_okay=False), callback=_load_config,
              is_eager=True, expose_value=False,
              help="TOML file of option defaults; command-line options override it.")
@click.option("-o", "--output-dir", type=click.Path(path_type=Path),
              help="Output folder (default: INPUT_bgsub/; with several inputs, one subfolder "
                   "per input).")
@_model_options
@click.option("--gray", is_flag=True, help="Model gray frames instead of colour.")
@click.option("--scale", type=click.FloatRange(0, 1, min_open=True), default=1.0,
              show_default=True, help="Downscale frames by this factor before modelling.")
@click.option("--roi", multiple=True, metavar="IMAGE|POLYGON",
              help="Only these pixels count: a mask image (its white pixels), or a polygon "
                   "\"x1,y1 x2,y2 x3,y3 ...\" in frame pixels (repeat it for several).")
@click.option("--zone", "zones", multiple=True, metavar="\"NAME:x1,y1 x2,y2 ...\"",
              help="A named polygon (frame pixels; repeatable): each event lists the zones its "
                   "motion touched; drawn in the overlay, the live view and the report.")
@click.option("--start", help="First frame: a frame number, seconds (12.5s) or HH:MM:SS.mmm.")
@click.option("--end", help="Last frame, in the same forms as --start.")
@click.option("--max-frames", type=click.IntRange(1), help="Stop after this many frames.")
@click.option("--kernel", type=click.IntRange(0), default=3, show_default=True,
              help="Morphological open/close kernel size in pixels (0 disables).")
@click.option("--min-area", type=click.IntRange(0), default=16, show_default=True,
              help="Drop blobs smaller than this many pixels.")
@click.option("--threshold-area", type=click.FloatRange(0, 1), default=0.002,
              show_default=True, help="Foreground fraction of the ROI that counts as motion.")
@click.option("--max-area", type=click.FloatRange(0, 1, min_open=True), default=0.7,
              show_default=True,
              help="A fraction above this is a whole-frame change (lights, camera bumped), "
                   "reported but not counted as motion.")
@click.option("--min-event-frames", type=click.IntRange(1), default=2, show_default=True,
              help="Consecutive moving frames that start an event.")
@click.option("--event-gap", type=click.IntRange(1), default=10, show_default=True,
              help="Quiet frames that end an event.")
@click.option("--pre", type=click.IntRange(0), default=0, show_default=True,
              help="Frames of padding before each event.")
@click.option("--post", type=click.IntRange(0), default=0, show_default=True,
              help="Frames of padding after each event.")
@click.option("--camera-settle", type=click.IntRange(0), default=30, show_default=True,
              metavar="FRAMES",
              help="A camera move is reported once the image holds still this many frames "
                   "somewhere new (0: no camera moves reported).")
@click.option("--camera-move", type=click.IntRange(1), default=2, show_default=True,
              metavar="PIXELS",
              help="The smallest camera move reported: pixels between two places where the "
                   "image held still.")
@click.option("--mask-format", type=click.Choice(["video", "png", "none"]), default="video",
              show_default=True,
              help="Masks as a lossless video (mask.mkv), CDnet-named PNGs (masks/), or none.")
@click.option("--overlay/--no-overlay", default=False, show_default=True,
              help="Also write overlay.mp4: the frames with the blobs' boxes.")
@click.option("--clips", is_flag=True,
              help="Write each motion event, padding included, as clips/eventNNN.mp4.")
@click.option("--save-model", is_flag=True, help="Write the final model state (model.npz).")
@click.option("--init-frames", type=click.IntRange(0), default=0, show_default=True,
              help="Start the model from a per-pixel batch EM fit of the first N frames.")
@click.option("--no-display", is_flag=True, help="Never open windows.")
@click.option("--model-threads", type=click.IntRange(1), metavar="N",
              help="Threads of the model (default: the cores but one, which the reading, "
                   "post-processing and writing share; every core for frames of 500,000 "
                   "pixels or more, e.g. 960x540).")
@click.option("--reconnect-timeout", type=click.FloatRange(0), default=30.0, show_default=True,
              help="Seconds a live source may stay silent (reconnecting) before it ends.")
@_notify_options
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress or summary text.")
@click.option("--report/--no-report", default=True, show_default=True,
              help="Write report.html, timeline.png and heatmap.png (and index.html over "
                   "several inputs).")
@click.option("--serve", metavar="[HOST:]PORT",
              help="Serve a live view (frame, mask, timeline) at http://HOST:PORT/; HOST "
                   "defaults to 127.0.0.1, any other host needs --token.")
@click.option("--token", envvar="BGSUB_TOKEN",
              help="Required on every request to the live view (default: $BGSUB_TOKEN).")
@click.option("--progress", is_flag=True,
              help="Status lines on stderr even when it is not a terminal (for logs).")
@click.option("-j", "--jobs", type=click.IntRange(1),
              help="File inputs processed at once, in worker processes (default: the number "
                   "of cores, at most the number of inputs; 1: one after another).  Live "
                   "inputs always run at once.")
@click.option("--dask", "dask_address", metavar="ADDRESS",
              help="Send the file inputs to this Dask scheduler (tcp://host:8786); needs "
                   "pip install 'bgsub[dask]' and a file system the workers share.")
@click.option("--chunks", type=click.IntRange(1), default=1, show_default=True,
              help="Split each video file in time into this many chunks run in parallel, "
                   "then merged into one set of outputs.")
@click.option("--chunk-warmup", type=click.IntRange(0), metavar="FRAMES",
              help="Frames each chunk learns before its range (default: 3 / learning rate).")
def run_cmd(inputs, output_dir, as_json, no_display, jobs, dask_address, chunks, chunk_warmup,
            **kw):
    """Detect motion in video files, cameras (0, 1, ...), URLs (rtsp://, http://...), image
    folders or patterns (frames/in%06d.jpg).

    Writes per input: the masks, frames.csv, events.json, events.csv, background.png and
    optionally overlay.mp4 and model.npz.  Keys in the display: q/Esc quit, space pause,
    f freeze learning, r reset the model, s snapshot.
    """
    if len(inputs) == 1 and chunks == 1 and not dask_address:
        from bgsub.model._warm import preload

        # this process runs the input: its kernels load while the input and output open (those
        # of the model's kind: preload takes the components and the variant from a copy of the
        # options, which this thread goes on to change)
        preload(lean=True, model_params=dict(kw))
    from bgsub.pipeline.run import RunOptions, StopFlag
    from bgsub.scale import run_many

    params = _model_params(kw)
    try:
        from bgsub.model.mixture import MixtureSubtractor

        MixtureSubtractor(**params)
    except ValueError as exc:
        _fail(str(exc), 2)
    _event_options(kw, len(inputs))
    opts = RunOptions(model_params=params, display=not no_display, **kw)
    _check_notifiers(opts)
    if opts.serve:
        from bgsub.report.live import LiveServerError, check_serve

        if len(inputs) > 1:
            _fail("--serve shows one input: give one input, or run one bgsub per camera", 2)
        try:
            check_serve(opts.serve, opts.token)
        except LiveServerError as exc:
            _fail(str(exc), 2)
    if chunks > 1:
        from bgsub.scale.chunks import check_options

        try:
            check_options(opts)
        except ValueError as exc:
            _fail(str(exc), 2)
    if dask_address:
        from bgsub.scale.dask import DaskUnavailable, require_dask

        try:
            require_dask()
        except DaskUnavailable as exc:
            _fail(str(exc), 2)
    stop = StopFlag()

    def on_signal(signum, frame):
        if stop.is_set():  # a second Ctrl-C: give up on finalising gracefully
            raise KeyboardInterrupt
        stop.set(signal.Signals(signum).name)

    def on_done(summary):
        src = str(summary["input"])
        if not summary["ok"]:
            err = summary["error"]
            click.echo(f"Error: {err if err.startswith(src) else f'{src}: {err}'}", err=True)
        elif not opts.quiet:
            for note in summary.get("notes", []):
                click.echo(f"Note: {src}: {note}", err=True)
            if summary.get("stopped_early"):
                click.echo(f"Warning: {src}: {summary['stopped_early']}", err=True)

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    from bgsub.pipeline.run import single_threaded_opencv

    single_threaded_opencv()
    try:
        summaries = run_many(list(inputs), output_dir, opts, jobs=jobs, dask=dask_address,
                             chunks=chunks, chunk_warmup=chunk_warmup, stop=stop,
                             on_done=on_done)
    except Exception as exc:
        from bgsub.scale.dask import DaskUnavailable

        if isinstance(exc, DaskUnavailable):
            _fail(str(exc))
        raise
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    if opts.report and len(summaries) > 1:
        _write_index(summaries, output_dir)
    if as_json:
        click.echo(json.dumps({"inputs": [{k: v for k, v in s.items() if k != "events_list"}
                                          for s in summaries]}, indent=2))
    elif not opts.quiet:
        for s in summaries:
            if not s.get("frames"):
                continue
            click.echo(f"{s['input']}: {s['frames']} frames ({s.get('fps') or 0:.0f} fps), "
                       f"{s['events']} motion events"
                       + (f", {s['camera_moves']} camera moves" if s.get("camera_moves") else "")
                       + f" -> {s['output_dir']}"
                       + ("  [interrupted]" if s.get("interrupted") else ""))
            for e in s.get("events_list", []):
                click.echo(f"  {e['kind']:<13} {e['start_timecode']} - {e['end_timecode']}  "
                           f"frames {e['start_frame']}-{e['end_frame']}"
                           + (f"  moved {e['dx']:+d}, {e['dy']:+d} px" if "dx" in e else "")
                           + (f"  zones: {' '.join(e['zones'])}" if e.get("zones") else ""))
            _echo_notifications(s)
    if stop.is_set() and stop.reason in ("SIGINT", "SIGTERM"):
        sys.exit(130)
    if any(not s["ok"] for s in summaries):
        sys.exit(1)


# ``bgsub watch`` takes run's options, less those about several inputs, windows and serving
_NOT_FOR_WATCH = {"inputs", "output_dir", "jobs", "dask_address", "chunks", "chunk_warmup",
                  "serve", "token", "no_display"}


def watch_cmd(folder, output_dir, settle, poll, once, as_json, **kw):
    """Process each new video in FOLDER once it is complete (its size stable for --settle
    seconds and no process writing it) into OUT/<stem>/, keeping OUT/index.html current and a
    ledger (OUT/watch-ledger.json) of what is done, so that a restart processes only new
    files.  SIGTERM or Ctrl-C ends the file in progress cleanly (it is processed again on the
    next start).  Run options apply to every file."""
    from bgsub.pipeline.run import RunOptions, StopFlag, input_name, single_threaded_opencv
    from bgsub.pipeline.watch import WatchError, watch_folder

    params = _model_params(kw)
    try:
        from bgsub.model.mixture import MixtureSubtractor

        MixtureSubtractor(**params)
    except ValueError as exc:
        _fail(str(exc), 2)
    _event_options(kw)
    opts = RunOptions(model_params=params, display=False, **kw)
    _check_notifiers(opts)
    dispatcher = None
    if opts.notifies:  # one set of notifiers (one MQTT connection) for every file
        from bgsub.notify import Dispatcher, make_notifiers

        name = input_name(folder, opts.name)
        opts.name = name  # every file's records carry the name of the topics (the folder's)
        dispatcher = Dispatcher(make_notifiers(opts, name),
                                warn=(lambda line: None) if opts.quiet else None).start()
    stop = StopFlag()

    def on_signal(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set(signal.Signals(signum).name)

    def note(line):
        if not opts.quiet:
            click.echo(line, err=True)

    def on_done(s):
        if not s.get("ok") and not s.get("interrupted"):
            err, src = s.get("error") or "failed", str(s["input"])
            click.echo(f"Error: {err if err.startswith(src) else f'{src}: {err}'}", err=True)
        elif not opts.quiet:
            click.echo(f"{s['input']}: {s.get('frames', 0)} frames, {s.get('events', 0)} motion "
                       f"events -> {s['output_dir']}" + ("  [interrupted]" if s.get("interrupted")
                                                        else ""), err=True)

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    single_threaded_opencv()
    try:
        summaries = watch_folder(folder, output_dir, opts, stop, settle=settle, poll=poll,
                                 once=once, dispatcher=dispatcher, on_done=on_done,
                                 on_note=note)
    except WatchError as exc:
        _fail(str(exc), 2)
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
        if dispatcher is not None:
            dispatcher.close()
    if as_json:
        click.echo(json.dumps({"inputs": [{k: v for k, v in s.items() if k != "events_list"}
                                          for s in summaries]}, indent=2))
    if once and any(not s.get("ok") and not s.get("interrupted") for s in summaries):
        sys.exit(1)  # a watch that runs until stopped ends with 0: failures were reported


def _add_watch_command():
    params = [click.Argument(["folder"], type=click.Path(file_okay=False, path_type=Path)),
              click.Option(["-o", "--output-dir"], required=True,
                           type=click.Path(file_okay=False, path_type=Path),
                           help="Output folder: OUT/<stem>/ per video, OUT/index.html, the "
                                "ledger."),
              click.Option(["--settle"], type=click.FloatRange(0), default=5.0,
                           show_default=True,
                           help="Seconds a file's size must stay the same before it is "
                                "processed."),
              click.Option(["--poll"], type=click.FloatRange(0.05), default=1.0,
                           show_default=True,
                           help="Seconds between looks at the folder (without inotify, and "
                                "while files settle)."),
              click.Option(["--once"], is_flag=True,
                           help="Process the videos there now (once complete), then exit.")]
    params += [p for p in run_cmd.params if p.name not in _NOT_FOR_WATCH]
    main.add_command(click.Command("watch", callback=watch_cmd, params=params,
                                   help=watch_cmd.__doc__,
                                   short_help="Process each new video in a folder."))


_add_watch_command()


def _echo_notifications(summary):
    n = summary.get("notifications")
    if n:
        click.echo("  notifications: " + "; ".join(
            f"{k} {v['sent']} sent" + "".join(f", {v[m]} {m}" for m in ("dropped", "failed")
                                              if v[m]) for k, v in n.items()))


def _write_index(summaries, output_dir):
    """index.html over several inputs' reports, in -o DIR or their common parent folder."""
    from bgsub.report.run_report import write_index
    from bgsub.io.sinks import describe_os_error

    runs = [s for s in summaries if s.get("frames") and s.get("output_dir")]
    if not runs:
        return
    parent = Path(output_dir) if output_dir else Path(
        os.path.commonpath([os.path.abspath(s["output_dir"]) for s in runs]))
    try:
        path = write_index(parent, runs)
    except OSError as exc:
        click.echo(f"Warning: index.html: {describe_os_error(exc)}", err=True)
        return
    for s in summaries:
        s["index"] = str(path)


if __name__ == "__main__":
    main()
