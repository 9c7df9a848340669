"""Outputs of a run: mask video or PNGs, overlay video, per-frame CSV, event reports, images.

Every file is written under a temporary name in its final folder and renamed when complete, so
an interrupted run never leaves a half-written file under a final name; video writers are
released (finalised) on every exit path, so what was written stays playable.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np

MASK_VIDEO = ("mask.mkv", "FFV1")  # lossless
OVERLAY_VIDEO = ("overlay.mp4", "mp4v")
PARTIAL_GLOB = ".*.partial*"


class SinkError(OSError):
    """An output could not be written; the message names the file and the cause."""


def partial_name(path: Path) -> Path:
    """``dir/.name.partial.ext``: same folder (so the rename is atomic), same extension (so
    OpenCV picks the right container)."""
    return path.with_name(f".{path.stem}.partial{path.suffix}")


def remove_stale_partials(folder: Path) -> int:
    """Delete the temporary files a killed run left in ``folder`` (and its ``clips/``)."""
    n = 0
    for sub in (Path(folder), Path(folder) / "clips", Path(folder) / "masks"):
        if sub.is_dir():
            for p in sub.glob(PARTIAL_GLOB):
                p.unlink(missing_ok=True)
                n += 1
    return n


def describe_os_error(exc: OSError) -> str:
    """``path: reason`` for an OSError, without Python's ``[Errno N]`` decoration."""
    if isinstance(exc, SinkError) or not exc.strerror:
        return str(exc)
    name = exc.filename
    if name is not None:
        p = Path(name)
        # name the final file, not its temporary name
        if p.name.startswith(".") and ".partial" in p.name:
            p = p.with_name(p.name[1:].replace(".partial", "", 1))
        return f"{p}: {exc.strerror}"
    return exc.strerror


def _why_write_failed(path: Path) -> str:
    try:
        if shutil.disk_usage(path.parent).free < 1 << 20:
            return os.strerror(errno.ENOSPC)
    except OSError:
        pass
    return "write failed"


def _unlink(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def write_atomic(path: Path, data: bytes | str) -> None:
    path = Path(path)
    tmp = partial_name(path)
    mode = "w" if isinstance(data, str) else "wb"
    try:
        with open(tmp, mode, **({"encoding": "utf-8", "newline": ""} if mode == "w"
                                else {})) as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError:
        _unlink(tmp)
        raise


def write_image_atomic(path: Path, image: np.ndarray) -> None:
    """Encode in memory (the format from the suffix), then write atomically: a full disk is
    an OSError naming the file, and libpng prints nothing of its own."""
    import cv2

    path = Path(path)
    ok, buf = cv2.imencode(path.suffix or ".png", image)
    if not ok:
        raise SinkError(f"{path}: could not encode the image")
    write_atomic(path, buf.tobytes())


class VideoSink:
    """A video file written through OpenCV, renamed into place on close."""

    def __init__(self, path: Path, fourcc: str, fps: float, size: tuple[int, int],
                 color: bool = True):
        import cv2

        self.path = Path(path)
        self.tmp = partial_name(self.path)
        self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*fourcc),
                                      fps if fps > 0 else 25.0, size, color)
        if not self.writer.isOpened():
            raise OSError(f"{self.path}: cannot open a {fourcc} video writer")
        self.frames = 0

    def write(self, image: np.ndarray) -> None:
        # OpenCV 5 returns False when FFmpeg fails to write (a full disk); 4.x returns None
        if self.writer.write(image) is False:
            raise SinkError(f"{self.path}: {_why_write_failed(self.path)} after "
                            f"{self.frames} frames")
        self.frames += 1

    def close(self) -> None:
        """Finalise the container and rename it into place (nothing for an empty video)."""
        if self.writer is None:
            return
        self.writer.release()
        self.writer = None
        if self.frames:
            os.replace(self.tmp, self.path)
        else:
            _unlink(self.tmp)

    def abort(self) -> None:
        """Drop the temporary file: after a failed write it is not a whole video."""
        if self.writer is not None:
            self.writer.release()
            self.writer = None
        _unlink(self.tmp)


