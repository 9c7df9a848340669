"""The evaluation report of ``bgsub eval --report DIR``: per sequence, a table comparing the
methods (precision, recall, F), F frame by frame, and strips of input | ground truth | mask |
errors at a few frames, with false positives and false negatives in two colours."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bgsub.report import _draw
from bgsub.report.run_report import page

PANEL_WIDTH = 320
CANDIDATES = 16  # evenly spaced scored frames kept while evaluating; the strips come from these
FP_COLOR = _draw.VERMILION  # false positive: predicted foreground, truly background
FN_COLOR = _draw.SKY  # false negative: missed foreground
TP_COLOR = (235, 235, 235)
METHOD_COLORS = {"bgsub": _draw.BLUE, "opencv-mog2": _draw.ORANGE, "opencv-knn": _draw.GREEN}


@dataclass
class SequenceReport:
    """One sequence scored by several methods, with what the report draws."""

    name: str
    scores: dict  # method -> Scores
    numbers: dict  # method -> frame numbers scored (array)
    f_per_frame: dict  # method -> per-frame F (NaN where undefined)
    strips: dict = field(default_factory=dict)  # method -> [(number, strip image BGR)]
    notes: list = field(default_factory=list)


def evaluate_for_report(seq, methods=("bgsub", "opencv-mog2", "opencv-knn"), params=None,
                        init_frames: int = 0, n_strips: int = 4, frames=None,
                        save_masks: dict | None = None) -> SequenceReport:
    """Score every method on ``seq`` (a :class:`~bgsub.evaluate.Sequence` or folder) and keep
    what the report needs.  ``params`` are the model options of ``bgsub`` (the OpenCV methods
    run at their defaults).  ``save_masks``: ``{method: folder}``, that method's predicted
    masks written there as ``evaluate_sequence(save_masks=...)`` does."""
    from bgsub.evaluate.scoring import (Sequence, evaluate_sequence, frame_f_measure, make_method,
                                        read_image)

    if not isinstance(seq, Sequence):
        seq = Sequence.open(seq)
    numbers = sorted(seq.frames)
    if frames is None:
        frames = [read_image(seq.frames[n]) for n in numbers]  # decoded once for every method
    scored = [n for n in numbers if seq.scored(n)]
    pick = np.unique(np.linspace(0, len(scored) - 1, min(CANDIDATES, len(scored))).round()
                     .astype(int)) if scored else []
    candidates = {scored[i] for i in pick}
    kept = {}  # number -> {"frame", "gt", "roi", method: mask}
    rep = SequenceReport(seq.name, {}, {}, {})
    for method in methods:
        nums, fs = [], []

        def on_frame(n, frame, mask, gt, roi, counts, method=method, nums=nums, fs=fs):
            nums.append(n)
            fs.append(frame_f_measure(*counts[:3]))
            if n in candidates:
                k = kept.setdefault(n, {"frame": frame, "gt": gt, "roi": roi})
                k[method] = mask.copy()

        model = make_method(method, **(params or {}) if method == "bgsub" else {})
        rep.scores[method] = evaluate_sequence(
            seq, model, frames=frames, init_frames=init_frames if method == "bgsub" else 0,
            on_frame=on_frame, save_masks=(save_masks or {}).get(method))
        rep.numbers[method] = np.array(nums)
        rep.f_per_frame[method] = np.array(fs, float)
    rep.notes = list(seq.notes)
    # the strips: the candidates with the most true foreground, in frame order
    fg = {n: int(np.count_nonzero(k["gt"] == 255)) for n, k in kept.items()}
    chosen = sorted(sorted(kept, key=lambda n: (-fg[n], n))[:n_strips])
    for method in methods:
        rep.strips[method] = [(n, strip(kept[n]["frame"], kept[n]["gt"], kept[n][method],
                                        kept[n]["roi"], n, method)) for n in chosen
                              if method in kept[n]]
    return rep


def _fit(img, width=PANEL_WIDTH):
    import cv2

    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    h, w = img.shape[:2]
    if w != width:
        img = cv2.resize(img, (width, max(1, round(h * width / w))),
                         interpolation=cv2.INTER_AREA if w > width else cv2.INTER_NEAREST)
    return img


def gt_picture(gt):
    """CDnet labels as a picture: foreground white, shadow grey, unknown and outside-ROI
    dark."""
    out = np.zeros(gt.shape + (3,), np.uint8)
    out[gt == 255] = (255, 255, 255)
    out[gt == 50] = (110, 110, 110)
    out[gt == 170] = (60, 40, 90)
    out[gt == 85] = (40, 40, 40)
    return out


def error_picture(frame, mask, gt, roi=None):
    """The frame dimmed, with true positives light, false positives and false negatives in
    two colours; pixels not scored stay dimmed."""
    import cv2

    grey = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    out = cv2.cvtColor((grey * 0.45).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    fg = mask == 255
    pos = gt == 255
    neg = (gt == 0) | (gt == 50)
    if roi is not None:
        pos &= roi
        neg &= roi
    out[fg & pos] = TP_COLOR
    out[fg & neg] = FP_COLOR
    out[~fg & pos] = FN_COLOR
    return out


def strip(frame, gt, mask, roi, number, method):
    """input | ground truth | mask | errors, each labelled."""
    panels = [("input", frame), ("ground truth", gt_picture(gt)),
              (f"{method} mask", mask), ("errors", error_picture(frame, mask, gt, roi))]
    imgs = [_fit(p) for _, p in panels]
    h = max(i.shape[0] for i in imgs)
    gap, head = 6, 30
    out = np.full((h + head, len(imgs) * (PANEL_WIDTH + gap) - gap, 3), 255, np.uint8)
    for k, ((label, _), img) in enumerate(zip(panels, imgs)):
        x = k * (PANEL_WIDTH + gap)
        out[head:head + img.shape[0], x:x + PANEL_WIDTH] = img
        _draw.text(out, label if k else f"frame {number}", (x + 4, head - 9), 0.55)
    return out


def draw_f_over_time(rep: SequenceReport, width=1200, height=320):
    img = np.full((height, width, 3), 255, np.uint8)
    allnum = np.concatenate([v for v in rep.numbers.values() if len(v)] or [np.zeros(1)])
    lo, hi = float(allnum.min()), float(allnum.max())
    ax = _draw.Axes(img, (70, 46, width - 24, height - 62), (lo, max(hi, lo + 1)), (0.0, 1.0))
    ax.frame("frame number", "F-measure")
    items = []
    for method, f in rep.f_per_frame.items():
        color = METHOD_COLORS.get(method, _draw.PURPLE)
        ax.line(rep.numbers[method], f, color, 2)
        items.append((f"{method} (F {rep.scores[method].f_measure:.3f})", color, "line"))
    _draw.legend(img, items, (ax.x0, 28))
    return img


LEGEND = (f"<span style=\"background:rgb{FP_COLOR[::-1]};padding:0 8px\">&nbsp;</span> false "
          f"positive (background called foreground) &nbsp; <span style=\"background:"
          f"rgb{FN_COLOR[::-1]};padding:0 8px\">&nbsp;</span> false negative (foreground "
          f"missed) &nbsp; <span style=\"background:rgb{TP_COLOR[::-1]};border:1px solid #999;"
          f"padding:0 7px\">&nbsp;</span> foreground found")


def write_eval_report(out_dir, reports: list[SequenceReport], params=None) -> Path:
    """``out_dir/report.html`` and its images (``f_<sequence>.png``, ``strip_<sequence>_<frame>
    _<method>.png``), each written atomically; returns the report's path."""
    from bgsub.io.sinks import write_atomic, write_image_atomic

    esc = html.escape
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    body = ["<h1>Evaluation against ground truth</h1>",
            "<p class=\"sub\">CDnet rules: ground-truth 255 is foreground, 0 and 50 (shadow) "
            "background, 85 and 170 not scored; only a predicted 255 counts as foreground. "
            "Precision, recall and F are summed over every scored frame and pixel."
            + (f" bgsub options: <code>{esc(str(params))}</code>." if params else "") + "</p>"]
    if len(reports) > 1:
        methods = list(reports[0].scores)
        rows = "".join(
            f"<tr><td><a href=\"#{esc(r.name)}\">{esc(r.name)}</a></td>"
            + "".join(_f_cell(r, m) for m in methods) + "</tr>" for r in reports)
        means = "".join(f"<td>{np.mean([r.scores[m].f_measure for r in reports]):.3f}</td>"
                        for m in methods)
        body.append("<h2>F-measure by sequence</h2><table><tr><th>sequence</th>"
                    + "".join(f"<th>{esc(m)}</th>" for m in methods) + f"</tr>{rows}"
                    f"<tr><th>mean</th>{means}</tr></table>")
    for r in reports:
        slug = _slug(r.name)
        body.append(f"<h2 id=\"{esc(r.name)}\">{esc(r.name)}</h2>")
        for note in r.notes:
            body.append(f"<p class=\"cap\">note: {esc(note)}</p>")
        best = max(s.f_measure for s in r.scores.values())
        body.append("<table><tr><th>method</th><th>precision</th><th>recall</th><th>F</th>"
                    "<th>frames scored</th></tr>" + "".join(
                        f"<tr><td>{esc(m)}</td><td>{s.precision:.3f}</td><td>{s.recall:.3f}</td>"
                        + (f"<td><b>{s.f_measure:.3f}</b></td>" if s.f_measure == best
                           else f"<td>{s.f_measure:.3f}</td>")
                        + f"<td>{s.frames_scored}</td></tr>" for m, s in r.scores.items())
                    + "</table>")
        fname = f"f_{slug}.png"
        write_image_atomic(out / fname, draw_f_over_time(r))
        body.append(f"<h3>F frame by frame</h3><div class=\"fig\"><img src=\"{fname}\" alt=\"F "
                    f"over time, {esc(r.name)}\"></div><p class=\"cap\">Gaps: frames with no "
                    "foreground, true or predicted, where F is undefined.</p>")
        for k, (method, strips) in enumerate(r.strips.items()):
            imgs = []
            for n, img in strips:
                name = f"strip_{slug}_{n:06d}_{_slug(method)}.png"
                write_image_atomic(out / name, img)
                imgs.append(f"<div class=\"fig\" style=\"margin:6px 0\"><img src=\"{name}\" "
                            f"alt=\"{esc(method)}, frame {n}\"></div>")
            inner = f"<p class=\"cap\">{LEGEND}</p>" + "".join(imgs)
            if k == 0:
                body.append(f"<h3>{esc(method)}: input | ground truth | mask | errors</h3>"
                            + inner)
            else:
                body.append(f"<details><summary><b>{esc(method)}</b>: the same frames</summary>"
                            f"{inner}</details>")
    write_atomic(out / "report.html", page("bgsub evaluation", "\n".join(body)))
    return out / "report.html"


def _f_cell(r, m):
    best = max(s.f_measure for s in r.scores.values())
    f = r.scores[m].f_measure
    return f"<td><b>{f:.3f}</b></td>" if f == best else f"<td>{f:.3f}</td>"


def _slug(name: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "x"
