"""One long video split in time: N chunks run as separate tasks, merged as if run in one go.

A chunk ``[s, e]`` starts ``warm-up`` frames early, at ``s - warmup``: those frames are learned
by the model (``RunOptions.learn_only_until = s``) but not written, counted or tracked, so the
chunk's model has seen enough of the scene by frame ``s``.  The default warm-up is
``ceil(3 / learning_rate)`` frames (1000 at the default rate 0.003): after it, what the model
remembers of its own start weighs ``(1 - rate) ** warmup < e**-3 = 5%``.  The first chunk has no
warm-up, so it equals the sequential run exactly.

Each chunk writes to ``OUT/.bgsub-chunks/NNN/``; :meth:`ChunkGroup.merge` then writes one
``mask.mkv`` (decoded and re-encoded losslessly, FFV1), ``masks/`` (PNGs moved), ``overlay.mp4``,
one ``frames.csv`` (the chunks' rows in order), and the events, found again by replaying the
event tracker over the merged per-frame rows (so an event crossing a chunk boundary is one
event, as in a sequential run).  Every merged file is written under a temporary name and
renamed.  ``background.png`` and ``model.npz`` come from the last chunk.  An interrupted or
failed chunk ends the merge there (the outputs are then a prefix of the sequential run's, as
when a sequential run is interrupted).  ``--clips`` and ``--init-frames`` do not combine with
chunks.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

CHUNK_DIR = ".bgsub-chunks"


def default_warmup(opts) -> int:
    """``ceil(3 / learning_rate)``: the model's memory of its start then weighs under 5%."""
    rate = opts.model_params.get("learning_rate")
    if rate is None:
        import inspect

        from bgsub.model.mixture import MixtureSubtractor

        rate = inspect.signature(MixtureSubtractor).parameters["learning_rate"].default
    return int(math.ceil(3.0 / rate))


def check_options(opts) -> None:
    """Options that do not combine with chunks: ValueError naming them."""
    if opts.clips:
        raise ValueError("--clips cannot be combined with --chunks (an event may cross chunks)")
    if opts.init_frames:
        raise ValueError("--init-frames cannot be combined with --chunks")
    if opts.zones:
        raise ValueError("--zone cannot be combined with --chunks (an event may cross chunks)")
    if getattr(opts, "notifies", False):
        raise ValueError("hooks, --webhook and --mqtt cannot be combined with --chunks "
                         "(chunks end their events out of order)")


