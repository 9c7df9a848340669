"""A run's report: ``report.html`` with ``timeline.png`` and ``heatmap.png`` beside the run's
outputs, gathered during the run by :class:`RunRecorder`.

The run's writer thread calls :meth:`RunRecorder.add` once per frame (a fraction of a
millisecond: a masked add into a uint8 counter, a few numbers, and a reference to the frame
when the foreground fraction peaks); at the end :meth:`RunRecorder.finish` turns that into a
:class:`Recording` and :func:`write_run_report` writes the files, each atomically.
"""

from __future__ import annotations

import base64
import html
import os
from array import array
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bgsub.report import _draw

THUMB_WIDTH = 320
MAX_THUMBNAILS = 500  # thumbnails in one page (each about 15 KB of JPEG)


@dataclass
class Recording:
    """What a run report shows, gathered by :class:`RunRecorder`."""

    frames: np.ndarray  # int64 frame indices
    times: np.ndarray  # float64 seconds
    fractions: np.ndarray  # float32 foreground fraction per frame
    moving: np.ndarray  # bool per frame
    heat: np.ndarray | None  # uint32 (H, W): frames each pixel was foreground (None: no frames)
    thumbnails: list = field(default_factory=list)  # per motion event: (image BGR, frame) | None


class _Segment:
    """Moving frames no more than ``gap`` quiet frames apart, and the frame where the
    foreground fraction peaked (a reference; made into a thumbnail when the segment closes)."""

    __slots__ = ("first", "last", "count", "peak", "peak_frame", "image", "mask", "thumb")

    def __init__(self, index):
        self.first = self.last = index
        self.count = 0
        self.peak = -1.0
        self.peak_frame = index
        self.image = self.mask = self.thumb = None


class RunRecorder:
    """Gathers, frame by frame, what :func:`write_run_report` draws: the foreground fraction
    over time, a per-pixel count of foreground frames (the heat-map) and, for every stretch of
    motion, the frame where its foreground fraction peaked (the event's thumbnail).

    ``event_gap`` and ``min_event_frames`` should be the run's: moving frames closer than
    ``event_gap`` quiet frames belong to one stretch, and stretches with fewer than
    ``min_event_frames`` moving frames are dropped (they cannot be an event).

    Not thread-safe: call :meth:`add` and :meth:`finish` from one thread (the run's writer).
    ``frame_image`` is kept by reference until its stretch ends, so it must not be modified
    afterwards (bgsub's readers hand out a new array per frame); ``mask`` is copied when needed.
    """

    def __init__(self, event_gap: int = 10, min_event_frames: int = 2,
                 thumb_width: int = THUMB_WIDTH, max_thumbnails: int = MAX_THUMBNAILS):
        self.event_gap = max(1, int(event_gap))
        self.min_event_frames = max(1, int(min_event_frames))
        self.thumb_width = int(thumb_width)
        self.max_thumbnails = int(max_thumbnails)
        self._frames = array("q")
        self._times = array("d")
        self._fractions = array("f")
        self._moving = array("b")
        self._acc = None  # uint8 counts since the last flush
        self._acc_n = 0
        self._heat = None  # uint32 totals
        self._one = None
        self._segments: list[_Segment] = []
        self._open: _Segment | None = None
        self._quiet = 0

    def add(self, frame_index: int, frame_image, mask, fraction: float, time: float,
            moving: bool) -> None:
        """One frame: its index and time, the image (BGR or gray), the cleaned mask (0/255, any
        size, the same every frame), the foreground fraction and whether it counts as moving."""
        import cv2

        self._frames.append(int(frame_index))
        self._times.append(float(time))
        self._fractions.append(float(fraction))
        self._moving.append(bool(moving))
        if self._acc is None:
            self._acc = np.zeros(mask.shape[:2], np.uint8)
            self._heat = np.zeros(mask.shape[:2], np.uint32)
            self._one = np.ones(mask.shape[:2], np.uint8)
        if fraction > 0:  # an empty mask adds nothing
            cv2.add(self._acc, self._one, dst=self._acc, mask=mask)
            self._acc_n += 1
            if self._acc_n == 255:  # the uint8 counter is full: flush it
                self._flush()
        seg = self._open
        if moving:
            if seg is None:
                seg = self._open = _Segment(frame_index)
            seg.last = frame_index
            seg.count += 1
            self._quiet = 0
            if fraction > seg.peak:
                seg.peak, seg.peak_frame, seg.image = fraction, frame_index, frame_image
                seg.mask = mask.copy()
        elif seg is not None:
            self._quiet += 1
            if self._quiet >= self.event_gap:
                self._close()

    def _flush(self):
        if self._acc is not None and self._acc_n:
            self._heat += self._acc
            self._acc[:] = 0
            self._acc_n = 0

    def _close(self):
        seg, self._open = self._open, None
        self._quiet = 0
        if seg.count < self.min_event_frames:
            return
        seg.thumb = thumbnail(seg.image, seg.mask, self.thumb_width)
        seg.image = seg.mask = None
        self._segments.append(seg)
        if len(self._segments) > 4 * self.max_thumbnails:  # bound memory on endless runs
            drop = min(range(len(self._segments)), key=lambda i: self._segments[i].peak)
            self._segments.pop(drop)

    def finish(self, events: list[dict]) -> Recording:
        """The recording, with one thumbnail per motion event of ``events`` (the dicts of
        events.json, in order): the peak of the stretches inside the event (None if none)."""
        if self._open is not None:
            self._close()
        self._flush()
        thumbs = []
        for e in events:
            if e.get("kind") != "motion":
                continue
            inside = [s for s in self._segments
                      if s.last >= e["start_frame"] and s.first <= e["end_frame"]]
            best = max(inside, key=lambda s: s.peak, default=None)
            thumbs.append(None if best is None else (best.thumb, best.peak_frame))
        return Recording(np.frombuffer(self._frames, np.int64).copy(),
                         np.frombuffer(self._times, np.float64).copy(),
                         np.frombuffer(self._fractions, np.float32).copy(),
                         np.frombuffer(self._moving, np.int8).astype(bool),
                         None if self._heat is None else self._heat.copy(), thumbs)