class PngMaskSink:
    """Masks as CDnet-named PNGs (``binNNNNNN.png``, numbered from 1) in a folder."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.frames = 0
        self.path = self.folder

    def write(self, mask: np.ndarray, number: int) -> None:
        write_image_atomic(self.folder / f"bin{number:06d}.png", mask)
        self.frames += 1

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass  # every PNG is written whole or not at all


class FramesCsv:
    """``frames.csv``: index, time, timecode, fraction, blobs, moving, global_change, and the
    image's move since the first frame (``camera_shift``: dx, dy; empty without one)."""

    HEADER = ["frame", "seconds", "timecode", "fraction", "blobs", "moving", "global_change",
              "dx", "dy"]

    def __init__(self, path: Path):
        self.path = Path(path)
        self.tmp = partial_name(self.path)
        # line-buffered: what was processed is on disk as it happens (tail -f works)
        self.fh = open(self.tmp, "w", newline="", encoding="utf-8", buffering=1)
        self.writer = csv.writer(self.fh, lineterminator="\n")
        self.writer.writerow(self.HEADER)

    def write(self, r, frame_number: int) -> None:
        from bgsub.io.sources import timecode

        shift = r.camera_shift or ("", "")
        self.writer.writerow([frame_number, f"{r.time:.3f}", timecode(r.time),
                              f"{r.fraction:.6f}", len(r.boxes), int(r.moving),
                              int(r.global_change), shift[0], shift[1]])

    def close(self) -> None:
        if self.fh is None:
            return
        fh, self.fh = self.fh, None
        fh.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        if self.fh is not None:
            fh, self.fh = self.fh, None
            try:
                fh.close()
            except OSError:
                pass
        _unlink(self.tmp)


def draw_overlay(image: np.ndarray, result, label: str = "", zones=()) -> np.ndarray:
    """The frame with the blobs' boxes, the ``zones`` (those the result touched in red) and a
    status line."""
    import cv2

    from bgsub.io.annotate import draw_label, draw_zones

    out = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    out = out.copy()
    if zones:
        draw_zones(out, zones, getattr(result, "zones", ()))
    color = (0, 0, 255) if result.moving else (0, 200, 255)
    for x, y, w, h, _ in result.boxes:
        cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), color, 2)
    text = f"{label}{result.fraction * 100:.2f}%"
    if result.global_change:
        text += " GLOBAL CHANGE"
    elif result.moving:
        text += " MOTION"
    draw_label(out, text, (6, 6))
    return out


def events_json(doc: dict) -> str:
    return json.dumps(doc, indent=2) + "\n"


def events_csv(events: list[dict]) -> str:
    buf = io.StringIO()
    cols = ["kind", "start_frame", "end_frame", "start_seconds", "end_seconds", "start_timecode",
            "end_timecode", "duration_seconds", "peak_fraction", "frames_moving", "zones",
            "dx", "dy"]
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for e in events:  # zones: names separated by spaces; dx, dy: a camera move's
        w.writerow({c: " ".join(e.get(c) or ()) if c == "zones" else e.get(c, "")
                    for c in cols})
    return buf.getvalue()


class ClipRecorder:
    """One video per motion event (``clips/event001.mp4`` ...), padding included, in one pass.

    Fed every frame after the event tracker has seen it.  Frames before an event are kept in a
    short ring (for ``pre`` padding and the frames that confirmed the event); quiet frames inside
    an event are held back until the event either goes on (they are written) or closes (those
    up to its padded end are written, the rest go back to the ring).
    """

    def __init__(self, folder: Path, fps: float, lookback: int):
        from collections import deque

        self.folder = Path(folder)
        self.fps = fps
        self.ring = deque(maxlen=max(1, lookback))
        self.pending: list = []
        self.sink: VideoSink | None = None
        self.paths: list[Path] = []

    def _start(self, start: int, index: int, image: np.ndarray):
        self.folder.mkdir(parents=True, exist_ok=True)
        h, w = image.shape[:2]
        path = self.folder / f"event{len(self.paths) + 1:03d}.mp4"
        self.sink = VideoSink(path, "mp4v", self.fps, (w, h), color=image.ndim == 3)
        for i, img in self.ring:
            if i >= start:
                self.sink.write(img)
        self.ring.clear()
        self.sink.write(image)

    def _stop(self, end: int):
        for i, img in self.pending:
            if i <= end:
                self.sink.write(img)
            else:
                self.ring.append((i, img))
        self.pending = []
        self.sink.close()
        self.paths.append(self.sink.path)
        self.sink = None

    def feed(self, index: int, image: np.ndarray, moving: bool, open_start: int | None,
             closed: list) -> None:
        if self.sink is None:
            if open_start is not None:
                self._start(open_start, index, image)
            else:
                self.ring.append((index, image))
            return
        ended = [e for e in closed if e.kind == "motion"]
        if ended:
            self.pending.append((index, image))
            self._stop(ended[-1].end)
        elif moving:
            for _, img in self.pending:
                self.sink.write(img)
            self.pending = []
            self.sink.write(image)
        else:
            self.pending.append((index, image))

    def finish(self, closed: list) -> None:
        ended = [e for e in closed if e.kind == "motion"]
        if self.sink is not None:
            self._stop(ended[-1].end if ended else float("inf"))

    def close(self) -> None:
        """On an error path: finalise the clip in progress as it is."""
        if self.sink is not None:
            sink, self.sink = self.sink, None
            sink.close()
            self.paths.append(sink.path)

    def abort(self) -> None:
        """After a failed write: drop the clip in progress; finished clips stay."""
        if self.sink is not None:
            sink, self.sink = self.sink, None
            sink.abort()

    @property
    def path(self):
        return self.folder


