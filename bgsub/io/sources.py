"""Video sources: files, cameras, network streams, image folders and printf patterns.

``open_video(source)`` returns a :class:`VideoStream`; iterating it yields :class:`Frame`
objects (index, timestamp in seconds, BGR image).  Live sources (camera indices, URLs) are read
on a thread into a bounded queue that drops the oldest frame, and reconnect with backoff when
they stop delivering.
"""

from __future__ import annotations

import os
import queue
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

if TYPE_CHECKING:
    from typing_extensions import Self

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
URL_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://",
               "srt://")


class SourceError(Exception):
    """A source that cannot be opened or read; the message names the problem."""


@dataclass
class Frame:
    index: int  # 0-based position in the stream (frames read, after --start)
    time: float  # seconds: presentation time, index / fps, or wall-clock since opening (live)
    image: np.ndarray  # uint8 BGR (H, W, 3) or gray (H, W)


def timecode(seconds: float) -> str:
    """HH:MM:SS.mmm"""
    ms = int(round(max(seconds, 0.0) * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


class VideoStream:
    """Base class: a finite or live sequence of frames."""

    name: str = ""
    live: bool = False
    fps: float = 0.0
    frame_count: int | None = None  # None when unknown (live, some containers)
    stopped_early: str | None = None  # why reading ended before the end, if it did

    def read(self) -> Frame | None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def interrupt(self) -> None:
        """Make a blocked :meth:`read` return None soon (safe from a signal handler)."""

    def __iter__(self) -> Iterator[Frame]:
        while True:
            f = self.read()
            if f is None:
                return
            yield f

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------- files
class FileStream(VideoStream):
    """A video file through OpenCV's FFmpeg backend.  ``threads``: the decoder's threads (None:
    FFmpeg's choice, one per core)."""

    def __init__(self, path: Path, threads: int | None = None):
        import cv2

        self.path = Path(path)
        self.name = self.path.name
        if not self.path.exists():
            raise SourceError(f"{path}: no such file")
        if self.path.is_dir():
            raise SourceError(f"{path}: is a folder with no images")
        if self.path.stat().st_size == 0:
            raise SourceError(f"{path}: empty file")
        params = [cv2.CAP_PROP_N_THREADS, threads] if threads else []
        self.cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG, params)
        if not self.cap.isOpened():
            self.cap.release()
            raise SourceError(f"{path}: not a video OpenCV can decode")
        self.fps = float(self.cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not (0 < self.fps < 1000):
            self.fps = 25.0
        n = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count = n if n > 0 else None
        self.index = 0
        ok, first = self.cap.read()
        if not ok or first is None:
            self.cap.release()
            raise SourceError(f"{path}: no decodable frame")
        self._pending = first
        self._pos_ms = float(self.cap.get(cv2.CAP_PROP_POS_MSEC))

    def read(self):
        import cv2

        if self._pending is not None:
            img, self._pending = self._pending, None
            pos = self._pos_ms
        else:
            ok, img = self.cap.read()
            if not ok or img is None:
                # container frame counts are estimates: allow a little slack
                slack = max(5, self.frame_count // 100) if self.frame_count else 0
                if self.frame_count is not None and self.index < self.frame_count - slack:
                    self.stopped_early = (f"decoding stopped at frame {self.index} of "
                                          f"{self.frame_count} (truncated or corrupt file?)")
                return None
            pos = float(self.cap.get(cv2.CAP_PROP_POS_MSEC))
        # presentation time relative to the first frame (AVI and B-frame streams start late)
        if self.index == 0:
            self._pts0 = pos
        if pos > 0 or self.index == 0:
            t = (pos - self._pts0) / 1000.0
        else:
            t = self.index / self.fps
        f = Frame(self.index, t, img)
        self.index += 1
        return f

    def seek(self, index: int) -> None:
        """Skip to frame ``index`` by decoding (exact for every codec and timestamp)."""
        while self.index < index:
            if self.read() is None:
                return

    def close(self):
        self.cap.release()


# ---------------------------------------------------------------------------- images
_PRINTF = re.compile(r"%0?\d*d")
_NUMBERED_STEM = re.compile(r"(.*?)([0-9]+)")  # lazy prefix: the number is the last digit run
_DIGITS = re.compile(r"[0-9]+")


@dataclass
class NumberedImages:
    """One series of numbered files in a folder: ``<prefix><number><suffix>``.

    ``files`` maps each number to its path; ``unnumbered`` lists the image files of the folder
    that carry no number (they belong to no series and are not read)."""

    folder: Path
    prefix: str
    suffix: str
    files: dict[int, Path]
    unnumbered: list[str]

    def __len__(self):
        return len(self.files)

    @property
    def numbers(self) -> list[int]:
        return sorted(self.files)

    def span(self) -> str:
        """``first..last`` frame numbers, or ``none``."""
        n = self.numbers
        return f"{n[0]}..{n[-1]}" if n else "none"

    def describe(self) -> str:
        """``341 frames named a_000000.png..a_000340.png``"""
        n = self.numbers
        if not n:
            return "0 frames"
        first, last = self.files[n[0]].name, self.files[n[-1]].name
        names = first if len(n) == 1 else f"{first}..{last}"
        return f"{len(n)} frame{'s' * (len(n) != 1)} named {names}"

    def pattern(self) -> str:
        """A printf pattern that names exactly this series (``in%06d.jpg``)."""
        if not self.files:
            return f"{self.prefix}%d{self.suffix}"
        name = self.files[self.numbers[0]].name
        digits = name[len(self.prefix):len(name) - len(self.suffix)]
        width = f"0{len(digits)}" if digits.startswith("0") and len(digits) > 1 else ""
        return f"{self.prefix}%{width}d{name[len(name) - len(self.suffix):]}"


class MixedSeriesError(SourceError):
    """A folder holding two or more series of numbered images; ``series``: largest first."""

    def __init__(self, message: str, series: list[NumberedImages]):
        super().__init__(message)
        self.series = series


def numbered_series(folder: Path, prefix: str | None = None,
                    suffix: str | None = None) -> tuple[list[NumberedImages], list[str]]:
    """Every series of numbered files in ``folder``, largest first, and the unnumbered images.

    A file is ``<prefix><digits><suffix>``: the number is the last run of digits before the
    suffix.  With ``prefix``/``suffix`` None, any prefix (or none) and any image suffix
    (:data:`IMAGE_SUFFIXES`, case-insensitive) is accepted and the files are grouped into series
    by (prefix, suffix); given, only files with exactly that prefix/suffix count.  Hidden files
    (``.name``) are skipped.  Raises :class:`SourceError` when two files of one series carry the
    same number (``f1.png`` and ``f01.png``).
    """
    folder = Path(folder)
    groups: dict[tuple[str, str], dict[int, Path]] = {}
    unnumbered = []
    for p in folder.iterdir():
        name = p.name
        if name.startswith(".") and not (prefix or "").startswith("."):
            continue  # hidden (macOS ._in000001.jpg and the like)
        if suffix is None:
            dot = name.rfind(".")
            sfx = name[dot:] if dot > 0 else ""
            if sfx.lower() not in IMAGE_SUFFIXES:
                continue
            key_sfx = sfx.lower()
        else:
            if not name.endswith(suffix):
                continue
            sfx = key_sfx = suffix
        stem = name[:len(name) - len(sfx)]
        if prefix is None:
            m = _NUMBERED_STEM.fullmatch(stem)
            pre, digits = (m.group(1), m.group(2)) if m else (stem, "")
        else:
            pre, digits = prefix, stem[len(prefix):]
            if not stem.startswith(prefix) or not _DIGITS.fullmatch(digits):
                continue
        if not p.is_file():
            continue
        if not digits:
            unnumbered.append(name)
            continue
        series = groups.setdefault((pre, key_sfx), {})
        n = int(digits)
        if n in series:
            a, b = sorted((series[n].name, name))
            raise SourceError(f"{folder}: {a} and {b} both have frame number {n}")
        series[n] = p
    unnumbered.sort()
    out = [NumberedImages(folder, pre, sfx, files, unnumbered)
           for (pre, sfx), files in groups.items()]
    out.sort(key=lambda s: (-len(s), s.prefix, s.suffix))
    return out, unnumbered


def numbered_images(folder: Path, prefix: str | None = None,
                    suffix: str | None = None) -> NumberedImages:
    """The one series of numbered images in ``folder`` (see :func:`numbered_series`).

    No series: an empty :class:`NumberedImages`.  Two or more series (``cam1_0001.png`` and
    ``cam2_0001.png``): a :class:`MixedSeriesError` that names the two largest -- which one is the
    video is not for us to guess."""
    series, unnumbered = numbered_series(folder, prefix, suffix)
    if not series:
        return NumberedImages(Path(folder), prefix or "", suffix or "", {}, unnumbered)
    if len(series) > 1:
        a, b = series[0], series[1]
        more = f" (and {len(series) - 2} more)" if len(series) > 2 else ""
        raise MixedSeriesError(f"{folder}: {len(series)} series of numbered images, "
                               f"{a.describe()} and {b.describe()}{more}; keep one series "
                               "per folder", series)
    return series[0]


class ImageSequenceStream(VideoStream):
    """A folder of numbered images in numeric order, or a printf pattern such as
    ``in%06d.jpg``.

    A folder holds one series ``<prefix><number><image suffix>`` (``in000001.jpg``,
    ``frame_12.png``, ``000123.png``); images without a number are left out
    (:attr:`notes` says so); a folder of images none of which is numbered is read in name
    order."""

    def __init__(self, source: str | Path, fps: float = 25.0):
        source = str(source)
        self.fps = fps
        self.notes: list[str] = []
        name = Path(source).name
        m = _PRINTF.search(name)
        if m:
            folder = Path(source).parent
            if not folder.is_dir():
                raise SourceError(f"{source}: folder {folder} does not exist")
            series = numbered_images(folder, name[:m.start()], name[m.end():])
            if not series.files:
                raise SourceError(f"{source}: no file matches the pattern")
            self.files = [series.files[n] for n in series.numbers]
            self.name = name
        else:
            folder = Path(source)
            if not folder.is_dir():
                raise SourceError(f"{source}: not a folder")
            try:
                series = numbered_images(folder)
            except MixedSeriesError as exc:
                raise SourceError(f"{exc}, or name one with a pattern such as "
                                  f"{folder / exc.series[0].pattern()}") from None
            if series.files:
                self.files = [series.files[n] for n in series.numbers]
                if series.unnumbered:
                    self.notes.append(f"{len(series.unnumbered)} image(s) without a frame "
                                      f"number left out ({', '.join(series.unnumbered[:3])}"
                                      f"{', ...' if len(series.unnumbered) > 3 else ''})")
            elif series.unnumbered:
                self.files = [folder / n for n in series.unnumbered]
                self.notes.append("no numbered images: read in name order")
            else:
                hint = (f" (it has an input/ folder: pass {folder / 'input'})"
                        if (folder / "input").is_dir() else "")
                raise SourceError(f"{source}: no images found{hint}")
            self.name = folder.name
        self.frame_count = len(self.files)
        self.index = 0

    def read(self):
        import cv2

        if self.index >= len(self.files):
            return None
        p = self.files[self.index]
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            self.stopped_early = f"{p.name}: unreadable image; stopped there"
            self.index = len(self.files)
            return None
        f = Frame(self.index, self.index / self.fps, img)
        self.index += 1
        return f

    def seek(self, index: int) -> None:
        self.index = min(max(index, 0), len(self.files))


# ---------------------------------------------------------------------------- live
class LiveStream(VideoStream):
    """A camera index or a network URL, read on a thread into a bounded drop-oldest queue.

    When the source stops delivering, the reader reopens it with exponential backoff (0.5 s,
    1 s, 2 s, ... at most 5 s apart) until ``reconnect_timeout`` seconds have passed without a
    frame; then the stream ends.
    """

    live = True

    def __init__(self, source: int | str, reconnect_timeout: float = 30.0, queue_size: int = 4,
                 open_timeout: float = 10.0):
        self.source = source
        self.name = f"camera{source}" if isinstance(source, int) else _url_name(source)
        self.reconnect_timeout = reconnect_timeout
        self.open_timeout = open_timeout
        self.queue: queue.Queue = queue.Queue(maxsize=max(1, queue_size))
        self.dropped = 0
        self.reconnects = 0
        self.index = 0
        self._stop = threading.Event()
        self._t0 = None
        cap = self._open()
        if cap is None:
            what = f"camera {source}" if isinstance(source, int) else f"{source}"
            raise SourceError(f"{what}: cannot open (no such camera, or nobody answers)")
        import cv2

        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 0 < fps < 1000 else 25.0
        self._thread = threading.Thread(target=self._run, args=(cap,), daemon=True,
                                        name=f"bgsub-reader-{self.name}")
        self._thread.start()

    def _open(self):
        import cv2

        if isinstance(self.source, int):
            cap = cv2.VideoCapture(self.source)
        else:
            ms = int(self.open_timeout * 1000)
            cap = cv2.VideoCapture(self.source, cv2.CAP_FFMPEG,
                                   [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms,
                                    cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms])
        if not cap.isOpened():
            cap.release()
            return None
        return cap

    def _put(self, item):
        while True:
            try:
                self.queue.put_nowait(item)
                return
            except queue.Full:
                try:
                    self.queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def _run(self, cap):
        last_frame = time.monotonic()
        delay = 0.5
        try:
            while not self._stop.is_set():
                if cap is not None:
                    ok, img = cap.read()
                    if ok and img is not None:
                        now = time.monotonic()
                        if self._t0 is None:
                            self._t0 = now
                        self._put((now - self._t0, img))
                        last_frame = now
                        delay = 0.5
                        continue
                    cap.release()
                    cap = None
                if time.monotonic() - last_frame > self.reconnect_timeout:
                    self.stopped_early = (f"no frame for {self.reconnect_timeout:g} s; gave up "
                                          f"after {self.reconnects} reconnect attempts")
                    break
                if self._stop.wait(delay):
                    break
                delay = min(delay * 2, 5.0)
                self.reconnects += 1
                cap = self._open()
        finally:
            if cap is not None:
                cap.release()
            self._put(None)  # end of stream

    def read(self):
        while True:
            try:
                item = self.queue.get(timeout=0.5)
            except queue.Empty:
                if self._stop.is_set():
                    return None
                continue
            if item is None:
                return None
            t, img = item
            f = Frame(self.index, t, img)
            self.index += 1
            return f

    def interrupt(self):
        self._stop.set()

    def close(self):
        self._stop.set()
        self._thread.join(timeout=10)


def _url_name(url: str) -> str:
    tail = re.sub(r"^[a-z]+://", "", url).split("?")[0].rstrip("/")
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", tail)
    return name[-60:] or "stream"


# ---------------------------------------------------------------------------- factory
def open_video(source: int | str | os.PathLike[str], reconnect_timeout: float = 30.0,
               fps: float | None = None, decode_threads: int | None = None) -> VideoStream:
    """Open ``source``: an int or digit string (camera index), a URL, a folder of images, a
    printf pattern (``frames/in%06d.jpg``) or a video file (decoded on ``decode_threads``
    threads: None lets FFmpeg choose)."""
    if isinstance(source, (int, np.integer)) or (isinstance(source, str) and source.isdigit()):
        return LiveStream(int(source), reconnect_timeout=reconnect_timeout)
    s = str(source)
    if s.lower().startswith(URL_SCHEMES):
        return LiveStream(s, reconnect_timeout=reconnect_timeout)
    p = Path(s)
    if _PRINTF.search(p.name):
        return ImageSequenceStream(s, fps=fps or 25.0)
    if p.is_dir():
        return ImageSequenceStream(p, fps=fps or 25.0)
    return FileStream(p, threads=decode_threads)