def thumbnail(image, mask, width=THUMB_WIDTH):
    """The frame at ``width`` with its foreground tinted and outlined."""
    import cv2

    if image is None:
        return None
    img = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    h, w = img.shape[:2]
    size = (width, max(1, round(h * width / w)))
    small = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    if mask is not None:
        m = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST) > 0
        tint = small.copy()
        tint[m] = (0.5 * tint[m] + 0.5 * np.array(_draw.VERMILION)).astype(np.uint8)
        contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(tint, contours, -1, (0, 0, 255), 1, cv2.LINE_AA)
        small = tint
    return small


# ---------------------------------------------------------------------------- drawing
def draw_timeline(rec: Recording, events: list[dict], threshold: float | None = None,
                  max_area: float | None = None, width=1200, height=340) -> np.ndarray:
    """Foreground fraction (percent) against time, motion events shaded and numbered."""
    img = np.full((height, width, 3), 255, np.uint8)
    t = rec.times if len(rec.times) else np.zeros(1)
    t0, t1 = float(t.min()), float(t.max())
    if t1 <= t0:
        t1 = t0 + 1.0
    y = rec.fractions.astype(np.float64) * 100 if len(rec.fractions) else np.zeros(0)
    ymax = max(float(y.max()) if len(y) else 0.0, (threshold or 0) * 100 * 2, 0.5) * 1.1
    ax = _draw.Axes(img, (78, 46, width - 24, height - 62), (t0, t1), (0.0, ymax))
    for e in events:
        if e["kind"] not in ("motion", "global_change"):
            continue  # camera moves: listed in the report, not shaded
        color = _draw.ORANGE if e["kind"] == "motion" else _draw.GREY
        ax.span(e["start_seconds"], max(e["end_seconds"], e["start_seconds"]), color, 0.3)
    long_video = t1 - t0 >= 120
    ax.frame("time (" + ("m:ss" if long_video else "seconds") + ")", "foreground (% of frame)",
             xfmt=_draw.clock if long_video else None)
    if threshold:
        ax.hline(threshold * 100, _draw.VERMILION,
                 label=f"motion threshold {threshold * 100:.2g}%")
    ax.line(rec.times, y, _draw.BLUE, 2)
    n = 0
    last_label_x = -1e9
    for e in events:
        if e["kind"] != "motion":
            continue
        n += 1
        a, b = ax.px(e["start_seconds"], 0)[0], ax.px(e["end_seconds"], 0)[0]
        cx = int((a + b) / 2)
        if cx - last_label_x >= 22:  # leave out labels that would overlap
            _draw.text(img, str(n), (cx, ax.y0 + 16), 0.45, _draw.INK, align="center")
            last_label_x = cx
    _draw.legend(img, [("foreground fraction", _draw.BLUE, "line"),
                       ("motion event", _draw.ORANGE, "box"),
                       ("whole-frame change", _draw.GREY, "box")], (ax.x0, 28))
    return img


