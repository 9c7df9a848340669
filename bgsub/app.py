"""The ``bgsub run`` pipeline for one input: source -> model -> post-processing -> sinks.

The command line only parses options into :class:`RunOptions` and calls :func:`run_input` for
each input; everything it does is available from Python.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .sources import SourceError, open_video, timecode

REPORT_VERSION = 1


@dataclass
class RunOptions:
    model_params: dict = field(default_factory=dict)
    gray: bool = False
    scale: float = 1.0
    roi: str | None = None  # path of a mask image: white pixels count
    start: str | None = None  # frame number, seconds ("12.5s") or timecode ("00:01:02.5")
    end: str | None = None
    max_frames: int | None = None
    kernel: int = 3
    min_area: int = 16
    threshold_area: float = 0.002
    max_area: float = 0.7
    min_event_frames: int = 2
    event_gap: int = 10
    pre: int = 0
    post: int = 0
    mask_format: str = "video"  # "video" (lossless FFV1 .mkv), "png" (CDnet names) or "none"
    overlay: bool = False
    clips: bool = False  # one video per motion event in clips/
    save_model: bool = False
    display: bool = True
    reconnect_timeout: float = 30.0
    quiet: bool = False
    progress: bool = False  # status lines even when stderr is not a terminal
    init_frames: int = 0  # fit the model by per-pixel batch EM on the first N frames


class StopFlag:
    """Set by a signal handler (Ctrl-C, SIGTERM) or a key; checked once per frame."""

    def __init__(self):
        self._event = threading.Event()
        self.reason = None
        self.on_set = None  # e.g. the current stream's interrupt()

    def set(self, reason="interrupted"):
        self.reason = self.reason or reason
        self._event.set()
        if self.on_set is not None:
            self.on_set()

    def is_set(self):
        return self._event.is_set()


class InputError(Exception):
    """One input could not be processed; the message names the problem."""


_TC = re.compile(r"^(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)$")


def parse_position(spec: str | int | None, fps: float, name: str) -> int | None:
    """A frame index from ``123`` (frame), ``12.5s`` (seconds) or ``[HH:]MM:SS[.ms]``."""
    if spec is None or spec == "":
        return None
    s = str(spec).strip()
    if s.isdigit():
        return int(s)
    try:
        if s.endswith("s"):
            return int(round(float(s[:-1]) * fps))
        m = _TC.match(s)
        if m:
            h, mi, sec = m.groups()
            return int(round(((int(h or 0) * 60 + int(mi)) * 60 + float(sec)) * fps))
    except ValueError:
        pass
    raise InputError(f"{name} {spec!r}: expected a frame number, seconds (12.5s) or a "
                     f"timecode (HH:MM:SS.mmm)")


def load_roi(path: str) -> np.ndarray:
    import cv2

    if not Path(path).is_file():
        raise InputError(f"ROI {path}: no such file")
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise InputError(f"ROI {path}: unreadable image")
    roi = img > 127
    if not roi.any():
        raise InputError(f"ROI {path}: no white pixels")
    return roi


def default_output_dir(source) -> Path:
    s = str(source)
    if s.isdigit():
        return Path(f"camera{s}_bgsub")
    if "://" in s:
        from .sources import _url_name

        return Path(_url_name(s) + "_bgsub")
    p = Path(s)
    if p.is_dir() and p.name == "input" and p.resolve().parent.name:
        p = p.resolve().parent  # a CDnet sequence's input/: name it after the sequence
    stem = p.name if p.is_dir() else p.stem
    stem = re.sub(r"%0?\d*d", "", stem).strip("._-") or "frames"
    return Path(f"{stem}_bgsub")


class Progress:
    """A progress bar on a terminal when the length is known, a status line otherwise.

    Silent when the stream is not a terminal, unless ``force`` (``--progress``): then a plain
    status line every 5 s, for logs."""

    def __init__(self, total: int | None, quiet: bool, stream=None, force: bool = False):
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.quiet = quiet or not (self.tty or force)
        self.total = total
        self.t0 = time.monotonic()
        self.last = self.t0

    def update(self, done: int, events: int, force: bool = False):
        if self.quiet:
            return
        now = time.monotonic()
        interval = 0.2 if self.tty else 5.0
        if not force and now - self.last < interval:
            return
        self.last = now
        fps = done / max(now - self.t0, 1e-9)
        if self.tty and self.total:
            frac = min(done / self.total, 1.0)
            bar = "#" * int(30 * frac) + "." * (30 - int(30 * frac))
            line = f"\r[{bar}] {frac * 100:5.1f}% {done}/{self.total} frames, {fps:.0f} fps, " \
                   f"{events} events"
        else:
            line = f"{done} frames, {fps:.0f} fps, {events} events"
            line = ("\r" + line) if self.tty else line + "\n"
        self.stream.write(line)
        self.stream.flush()

    def done(self):
        if not self.quiet and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def prepare_output_dir(out_dir: Path) -> bool:
    """Create ``out_dir`` if needed and check that files can be written in it; remove what a
    killed run left half-written there.  Returns True when the folder was created."""
    import tempfile

    from .sinks import describe_os_error, remove_stale_partials

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"output path {out_dir} exists and is not a folder")
    created = not out_dir.exists()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".bgsub-probe-", dir=out_dir)
        os.close(fd)
        os.unlink(probe)
        remove_stale_partials(out_dir)
    except OSError as exc:
        raise InputError(f"output folder {out_dir} is not writable: "
                         f"{exc.strerror or exc}") from None
    return created


def run_input(source, out_dir: Path, opts: RunOptions, stop: StopFlag | None = None,
              progress_stream=None) -> dict:
    """Process one input completely; returns its summary (also written as events.json).

    Raises :class:`InputError` (or :class:`SourceError`) when the input cannot be processed at
    all; once frames flow, every exit path -- end, error, Ctrl-C -- finalises the outputs.
    """
    from .model import MixtureSubtractor
    from .motion import EventTracker, MotionDetector
    from .sinks import (MASK_VIDEO, OVERLAY_VIDEO, ClipRecorder, FramesCsv, PngMaskSink,
                        VideoSink, describe_os_error, draw_overlay, events_csv, events_json,
                        write_atomic, write_image_atomic)

    stop = stop or StopFlag()
    roi = load_roi(opts.roi) if opts.roi else None
    model = MixtureSubtractor(**opts.model_params)  # validated before the source opens
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"output path {out_dir} exists and is not a folder")
    stream = open_video(source, reconnect_timeout=opts.reconnect_timeout)
    stop.on_set = stream.interrupt
    out_dir = Path(out_dir)
    sinks = []
    summary = {"input": str(source), "output_dir": str(out_dir), "frames": 0,
               "first_frame": None, "last_frame": None, "interrupted": False,
               "stopped_early": None, "error": None}
    display = None
    created_dir = False
    write_failed = False
    try:
        start = parse_position(opts.start, stream.fps, "--start") or 0
        end = parse_position(opts.end, stream.fps, "--end")
        if end is not None and end < start:
            raise InputError(f"--end ({opts.end}) is before --start ({opts.start})")
        if start and hasattr(stream, "seek"):
            stream.seek(start)
        detector = MotionDetector(model, threshold_area=opts.threshold_area,
                                  max_area=opts.max_area, kernel=opts.kernel,
                                  min_area=opts.min_area, roi=roi, gray=opts.gray,
                                  scale=opts.scale)
        tracker = EventTracker(opts.min_event_frames, opts.event_gap, opts.pre, opts.post)
        created_dir = prepare_output_dir(out_dir)
        total = stream.frame_count
        if total is not None:
            total = max(0, min(total, (end + 1) if end is not None else total) - start)
            if opts.max_frames is not None:
                total = min(total, opts.max_frames)
        progress = Progress(total, opts.quiet, progress_stream, force=opts.progress)
        if opts.display:
            from .display import Display, display_available

            if display_available():
                display = Display()
        mask_sink = overlay_sink = None
        csv_sink = FramesCsv(out_dir / "frames.csv")
        sinks.append(csv_sink)
        clips = None
        if opts.clips:
            clips = ClipRecorder(out_dir / "clips", stream.fps,
                                 opts.pre + opts.min_event_frames + 1)
            sinks.append(clips)
        frozen = False
        snapshots = 0
        first_shape = None
        t0 = time.monotonic()
        frames_in = iter(stream)
        if opts.init_frames:
            # read ahead, fit, then process these frames like the rest
            import itertools

            head = []
            for frame in frames_in:
                if frame.index < start:
                    continue
                head.append(frame)
                if len(head) >= opts.init_frames or stop.is_set():
                    break
            if head:
                model.fit_frames([detector.prepare(f.image) for f in head])
            frames_in = itertools.chain(head, frames_in)
        for frame in frames_in:
            if stop.is_set():
                summary["interrupted"] = True
                break
            if frame.index < start:
                continue
            if end is not None and frame.index > end:
                break
            if opts.max_frames is not None and summary["frames"] >= opts.max_frames:
                break
            if first_shape is None:
                first_shape = frame.image.shape
            elif frame.image.shape != first_shape:
                raise InputError(f"frame {frame.index} is {_size(frame.image.shape)}, the "
                                 f"stream started at {_size(first_shape)}; stopped there")
            if roi is not None and roi.shape != frame.image.shape[:2]:
                raise InputError(f"ROI {opts.roi} is {roi.shape[1]}x{roi.shape[0]}, frames are "
                                 f"{frame.image.shape[1]}x{frame.image.shape[0]}")
            try:
                r = detector.process(frame.image, frame.time, index=frame.index,
                                     learning_rate=0.0 if frozen else None)
            except ValueError as exc:  # e.g. the frame size changed mid-stream
                raise InputError(f"frame {frame.index}: {exc}") from None
            h, w = frame.image.shape[:2]
            mask_full = r.mask
            if mask_full.shape != (h, w):
                import cv2

                mask_full = cv2.resize(mask_full, (w, h), interpolation=cv2.INTER_NEAREST)
            if opts.mask_format == "video":
                if mask_sink is None:
                    mask_sink = VideoSink(out_dir / MASK_VIDEO[0], MASK_VIDEO[1], stream.fps,
                                          (w, h), color=False)
                    sinks.append(mask_sink)
                mask_sink.write(mask_full)
            elif opts.mask_format == "png":
                if mask_sink is None:
                    mask_sink = PngMaskSink(out_dir / "masks")
                    sinks.append(mask_sink)
                mask_sink.write(mask_full, frame.index + 1)
            overlay = None
            if opts.overlay or display is not None:
                overlay = draw_overlay(frame.image, r, f"{timecode(frame.time)}  ")
            if opts.overlay:
                if overlay_sink is None:
                    overlay_sink = VideoSink(out_dir / OVERLAY_VIDEO[0], OVERLAY_VIDEO[1],
                                             stream.fps, (w, h))
                    sinks.append(overlay_sink)
                overlay_sink.write(overlay)
            csv_sink.write(r, frame.index)
            closed = tracker.update(r)
            if clips is not None:
                clips.feed(frame.index, frame.image, r.moving, tracker.open_start, closed)
            summary["frames"] += 1
            if summary["first_frame"] is None:
                summary["first_frame"] = frame.index
            summary["last_frame"] = frame.index
            progress.update(summary["frames"], len(tracker.events))
            if display is not None:
                background = None
                if summary["frames"] % 15 == 1:
                    background = model.background_image()
                    if background is not None and background.shape[:2] != (h, w):
                        import cv2

                        background = cv2.resize(background, (w, h))
                actions = display.show(overlay, mask_full, background)
                while display.paused and "quit" not in actions:
                    actions += display.poll(50)
                if "quit" in actions:
                    stop.set("quit key")
                if "freeze" in actions:
                    frozen = not frozen
                if "reset" in actions:
                    model.reset()
                if "snapshot" in actions:
                    snapshots += 1
                    write_image_atomic(out_dir / f"snapshot{snapshots:03d}.png", overlay)
        else:
            summary["stopped_early"] = stream.stopped_early
        if stop.is_set():
            summary["interrupted"] = True
        summary["seconds"] = round(time.monotonic() - t0, 3)
    except KeyboardInterrupt:
        summary["interrupted"] = True
    except Exception as exc:
        # finalise what was written, then report the failure
        write_failed = isinstance(exc, OSError)
        if isinstance(exc, (InputError, SourceError)):
            summary["error"] = str(exc)
        elif isinstance(exc, OSError):
            summary["error"] = describe_os_error(exc)
        else:
            summary["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        for s in sinks:
            if isinstance(s, ClipRecorder) and summary["error"] is None and summary["frames"]:
                continue  # finished below, once the last event's end is known
            if write_failed:
                s.abort()  # the disk is full or gone: finalising would leave broken files
                continue
            try:
                s.close()
            except OSError as exc:  # keep closing the others; drop what could not be closed
                s.abort()
                summary["error"] = summary["error"] or describe_os_error(exc)
        stop.on_set = None
        stream.close()
        if display is not None:
            display.close()
    if summary["frames"] == 0:
        if summary["error"] is None and not summary["interrupted"]:
            summary["error"] = "no frames in range" + (
                f" (--start {opts.start})" if opts.start else "")
        # nothing was processed: leave no empty outputs behind
        for s in sinks:
            path = getattr(s, "path", None)
            if path is not None and path.is_file() and path.name == "frames.csv":
                path.unlink()
        if created_dir and out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()
    events = []
    if summary["frames"] and not write_failed:
        try:
            events = _finish_outputs(model, tracker, clips, out_dir, opts, summary)
        except OSError as exc:
            if clips is not None:
                clips.abort()
            summary["error"] = summary["error"] or describe_os_error(exc)
            write_failed = True
    summary["fps"] = round(summary["frames"] / summary["seconds"], 1) if summary.get(
        "seconds") else None
    summary["events"] = sum(1 for e in events if e["kind"] == "motion")
    summary["global_changes"] = sum(1 for e in events if e["kind"] == "global_change")
    if out_dir.exists() and summary["frames"] and not write_failed:
        doc = {"bgsub_report_version": REPORT_VERSION, "input": str(source),
               "fps": stream.fps, "parameters": _parameters(model, opts),
               "summary": {k: v for k, v in summary.items() if k != "output_dir"},
               "events": events}
        try:
            write_atomic(out_dir / "events.json", events_json(doc))
            write_atomic(out_dir / "events.csv", events_csv(events))
        except OSError as exc:
            summary["error"] = summary["error"] or describe_os_error(exc)
    if summary["frames"] and progress.tty:
        progress.update(summary["frames"], summary["events"], force=True)
        progress.done()
    summary["ok"] = summary["error"] is None
    summary["events_list"] = events
    return summary


def _finish_outputs(model, tracker, clips, out_dir: Path, opts: RunOptions,
                    summary: dict) -> list[dict]:
    """Close the events still open, finish the clips, write the background and the model;
    returns the events as dicts."""
    from .sinks import write_image_atomic

    closed = tracker.finish()
    if clips is not None:
        clips.finish(closed)
    events = [e.as_dict() for e in tracker.events]
    if clips is not None:
        motion = [e for e in events if e["kind"] == "motion"]
        for e, path in zip(motion, clips.paths):
            e["clip"] = str(path.relative_to(out_dir))
    bg = model.background_image()
    if bg is not None:
        write_image_atomic(out_dir / "background.png", bg)
    if opts.save_model:
        model.save(out_dir / "model.npz")
    return events


def _size(shape) -> str:
    return f"{shape[1]}x{shape[0]}"


def _parameters(model, opts: RunOptions) -> dict:
    p = {"model": model.get_params()}
    p.update({k: getattr(opts, k) for k in (
        "gray", "scale", "roi", "start", "end", "max_frames", "kernel", "min_area",
        "threshold_area", "max_area", "min_event_frames", "event_gap", "pre", "post")})
    return p
