"""Video sources: files, cameras, network streams, image folders and printf patterns.

``open_video(source)`` returns a :class:`VideoStream`; iterating it yields :class:`Frame`
objects (index, timestamp in seconds, BGR image).  Live sources (camera indices, URLs) are read
on a thread into a bounded queue that drops the oldest frame, and reconnect with backoff when
they stop delivering.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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

    def __iter__(self):
        while True:
            f = self.read()
            if f is None:
                return
            yield f

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------------------- files
class FileStream(VideoStream):
    """A video file through OpenCV's FFmpeg backend."""

    def __init__(self, path: Path):
        import cv2

        self.path = Path(path)
        self.name = self.path.name
        if not self.path.exists():
            raise SourceError(f"{path}: no such file")
        if self.path.is_dir():
            raise SourceError(f"{path}: is a folder with no images")
        if self.path.stat().st_size == 0:
            raise SourceError(f"{path}: empty file")
        self.cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
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


class ImageSequenceStream(VideoStream):
    """A folder of images in numeric order, or a printf pattern such as ``in%06d.jpg``."""

    def __init__(self, source: str | Path, fps: float = 25.0):
        source = str(source)
        self.fps = fps
        name = Path(source).name
        m = _PRINTF.search(name)
        if m:
            folder = Path(source).parent
            rx = re.compile("^" + re.escape(name[:m.start()]) + r"(\d+)"
                            + re.escape(name[m.end():]) + "$")
            if not folder.is_dir():
                raise SourceError(f"{source}: folder {folder} does not exist")
            files = []
            for p in folder.iterdir():
                mm = rx.match(p.name)
                if mm:
                    files.append((int(mm.group(1)), p))
            self.name = Path(source).name
        else:
            folder = Path(source)
            files = []
            for p in folder.iterdir():
                if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
                    m = re.search(r"(\d+)(?!.*\d)", p.stem)
                    files.append((int(m.group(1)) if m else -1, p))
            self.name = folder.name
        files.sort(key=lambda t: (t[0], t[1].name))
        if not files:
            raise SourceError(f"{source}: no images found")
        self.files = [p for _, p in files]
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
def open_video(source, reconnect_timeout: float = 30.0, fps: float | None = None) -> VideoStream:
    """Open ``source``: an int or digit string (camera index), a URL, a folder of images, a
    printf pattern (``frames/in%06d.jpg``) or a video file."""
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
    return FileStream(p)