def draw_heatmap(rec: Recording, background=None, width=None,
                 zones=()) -> tuple[np.ndarray, float]:
    """The share of frames each pixel was foreground, over the background in grey, with the
    ``zones`` (bgsub.motion.zones.Zone, frame coordinates) outlined and a colour bar; returns
    (image, the largest share)."""
    import cv2

    heat = rec.heat
    n = max(len(rec.frames), 1)
    if background is None:
        h, w = heat.shape if heat is not None else (240, 320)
        base = np.full((h, w), 96, np.uint8)
    else:
        base = background if background.ndim == 2 else cv2.cvtColor(background,
                                                                     cv2.COLOR_BGR2GRAY)
        h, w = base.shape
    share = np.zeros((h, w), np.float32) if heat is None else heat.astype(np.float32) / n
    if share.shape != (h, w):
        share = cv2.resize(share, (w, h), interpolation=cv2.INTER_LINEAR)
    vmax = float(share.max())
    scale_max = vmax if vmax > 0 else 1.0
    v = np.clip(share / scale_max, 0, 1)
    colored = cv2.applyColorMap((v * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
    grey = cv2.cvtColor((base * 0.75 + 30).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    alpha = np.clip(v * 2.0, 0, 0.9)[..., None]
    alpha[share <= 0] = 0
    out = (grey * (1 - alpha) + colored * alpha).astype(np.uint8)
    target_w = width or max(w, 640)
    if w != target_w:
        out = cv2.resize(out, (target_w, round(h * target_w / w)), interpolation=cv2.INTER_LINEAR)
    if zones:
        from bgsub.io.annotate import draw_zones

        frame_w = heat.shape[1] if heat is not None else w  # the heat is at the frames' size
        draw_zones(out, zones, scale=target_w / frame_w)
    bar = _draw.colorbar(out.shape[0], 170, cv2.COLORMAP_INFERNO, "0%",
                         f"{scale_max * 100:.1f}%", "% of frames", 0.5)
    _draw.text(bar, "foreground", (4, bar.shape[0] - 8), 0.45)
    return np.hstack([out, np.full((out.shape[0], 8, 3), 255, np.uint8), bar]), vmax


# ---------------------------------------------------------------------------- the page
CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;
 color:#222;margin:0 auto;max-width:1240px;padding:16px 24px 40px;background:#fafafa}
h1{font-size:24px;margin:8px 0 4px}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.sub{color:#555;margin:0 0 12px}.facts{display:flex;flex-wrap:wrap;gap:8px 22px;margin:10px 0}
.facts div{background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:6px 12px}
.facts b{display:block;font-size:20px}img{max-width:100%;height:auto;display:block}
.fig{background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:8px}
.cap{color:#555;font-size:14px;margin:6px 2px 0}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:14px}
.card{background:#fff;border:1px solid #e2e2e2;border-radius:6px;overflow:hidden}
.card .t{padding:6px 10px;font-size:14px}.card .t b{font-size:15px}
.card a{color:inherit;text-decoration:none}.card a:hover img{opacity:.85}
.none{padding:40px 10px;text-align:center;color:#888;background:#eee}
table{border-collapse:collapse;background:#fff}td,th{border:1px solid #ddd;padding:4px 10px;
 text-align:right}th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}
.warn{background:#fff4e0;border:1px solid #f0c070;border-radius:6px;padding:6px 12px}
img.broken{outline:3px solid red}
"""

# marks every image as loaded or broken once the page has loaded (visible, and read by tests)
CHECK_IMAGES = """<script>
window.addEventListener('load', function () {
  var bad = 0, imgs = document.images;
  for (var i = 0; i < imgs.length; i++) {
    var ok = imgs[i].complete && imgs[i].naturalWidth > 0;
    imgs[i].setAttribute('data-loaded', ok ? 'yes' : 'no');
    if (!ok) { bad++; imgs[i].className += ' broken'; }
  }
  document.body.setAttribute('data-images', imgs.length + ' images, ' + bad + ' broken');
});
</script>"""


def page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{CSS}</style></head>\n"
            f"<body>\n{body}\n{CHECK_IMAGES}\n</body></html>\n")


def data_uri(image, ext=".jpg", quality=85) -> str:
    import cv2

    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext == ".jpg" else []
    ok, buf = cv2.imencode(ext, image, params)
    if not ok:
        raise ValueError("could not encode an image")
    mime = "image/jpeg" if ext == ".jpg" else "image/png"
    return f"data:{mime};base64,{base64.b64encode(buf.tobytes()).decode('ascii')}"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(int(round(seconds)), 60)
    return f"{m} min {s:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


def write_run_report(out_dir, doc: dict, recording: Recording, background=None) -> Path:
    """Write ``report.html``, ``timeline.png`` and ``heatmap.png`` into ``out_dir`` (each
    atomically) and return the report's path.

    ``doc`` is the run's events.json document (``input``, ``fps``, ``parameters``, ``summary``,
    ``events``; events with a ``clip`` get a link to it), ``recording`` what
    :meth:`RunRecorder.finish` returned for those events, ``background`` the background image
    (BGR or grey; None: a plain grey under the heat-map).  Thumbnails are embedded in the page
    as data: URIs, so the folder holds three new files and the page needs nothing else."""
    from bgsub.io.sinks import write_atomic, write_image_atomic

    out_dir = Path(out_dir)
    events = list(doc.get("events") or [])
    params = doc.get("parameters") or {}
    summary = doc.get("summary") or {}
    threshold = params.get("threshold_area")
    timeline = draw_timeline(recording, events, threshold, params.get("max_area"))
    from bgsub.motion.zones import Zone

    zones = [Zone(z["name"], tuple(tuple(p) for p in z["points"]))
             for z in params.get("zones") or ()]
    heat, vmax = draw_heatmap(recording, background, zones=zones)
    write_image_atomic(out_dir / "timeline.png", timeline)
    write_image_atomic(out_dir / "heatmap.png", heat)
    write_atomic(out_dir / "report.html", _run_page(doc, events, recording, vmax, summary))
    return out_dir / "report.html"


def _run_page(doc, events, rec: Recording, vmax, summary) -> str:
    esc = html.escape
    name = Path(str(doc.get("input", "run"))).name or str(doc.get("input"))
    motion = [e for e in events if e["kind"] == "motion"]
    glob = [e for e in events if e["kind"] == "global_change"]
    moves = [e for e in events if e["kind"] == "camera_moved"]
    frames = len(rec.frames)
    span = float(rec.times[-1] - rec.times[0]) if frames > 1 else 0.0
    in_motion = sum(e["duration_seconds"] for e in motion)
    fps = doc.get("fps") or 0
    facts = [("frames", f"{frames:,}"), ("duration", _duration(span)),
             ("motion events", str(len(motion))),
             ("time in motion", f"{_duration(in_motion)}" + (
                 f" ({100 * in_motion / span:.0f}%)" if span else "")),
             ("peak foreground", f"{100 * float(rec.fractions.max()) if frames else 0:.1f}%")]
    if glob:
        facts.append(("whole-frame changes", str(len(glob))))
    if moves:
        facts.append(("camera moves", str(len(moves))))
    if fps:
        facts.append(("frame rate", f"{fps:.3g} fps"))
    body = [f"<h1>Motion report: {esc(name)}</h1>",
            f"<p class=\"sub\">Input <code>{esc(str(doc.get('input', '')))}</code>"
            + (" &middot; interrupted before the end" if summary.get("interrupted") else "")
            + "</p>",
            "<div class=\"facts\">" + "".join(
                f"<div>{esc(k)}<b>{esc(v)}</b></div>" for k, v in facts) + "</div>"]
    if summary.get("error"):
        body.append(f"<p class=\"warn\">The run stopped on an error: {esc(str(summary['error']))}"
                    "</p>")
    body += ["<h2>Foreground over time</h2>",
             "<div class=\"fig\"><img src=\"timeline.png\" alt=\"timeline: foreground fraction "
             "over time with the motion events shaded\" id=\"timeline\"></div>",
             "<p class=\"cap\">The share of the frame (or ROI) that is foreground, frame by "
             "frame. Shaded bands are motion events (numbered as below), padding included; "
             "the dashed line is the motion threshold.</p>",
             "<h2>Where things moved</h2>",
             "<div class=\"fig\"><img src=\"heatmap.png\" alt=\"heat-map of foreground over the "
             "background\" id=\"heatmap\"></div>",
             f"<p class=\"cap\">Over the learned background: the share of the {frames:,} "
             f"frames in which each pixel was foreground (brightest: {100 * vmax:.1f}%).</p>",
             f"<h2>Motion events ({len(motion)})</h2>"]
    if not motion:
        body.append("<p>No motion events.</p>")
    else:
        cards = []
        shown = motion[:MAX_THUMBNAILS]
        for n, (e, th) in enumerate(zip(shown, rec.thumbnails), start=1):
            if th is not None and th[0] is not None:
                img = (f"<img src=\"{data_uri(th[0])}\" alt=\"event {n} at frame {th[1]}\" "
                       f"class=\"thumb\" width=\"{th[0].shape[1]}\" height=\"{th[0].shape[0]}\">")
                peak_at = f", frame {th[1]}"
            else:
                img, peak_at = "<div class=\"none\">no picture</div>", ""
            clip = e.get("clip")
            if clip:
                img = f"<a href=\"{esc(Path(clip).as_posix())}\" title=\"play the clip\">{img}</a>"
            cards.append(
                f"<div class=\"card\" id=\"event{n}\">{img}<div class=\"t\"><b>Event {n}</b> "
                f"&middot; {esc(e['start_timecode'])}<br>{_duration(e['duration_seconds'])} "
                f"(frames {e['start_frame']}&ndash;{e['end_frame']}) &middot; peak "
                f"{100 * e['peak_fraction']:.1f}%{peak_at}"
                + (f"<br>zones: {esc(', '.join(e['zones']))}" if e.get("zones") else "")
                + (f"<br><a href=\"{esc(Path(clip).as_posix())}\">&#9654; "
                   f"{esc(Path(clip).name)}</a>" if clip else "") + "</div></div>")
        body.append("<div class=\"grid\">" + "".join(cards) + "</div>")
        if len(motion) > len(shown):
            body.append(f"<p class=\"cap\">The first {len(shown)} of {len(motion)} events are "
                        "shown; events.csv lists them all.</p>")
    if glob:
        body.append("<h2>Whole-frame changes</h2><p class=\"cap\">Lights switched, camera "
                    "bumped: more than the maximum area changed at once; not counted as "
                    "motion.</p><table><tr><th>start</th><th>end</th><th>peak</th></tr>" + "".join(
                        f"<tr><td>{esc(e['start_timecode'])}</td><td>{esc(e['end_timecode'])}"
                        f"</td><td>{100 * e['peak_fraction']:.0f}%</td></tr>" for e in glob)
                    + "</table>")
    if moves:
        body.append("<h2>Camera moves</h2><p class=\"cap\">The image moved and held still "
                    "somewhere new (a bumped or turned camera, a mount that sagged, a pan that "
                    "stopped); dx, dy in pixels, positive when the scene moved right and down. "
                    "The model moved with it.</p><table><tr><th>start</th><th>end</th>"
                    "<th>dx</th><th>dy</th></tr>" + "".join(
                        f"<tr><td>{esc(e['start_timecode'])}</td><td>{esc(e['end_timecode'])}"
                        f"</td><td>{e['dx']}</td><td>{e['dy']}</td></tr>" for e in moves)
                    + "</table>")
    body.append("<h2>Files</h2><p>" + " &middot; ".join(
        f"<a href=\"{f}\">{f}</a>" for f in ("events.csv", "events.json", "frames.csv",
                                             "background.png")) + "</p>")
    return page(f"bgsub: {name}", "\n".join(body))


def write_index(parent_dir, runs: list) -> Path:
    """``parent_dir/index.html``: one row per run (a summary dict with ``input`` and
    ``output_dir``, as run_input returns, or a path to a run's folder), linking to its
    report.html and showing its timeline.  Runs without a report are listed without a link."""
    from bgsub.io.sinks import write_atomic

    esc = html.escape
    parent = Path(parent_dir)
    rows = []
    for run in runs:
        if isinstance(run, dict):
            folder, name = Path(run.get("output_dir", "")), str(run.get("input", ""))
            info = run
        else:
            folder, name, info = Path(run), Path(run).name, {}
        rel = Path(os.path.relpath(folder, parent)).as_posix()
        has_report = (folder / "report.html").is_file()
        facts = []
        if info.get("frames") is not None:
            facts.append(f"{info['frames']:,} frames")
        if info.get("events") is not None:
            facts.append(f"{info['events']} motion events")
        if info.get("error"):
            facts.append(f"error: {info['error']}")
        title = (f"<a href=\"{esc(rel)}/report.html\">{esc(name)}</a>" if has_report
                 else esc(name))
        pic = (f"<a href=\"{esc(rel)}/report.html\"><img src=\"{esc(rel)}/timeline.png\" "
               f"alt=\"timeline of {esc(name)}\"></a>"
               if has_report and (folder / "timeline.png").is_file() else "")
        rows.append(f"<div class=\"fig\" style=\"margin:12px 0\"><h2 style=\"margin-top:4px\">"
                    f"{title}</h2><p class=\"cap\">{esc(' · '.join(facts))}</p>{pic}</div>")
    body = f"<h1>bgsub: {len(runs)} runs</h1>" + "".join(rows)
    write_atomic(parent / "index.html", page("bgsub runs", body))
    return parent / "index.html"