class RunOutputs:
    """The per-frame outputs of one run: masks (video or PNGs), overlay video, frames.csv and
    event clips, opened on the first frame (when its size is known).  :meth:`write` takes one
    frame's ``(frame, result, mask, open_start, closed)``: the source frame, the
    :class:`~bgsub.motion.MotionResult`, its mask at the frame's size, and the event tracker's
    open event start and closed events after that frame."""

    def __init__(self, out_dir: Path, fps: float, mask_format: str = "video",
                 overlay: bool = False, clip_lookback: int | None = None, recorder=None):
        self.out_dir = Path(out_dir)
        self.recorder = recorder  # e.g. bgsub.report.RunRecorder: what the report needs
        self.fps = fps
        self.mask_format = mask_format
        self.overlay = overlay
        self.csv = FramesCsv(self.out_dir / "frames.csv")
        self.clips = (ClipRecorder(self.out_dir / "clips", fps, clip_lookback)
                      if clip_lookback is not None else None)
        self.masks = self.overlay_video = None
        self.frames = 0
        self.zones = ()  # bgsub.motion.zones.Zone s drawn on the overlay
        self.after_write = None  # called with each item once its outputs are written

    def _open(self, w: int, h: int):
        if self.mask_format == "video":
            self.masks = VideoSink(self.out_dir / MASK_VIDEO[0], MASK_VIDEO[1], self.fps, (w, h),
                                   color=False)
        elif self.mask_format == "png":
            self.masks = PngMaskSink(self.out_dir / "masks")
        if self.overlay:
            self.overlay_video = VideoSink(self.out_dir / OVERLAY_VIDEO[0], OVERLAY_VIDEO[1],
                                           self.fps, (w, h))

    def write(self, item) -> None:
        from bgsub.io.sources import timecode

        frame, r, mask, open_start, closed = item
        if self.frames == 0:
            self._open(mask.shape[1], mask.shape[0])
        if isinstance(self.masks, VideoSink):
            self.masks.write(mask)
        elif self.masks is not None:
            self.masks.write(mask, frame.index + 1)
        if self.overlay_video is not None:
            self.overlay_video.write(draw_overlay(frame.image, r, f"{timecode(frame.time)}  ",
                                                  self.zones))
        self.csv.write(r, frame.index)
        if self.recorder is not None:
            self.recorder.add(frame.index, frame.image, mask, r.fraction, frame.time, r.moving)
        if self.clips is not None:
            self.clips.feed(frame.index, frame.image, r.moving, open_start, closed)
        self.frames += 1
        if self.after_write is not None:
            self.after_write(item)

    def _sinks(self):
        return [s for s in (self.masks, self.overlay_video, self.csv, self.clips)
                if s is not None]

    def close(self, keep_empty_csv: bool = True) -> None:
        """Finalise everything (a clip in progress as it is); a sink that cannot be finalised
        is dropped and the first such error raised after the others are closed."""
        first = None
        for s in self._sinks():
            try:
                s.close()
            except OSError as exc:
                s.abort()
                first = first or exc
        if not self.frames and not keep_empty_csv:
            _unlink(self.csv.path)
        if first is not None:
            raise first

    def abort(self) -> None:
        """After a failed write (a full disk): drop every temporary file; finished clips and
        PNG masks, each whole, stay."""
        for s in self._sinks():
            s.abort()