def plan(source, out_dir, opts, n: int, warmup: int | None = None):
    """The chunk ranges of ``source``: a list of ``(options, first, last, warmup_from)``;
    None when it is not split (unknown length, or too short); an error summary (a dict) when
    it cannot be opened or its output folder cannot be written."""
    from bgsub.pipeline.run import InputError, parse_position, prepare_output_dir
    from bgsub.io.sources import SourceError, open_video
    from bgsub.scale.tasks import error_summary

    warmup = default_warmup(opts) if warmup is None else int(warmup)
    try:
        stream = open_video(source, reconnect_timeout=opts.reconnect_timeout)
    except SourceError as exc:
        return error_summary(source, str(exc))
    try:
        fps, total, live = stream.fps, stream.frame_count, stream.live
    finally:
        stream.close()
    if live or total is None:
        return None
    try:
        start = parse_position(opts.start, fps, "--start") or 0
        end = parse_position(opts.end, fps, "--end")
    except InputError as exc:
        return error_summary(source, str(exc))
    last = total - 1 if end is None else min(end, total - 1)
    if opts.max_frames is not None:
        last = min(last, start + opts.max_frames - 1)
    count = last - start + 1
    n = min(n, count)
    if n <= 1:
        return None
    try:
        prepare_output_dir(Path(out_dir))
    except InputError as exc:
        return error_summary(source, str(exc))
    shutil.rmtree(Path(out_dir) / CHUNK_DIR, ignore_errors=True)  # a killed run's chunks
    bounds = [start + count * k // n for k in range(n + 1)]
    open_end = end is None and opts.max_frames is None  # the container's count is a guess
    chunks = []
    for k in range(n):
        s, e = bounds[k], bounds[k + 1] - 1
        w0 = max(start, s - warmup)
        copts = replace(opts, start=str(w0), end=None if (open_end and k == n - 1) else str(e),
                        max_frames=None, learn_only_until=s if s > w0 else None, report=False,
                        serve=None,
                        save_model=opts.save_model and k == n - 1, display=False, clips=False,
                        init_frames=0)
        chunks.append((copts, s, e, w0))
    return chunks


class ChunkGroup:
    """The chunks of one input: collects their summaries, then merges their outputs."""

    def __init__(self, source, out_dir, opts, chunks):
        self.source, self.out_dir, self.opts = source, Path(out_dir), opts
        self.chunks = chunks
        self.chunk_opts = [c[0] for c in chunks]
        self.results: dict[int, dict | None] = {}
        self.t0 = time.monotonic()

    def chunk_dir(self, k: int) -> Path:
        return self.out_dir / CHUNK_DIR / f"{k:03d}"

    def add(self, k: int, summary: dict | None) -> bool:
        """Record chunk ``k``'s summary (None: not run); True once every chunk reported."""
        self.results[k] = summary
        return len(self.results) == len(self.chunks)

    def merge(self) -> dict:
        from bgsub.io.sinks import describe_os_error

        parts = []  # (k, summary): the chunks in order, up to the first incomplete one
        for k in range(len(self.chunks)):
            s = self.results.get(k)
            if s is None:
                break
            parts.append((k, s))
            if not s.get("ok") or s.get("interrupted"):
                break
        summary = {"input": str(self.source), "output_dir": str(self.out_dir), "frames": 0,
                   "first_frame": None, "last_frame": None,
                   "interrupted": len(parts) < len(self.chunks) or any(
                       s.get("interrupted") for _, s in parts),
                   "stopped_early": None, "error": None, "notes": []}
        for k, s in parts:
            summary["frames"] += s.get("frames") or 0
            if s.get("frames"):
                if summary["first_frame"] is None:
                    summary["first_frame"] = s.get("first_frame")
                summary["last_frame"] = s.get("last_frame")
            summary["stopped_early"] = s.get("stopped_early") or summary["stopped_early"]
            summary["notes"] += [n for n in s.get("notes", []) if n not in summary["notes"]]
            if not s.get("ok") and summary["error"] is None:
                first, last = self.chunks[k][1], self.chunks[k][2]
                summary["error"] = (f"chunk {k + 1} of {len(self.chunks)} (frames {first}-"
                                    f"{last}): {s.get('error')}")
        events = []
        try:
            events = self._merge_files([k for k, s in parts if s.get("frames")], summary)
        except OSError as exc:
            summary["error"] = summary["error"] or describe_os_error(exc)
        summary["seconds"] = round(time.monotonic() - self.t0, 3)
        summary["fps"] = (round(summary["frames"] / summary["seconds"], 1)
                          if summary["seconds"] else None)
        summary["stage_ms"] = {}
        summary["events"] = sum(1 for e in events if e["kind"] == "motion")
        summary["global_changes"] = sum(1 for e in events if e["kind"] == "global_change")
        summary["camera_moves"] = sum(1 for e in events if e["kind"] == "camera_moved")
        summary["chunks"] = [
            {"chunk": k + 1, "first_frame": c[1], "last_frame": c[2], "warmup_from": c[3],
             "frames": (self.results.get(k) or {}).get("frames", 0),
             "seconds": (self.results.get(k) or {}).get("seconds")}
            for k, c in enumerate(self.chunks)]
        if summary["frames"]:
            try:
                self._write_reports(parts, summary, events)
            except OSError as exc:
                summary["error"] = summary["error"] or describe_os_error(exc)
        if summary["frames"] == 0 and summary["error"] is None and not summary["interrupted"]:
            summary["error"] = "no frames in range"
        shutil.rmtree(self.out_dir / CHUNK_DIR, ignore_errors=True)
        summary["ok"] = summary["error"] is None
        summary["events_list"] = events
        return summary

    # ------------------------------------------------------------------ files
    def _merge_files(self, ks: list[int], summary: dict) -> list[dict]:
        from bgsub.io.sinks import MASK_VIDEO, OVERLAY_VIDEO, write_atomic

        if not ks:
            return []
        out, dirs = self.out_dir, [self.chunk_dir(k) for k in ks]
        fps = self._fps(dirs)
        _concat_videos([d / MASK_VIDEO[0] for d in dirs], out / MASK_VIDEO[0], MASK_VIDEO[1],
                       fps, color=False)
        _concat_videos([d / OVERLAY_VIDEO[0] for d in dirs], out / OVERLAY_VIDEO[0],
                       OVERLAY_VIDEO[1], fps, color=True)
        for d in dirs:
            if (d / "masks").is_dir():
                (out / "masks").mkdir(exist_ok=True)
                for p in sorted((d / "masks").glob("bin*.png")):
                    os.replace(p, out / "masks" / p.name)
        header, rows = None, []
        for d in dirs:
            p = d / "frames.csv"
            if p.is_file():
                with open(p, newline="", encoding="utf-8") as fh:
                    r = list(csv.reader(fh))
                header = header or r[0]
                rows += _continued(rows, r[1:])
        if header is not None:
            text = ",".join(header) + "\n" + "".join(",".join(r) + "\n" for r in rows)
            write_atomic(out / "frames.csv", text)
        last = dirs[-1]
        for name in ("background.png", "model.npz"):
            if (last / name).is_file():
                os.replace(last / name, out / name)
        if summary["error"] is not None:
            return []  # as a sequential run that failed: no events
        return replay_events(rows, self.opts)

    def _fps(self, dirs) -> float:
        for d in dirs:
            try:
                return float(json.loads((d / "events.json").read_text())["fps"])
            except (OSError, ValueError, KeyError):
                continue
        return 25.0

    def _write_reports(self, parts, summary, events):
        from bgsub.pipeline.run import REPORT_VERSION
        from bgsub.io.sinks import events_csv, events_json, write_atomic

        params, fps = {}, 25.0
        for k, _ in parts:
            try:
                doc = json.loads((self.chunk_dir(k) / "events.json").read_text())
                params, fps = doc["parameters"], doc["fps"]
                break
            except (OSError, ValueError, KeyError):
                continue
        params = dict(params)
        for key in ("start", "end", "max_frames"):
            params[key] = getattr(self.opts, key)
        doc = {"bgsub_report_version": REPORT_VERSION, "input": str(self.source), "fps": fps,
               "parameters": params,
               "summary": {k: v for k, v in summary.items() if k != "output_dir"},
               "events": events}
        write_atomic(self.out_dir / "events.json", events_json(doc))
        write_atomic(self.out_dir / "events.csv", events_csv(events))


def replay_events(rows, opts) -> list[dict]:
    """The events of a run from its frames.csv rows, through the same tracker."""
    from bgsub.motion.detector import EventTracker, MotionResult

    tracker = EventTracker(opts.min_event_frames, opts.event_gap, opts.pre, opts.post,
                           opts.camera_settle, opts.camera_move)
    for r in rows:
        tracker.update(MotionResult(int(r[0]), float(r[1]), None, [], float(r[3]), r[5] == "1",
                                    r[6] == "1", camera_shift=_shift(r)))
    tracker.finish()
    return [e.as_dict() for e in tracker.events]


def _shift(row) -> tuple[int, int] | None:
    """A frames.csv row's camera shift (dx, dy), or None (none estimated)."""
    return (int(row[7]), int(row[8])) if len(row) > 8 and row[7] and row[8] else None


def _continued(before: list, rows: list) -> list:
    """A chunk's frames.csv ``rows`` after the chunks' rows ``before``, with its camera shifts
    made to continue theirs: each chunk's model measures them from its own first frame (its
    warm-up's), so the chunk's are offset by the last row's shift before less its first row's
    (the camera is taken to be where it was one frame earlier)."""
    last, first = (_shift(before[-1]) if before else None), (_shift(rows[0]) if rows else None)
    if last is None or first is None or last == first:
        return rows
    ox, oy = last[0] - first[0], last[1] - first[1]
    out = []
    for r in rows:
        s = _shift(r)
        out.append(r if s is None else r[:7] + [str(s[0] + ox), str(s[1] + oy)] + r[9:])
    return out


def _concat_videos(paths, dest: Path, fourcc: str, fps: float, color: bool) -> int:
    """Decode the existing ``paths`` in order and write them as one video (temporary name,
    renamed when complete).  Returns the frames written."""
    import cv2

    from bgsub.io.sinks import VideoSink

    paths = [p for p in paths if p.is_file()]
    if not paths:
        return 0
    sink = None
    try:
        for p in paths:
            cap = cv2.VideoCapture(str(p), cv2.CAP_FFMPEG)
            try:
                while True:
                    ok, img = cap.read()
                    if not ok or img is None:
                        break
                    if not color and img.ndim == 3:
                        img = img[:, :, 0].copy()  # a gray video decodes as B = G = R
                    if sink is None:
                        sink = VideoSink(dest, fourcc, fps, (img.shape[1], img.shape[0]),
                                         color=color)
                    sink.write(img)
            finally:
                cap.release()
    except BaseException:
        if sink is not None:
            sink.abort()
        raise
    if sink is None:
        return 0
    sink.close()
    return sink.frames
