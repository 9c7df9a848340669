"""The ``bgsub run`` pipeline for one input: source -> model -> post-processing -> sinks.

The command line only parses options into :class:`RunOptions` and calls :func:`run_input` for
each input; everything it does is available from Python.
"""

from __future__ import annotations

import itertools
import os
import re
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from bgsub.io.sources import SourceError, open_video, timecode
from bgsub.motion.detector import CAMERA_MIN_MOVE, CAMERA_SETTLE

if TYPE_CHECKING:
    from bgsub.notify import Dispatcher

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
    # a camera move: the image held still this many frames at a place this many pixels from
    # where it held still before (bgsub.motion.detector.CameraTracker); 0 frames: none reported
    camera_settle: int = CAMERA_SETTLE
    camera_move: int = CAMERA_MIN_MOVE
    mask_format: str = "video"  # "video" (lossless FFV1 .mkv), "png" (CDnet names) or "none"
    overlay: bool = False
    clips: bool = False  # one video per motion event in clips/
    save_model: bool = False
    display: bool = True
    reconnect_timeout: float = 30.0
    quiet: bool = False
    progress: bool = False  # status lines even when stderr is not a terminal
    threaded: bool = True  # read, model, detect and write on four threads (False: one, in turn)
    model_threads: int | None = None  # a threaded run's model's Numba threads (None: model_threads)
    report: bool = True  # report.html, timeline.png and heatmap.png at the end
    serve: str | None = None  # "[HOST:]PORT": a live view of the run in a browser
    token: str | None = None  # required on every request to the live view, when set
    init_frames: int = 0  # fit the model by per-pixel batch EM on the first N frames
    # frames with a lower index are learned by the model but not written, tracked, counted or
    # shown (the warm-up of a time chunk: bgsub.scale.chunks)
    learn_only_until: int | None = None
    # polygons "[NAME:]x1,y1 x2,y2 ..." (input-frame pixels) whose union is the ROI
    roi_polygons: tuple = ()
    zones: tuple = ()  # "NAME:x1,y1 x2,y2 ...": each event lists the zones its motion touched
    name: str | None = None  # the input's name in notifications (default: its file stem)
    on_event_start: str | None = None  # command run at each event's start (bgsub.notify.hooks)
    on_event_end: str | None = None
    on_camera_moved: str | None = None  # command run at each camera move
    hook_timeout: float = 30.0  # a hook still running after this is killed
    webhook: str | None = None  # URL POSTed each event's start and end as JSON
    mqtt: str | None = None  # mqtt[s]://[USER@]HOST[:PORT]/PREFIX
    mqtt_discovery: bool = False  # publish Home Assistant's discovery config too

    @property
    def notifies(self) -> bool:
        return bool(self.on_event_start or self.on_event_end or self.on_camera_moved
                    or self.webhook or self.mqtt)


class StopFlag:
    """Set by a signal handler (Ctrl-C, SIGTERM) or a key; checked once per frame."""

    def __init__(self):
        self._event = threading.Event()
        self.reason = None
        self.on_set = None  # e.g. the current stream's interrupt()

    def set(self, reason: str = "interrupted") -> None:
        self.reason = self.reason or reason
        self._event.set()
        if self.on_set is not None:
            self.on_set()

    def is_set(self) -> bool:
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


def input_name(source, name: str | None = None) -> str:
    """The name of an input in notifications: ``name``, else the stem its output folder
    is named after (file stem, camera0, a URL's host...)."""
    return name or default_output_dir(source).name.removesuffix("_bgsub")


def default_output_dir(source) -> Path:
    s = str(source)
    if s.isdigit():
        return Path(f"camera{s}_bgsub")
    if "://" in s:
        from bgsub.io.sources import _url_name

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

    from bgsub.io.sinks import remove_stale_partials

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


def run_input(source: int | str | os.PathLike[str], out_dir: Path,
              opts: RunOptions, stop: StopFlag | None = None,
              progress_stream: TextIO | None = None,
              dispatcher: Dispatcher | None = None) -> dict[str, Any]:
    """Process one input completely; returns its summary (also written as events.json).

    Raises :class:`InputError` (or :class:`SourceError`) when the input cannot be processed at
    all; once frames flow, every exit path -- end, error, Ctrl-C -- finalises the outputs, or
    drops those that a failed write (a full disk) left incomplete.

    Motion events go to the notifiers ``opts`` names (hooks, webhook, MQTT) as they start and
    end, or to ``dispatcher`` (a started :class:`bgsub.notify.Dispatcher` shared by several
    runs, as ``bgsub watch`` does; left open).
    """
    from bgsub.model.mixture import MixtureSubtractor
    from bgsub.motion.zones import ZoneError, parse_zone, parse_zones

    stop = stop or StopFlag()
    roi = load_roi(opts.roi) if opts.roi else None
    try:
        zones = parse_zones(opts.zones)
        roi_zones = [parse_zone(p, need_name=False, what="--roi") for p in opts.roi_polygons]
    except ZoneError as exc:
        raise InputError(str(exc)) from None
    own = None
    if dispatcher is None and opts.notifies:
        from bgsub.notify import Dispatcher, NotifyConfigError, make_notifiers

        try:
            own = dispatcher = Dispatcher(make_notifiers(opts, input_name(source, opts.name)),
                                          warn=_quiet_warn if opts.quiet else None)
        except NotifyConfigError as exc:
            raise InputError(str(exc)) from None
    model = MixtureSubtractor(**opts.model_params)  # validated before the source opens
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"output path {out_dir} exists and is not a folder")
    # with the stages on threads of their own, FFmpeg's frame threads only add work: one
    # decoding thread took 20-25% less CPU a frame at 640x360 (8% at 1080p) for the same speed
    stream = open_video(source, reconnect_timeout=opts.reconnect_timeout,
                        decode_threads=1 if opts.threaded else None)
    run = _Run(source, out_dir, opts, stop, model, roi, stream, progress_stream)
    run.zones, run.roi_zones, run.dispatcher, run.own_dispatcher = zones, roi_zones, \
        dispatcher, own is not None
    try:
        run.execute()
    finally:
        stop.on_set = None
        stream.close()
        if own is not None:
            own.close()  # on a path that did not reach finish(); nothing if it did
    return run.summary


def _quiet_warn(line):
    pass


def single_threaded_opencv():
    """OpenCV's own thread pool off for a run: its stages already keep the cores busy, and the
    pool's threads only competed with them (measured: half the system time, 4-8% faster at
    640x360 and 1080p)."""
    import cv2

    cv2.setNumThreads(1)


class _Run:
    """One input's run, in named steps: :meth:`setup`, :meth:`loop` (the four stages),
    :meth:`finish` (events, background, model, reports)."""

    def __init__(self, source, out_dir, opts, stop, model, roi, stream, progress_stream):
        self.source, self.out_dir, self.opts, self.stop = source, out_dir, opts, stop
        self.model, self.roi, self.stream = model, roi, stream
        self.progress_stream = progress_stream
        self.summary = {"input": str(source), "output_dir": str(out_dir), "frames": 0,
                        "first_frame": None, "last_frame": None, "interrupted": False,
                        "stopped_early": None, "error": None}
        self.outputs = self.display = self.reader = self.modeller = self.writer = None
        self.model_threads_used = None  # None: the calling thread's Numba threads
        self.detect_cpu_seconds = self.cpu_seconds = 0.0
        self.recorder = self.server = self.background = None
        self.write_failed = False
        self.created_dir = False
        self.snapshots = 0
        self.stop.on_set = stream.interrupt
        self.zones, self.roi_zones = [], []  # bgsub.motion.zones.Zone lists
        self.zone_masks = self.event_zones = None
        self.dispatcher, self.own_dispatcher = None, False
        self.name = input_name(source, opts.name)
        self.started = self.ended = 0  # motion events started and ended (notifications)
        self.camera_moves = 0  # camera moves notified
        self.pending_ends = {}  # id(Event) -> its end record, sent once its clip is written
        self.counts0 = {}

    # ------------------------------------------------------------------ steps
    def execute(self):
        from bgsub.io.sinks import describe_os_error

        summary = self.summary
        t0 = time.monotonic()
        c0 = time.process_time()
        try:
            self.setup()
            self.loop()
            summary["stopped_early"] = self.stream.stopped_early
            summary["notes"] = list(getattr(self.stream, "notes", []))
            summary["interrupted"] = summary["interrupted"] or self.stop.is_set()
        except KeyboardInterrupt:
            summary["interrupted"] = True
        except Exception as exc:
            self.write_failed = isinstance(exc, OSError)
            if isinstance(exc, (InputError, SourceError)):
                summary["error"] = str(exc)
            elif isinstance(exc, OSError):
                summary["error"] = describe_os_error(exc)
            else:
                summary["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            self.stop_stages()
            if self.display is not None:
                self.display.close()
            if self.server is not None:
                self.server.close()
        summary["seconds"] = round(time.monotonic() - t0, 3)
        self.cpu_seconds = time.process_time() - c0  # every thread's, Numba's workers too
        t1 = time.monotonic()
        self.finish()
        # closing the outputs, the events, background, model and report
        summary["finish_seconds"] = round(time.monotonic() - t1, 3)

    def setup(self):
        from bgsub.motion.detector import EventTracker, MotionDetector
        from bgsub.io.sinks import RunOutputs

        opts, stream = self.opts, self.stream
        start = parse_position(opts.start, stream.fps, "--start") or 0
        end = parse_position(opts.end, stream.fps, "--end")
        if end is not None and end < start:
            raise InputError(f"--end ({opts.end}) is before --start ({opts.start})")
        if start and hasattr(stream, "seek"):
            stream.seek(start)
        self.start, self.end = start, end
        self.detector = MotionDetector(self.model, threshold_area=opts.threshold_area,
                                       max_area=opts.max_area, kernel=opts.kernel,
                                       min_area=opts.min_area, roi=self.roi, gray=opts.gray,
                                       scale=opts.scale)
        self.tracker = EventTracker(opts.min_event_frames, opts.event_gap, opts.pre, opts.post,
                                    opts.camera_settle, opts.camera_move)
        self.created_dir = prepare_output_dir(self.out_dir)
        total = stream.frame_count
        if total is not None:
            total = max(0, min(total, (end + 1) if end is not None else total) - start)
            if opts.max_frames is not None:
                total = min(total, opts.max_frames)
        self.progress = Progress(total, opts.quiet, self.progress_stream, force=opts.progress)
        if opts.display:
            from bgsub.io.display import Display, display_available

            if display_available():
                self.display = Display()
        if opts.report:
            from bgsub.report.run_report import RunRecorder

            self.recorder = RunRecorder(event_gap=opts.event_gap,
                                        min_event_frames=opts.min_event_frames)
        self.outputs = RunOutputs(self.out_dir, stream.fps, opts.mask_format, opts.overlay,
                                  opts.pre + opts.min_event_frames + 1 if opts.clips else None,
                                  recorder=self.recorder)
        self.outputs.zones = self.zones
        if opts.serve:
            self.start_server()
            self.server.zones = self.zones
        self.setup_events()

    def setup_events(self):
        """Zones per event, and the notifiers started (or a shared dispatcher's counts noted)."""
        from bgsub.motion.zones import EventZones

        self.event_zones = EventZones()
        if self.dispatcher:
            self.counts0 = self.dispatcher.counts()
            self.dispatcher.start()
            if self.opts.clips:  # the end goes out once the writer has closed the clip
                self.outputs.after_write = self.send_pending_ends

    def start_server(self):
        from bgsub.report.live import LiveServer, LiveServerError, check_serve

        try:
            host, port = check_serve(self.opts.serve, self.opts.token)
            self.server = LiveServer(host, port, token=self.opts.token, title=str(self.source),
                                     moving_threshold=self.opts.threshold_area).start()
        except LiveServerError as exc:
            raise InputError(str(exc)) from None
        if not self.opts.quiet:
            print(f"live view: {self.server.url}", file=sys.stderr, flush=True)

    def frames(self):
        """The reading stage: frames in range, each with the image the model sees."""
        opts, n = self.opts, 0
        for frame in self.stream:
            if self.stop.is_set():
                return
            if frame.index < self.start:
                continue
            if (self.end is not None and frame.index > self.end) or (
                    opts.max_frames is not None and n >= opts.max_frames):
                return
            n += 1
            yield frame, self.detector.prepare(frame.image)

    def loop(self):
        from bgsub.pipeline.stages import Consumer, Producer

        threaded = self.opts.threaded
        # a file's frames may be read well ahead (48 MB: 50 frames at 640x360, 8 at 1080p),
        # a live source's not: frames waiting here would be late, not dropped at the source
        ahead = None if self.stream.live else 48 << 20
        # a file's reader and the writer run at a lower priority: both have frames queued
        # (the reader up to 48 MB ahead), the model's thread has none to spare; a live
        # source's reader keeps its priority (what it misses, the camera drops)
        self.reader = Producer(self.frames(), threaded=threaded, max_bytes=ahead,
                               size_of=_frame_bytes, nice=0 if self.stream.live else STAGE_NICE)
        # the writer on a thread of its own where it encodes (a mask video or PNGs, an
        # overlay, clips); otherwise its work (frames.csv, the report's counts) is lighter
        # than handing each frame to another thread: measured 3% faster inline at 640x360
        light = self.opts.mask_format == "none" and not self.opts.overlay and not self.opts.clips
        self.writer = Consumer(self.outputs.write, threaded=threaded and not light,
                               nice=STAGE_NICE)
        items = iter(self.reader)
        if self.opts.init_frames:  # read ahead, fit, then process these frames like the rest
            head = list(itertools.islice(items, self.opts.init_frames))
            if head:
                self.model.fit_frames([small for _, small in head])
            items = itertools.chain(head, items)
        self.frozen = False
        self.first_shape = None
        if threaded and self.display is None:
            # the model on a thread of its own, a frame or more ahead of the post-processing
            # (with a display it stays here, so that the keys act on the next frame), with
            # the Numba threads that model_threads gives for the frames' size
            # the vote after the model, on this thread: it balances the model's thread against
            # the reader's and this one's work on two cores
            self.detector.split_vote = True
            modelled = self.modeller = Producer(self.threaded_model(items), name="bgsub-model")
        else:
            modelled = self.modelled(items)
        c0 = time.thread_time()
        with _numba_threads(1 if self.detector.split_vote else None):  # the vote's
            for frame, small, raw in modelled:
                if self.stop.is_set():
                    break
                self.step(frame, small, raw)
        self.detect_cpu_seconds = time.thread_time() - c0

    def threaded_model(self, items):
        """:meth:`modelled` on the model's own thread, its Numba thread count chosen by
        :func:`model_threads` from the first frame's size (as the model sees it)."""
        items = iter(items)
        first = next(items, None)
        if first is None:
            return
        import numba

        self.model_threads_used = model_threads(self.opts.model_threads, first[1].shape)
        numba.set_num_threads(self.model_threads_used)  # Numba's count is per calling thread
        yield from self.modelled(itertools.chain([first], items))

    def modelled(self, items):
        """The modelling stage: each frame in range with the model's raw mask; a chunk's
        warm-up frames are learned and not passed on.  With a display the raw mask is left to
        :meth:`step` (None), so that the freeze and reset keys act on the next frame."""
        warm = self.opts.learn_only_until
        model_now = self.display is None
        for frame, small in items:
            if self.stop.is_set():
                return
            self.check_shape(frame)
            if warm is not None and frame.index < warm:
                self.model.apply(small)  # a chunk's warm-up: learned, not written
                continue
            yield frame, small, self.detector.model_step(small) if model_now else None

    def check_shape(self, frame):
        """Every frame has the first frame's size, and the ROI has it too: checked before the
        model sees the frame."""
        shape = frame.image.shape
        if self.first_shape is None:
            if self.roi is not None and self.roi.shape != shape[:2]:
                raise InputError(f"ROI {self.opts.roi} is {_size(self.roi.shape)}, frames are "
                                 f"{_size(shape)}")
            self.first_shape = shape
        elif shape != self.first_shape:
            raise InputError(f"frame {frame.index} is {_size(shape)}, the stream started at "
                             f"{_size(self.first_shape)}; stopped there")

    def step(self, frame, small, raw=None):
        """The detecting stage for one frame: model, post-processing, events, display."""
        import cv2

        summary = self.summary
        shape = frame.image.shape
        if raw is None:
            raw = self.detector.model_step(small, 0.0 if self.frozen else None)
        if self.roi_zones and summary["frames"] == 0:
            from bgsub.motion.zones import polygon_mask

            self.detector.set_roi(polygon_mask(self.roi_zones, shape))
        r = self.detector.post_step(raw, frame.time, frame.index)
        mask = r.mask
        if mask.shape != shape[:2]:
            mask = cv2.resize(mask, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
        if self.zones and r.moving:
            if self.zone_masks is None:
                from bgsub.motion.zones import ZoneMasks

                self.zone_masks = ZoneMasks(self.zones, r.mask.shape, shape)
            r.zones = self.zone_masks.touched(r.mask)
        was_open = self.tracker.open_start is not None
        closed = self.tracker.update(r)
        self.on_events(r, not was_open and self.tracker.open_start is not None, closed)
        self.writer.put((frame, r, mask, self.tracker.open_start, closed))
        summary["frames"] += 1
        if summary["first_frame"] is None:
            summary["first_frame"] = frame.index
        summary["last_frame"] = frame.index
        self.progress.update(summary["frames"], len(self.tracker.events))
        if self.server is not None:
            self.server.publish(frame.image, mask, r.fraction, frame.time, r)
        if self.display is not None:
            self.show(frame, r, mask)

    def on_events(self, r, opened: bool, closed: list):
        """After the tracker saw a frame: the zones of its events, and a record queued for
        the notifiers when a motion event opened or closed (never waits)."""
        ended = [e for e in closed if e.kind == "motion"]
        self.event_zones.update(r.zones, r.moving, opened, len(ended))
        if not self.dispatcher:
            return
        for e in closed:
            if e.kind == "camera_moved":
                self.camera_record(e)
        for e, zones in zip(ended, self.event_zones.done[len(self.event_zones.done) -
                                                        len(ended):]):
            self.end_record(e, zones, deferred=self.opts.clips)
        if opened:
            from bgsub.notify import EventRecord

            self.started += 1
            e = self.tracker.open_event
            self.dispatcher.publish(EventRecord(
                "start", self.name, str(self.source), self.started, e.start_time, e.start,
                e.peak_fraction, self.event_zones.now(), clip=self.clip_path(self.started)))

    def camera_record(self, e):
        """A camera move, queued for the notifiers (it has ended when it is reported)."""
        from bgsub.notify import EventRecord

        self.camera_moves += 1
        self.dispatcher.publish(EventRecord(
            "camera_moved", self.name, str(self.source), self.camera_moves, e.start_time,
            e.start, 0.0, [], e.end_time, e.end, move=e.move))

    def end_record(self, e, zones, deferred: bool = False):
        from bgsub.notify import EventRecord

        self.ended += 1
        rec = EventRecord("end", self.name, str(self.source), self.ended, e.start_time, e.start,
                          e.peak_fraction, list(zones), e.end_time, e.end,
                          clip=self.clip_path(self.ended))
        if deferred:
            self.pending_ends[id(e)] = rec  # sent by the writer, once the clip is complete
        else:
            self.dispatcher.publish(rec)

    def send_pending_ends(self, item) -> None:
        """On the writer's thread, after a frame's outputs: the ends of the events that
        closed with it (their clips are complete now)."""
        for e in item[4]:
            rec = self.pending_ends.pop(id(e), None)
            if rec is not None:
                self.dispatcher.publish(rec)

    def clip_path(self, event_id: int) -> str | None:
        if not self.opts.clips:
            return None
        return str((self.out_dir / "clips" / f"event{event_id:03d}.mp4").absolute())

    def show(self, frame, r, mask):
        import cv2

        from bgsub.io.sinks import draw_overlay, write_image_atomic

        overlay = draw_overlay(frame.image, r, f"{timecode(frame.time)}  ", self.zones)
        background = None
        if self.summary["frames"] % 15 == 1:
            background = self.model.background_image()
            h, w = mask.shape
            if background is not None and background.shape[:2] != (h, w):
                background = cv2.resize(background, (w, h))
        actions = self.display.show(overlay, mask, background)
        while self.display.paused and "quit" not in actions and not self.stop.is_set():
            actions += self.display.poll(50)
        if "quit" in actions:
            self.stop.set("quit key")
        if "freeze" in actions:
            self.frozen = not self.frozen
        if "reset" in actions:
            self.model.reset()
        if "snapshot" in actions:
            self.snapshots += 1
            write_image_atomic(self.out_dir / f"snapshot{self.snapshots:03d}.png", overlay)

    def stop_stages(self):
        """Stop reading, then modelling, let the writer drain, and record a write failure.

        The reader goes first: a modeller waiting for the next frame of a stalled live source
        ends as soon as reading has stopped."""
        from bgsub.io.sinks import describe_os_error

        if self.reader is not None:
            # a live source blocked in read() (reconnecting) wakes now, not after
            # reconnect_timeout, when the loop ended on an error rather than a stop
            self.stream.interrupt()
            self.reader.close()
        if self.modeller is not None:
            self.modeller.close()
        if self.writer is not None:
            try:
                self.writer.close()
            except OSError as exc:
                self.write_failed = True
                self.summary["error"] = self.summary["error"] or describe_os_error(exc)
            except Exception as exc:
                self.summary["error"] = self.summary["error"] or f"{type(exc).__name__}: {exc}"

    def finish(self):
        """Close the outputs; with frames, the events, background, model and reports."""
        from bgsub.io.sinks import describe_os_error, events_csv, events_json, write_atomic

        summary, outputs = self.summary, self.outputs
        events = []
        try:
            if outputs is not None and self.write_failed:
                outputs.abort()  # the disk is full or gone: finalising would leave broken files
            elif outputs is not None:
                if summary["frames"] and summary["error"] is None:
                    events = self.finish_events()
                outputs.close(keep_empty_csv=bool(summary["frames"]))
                if summary["frames"]:
                    self.write_model_outputs()
        except OSError as exc:
            outputs.abort()
            self.write_failed = True
            summary["error"] = summary["error"] or describe_os_error(exc)
        if summary["frames"] == 0:
            if summary["error"] is None and not summary["interrupted"]:
                summary["error"] = "no frames in range" + (
                    f" (--start {self.opts.start})" if self.opts.start else "")
            if self.created_dir and self.out_dir.is_dir() and not any(self.out_dir.iterdir()):
                self.out_dir.rmdir()  # nothing was processed: leave no empty folder behind
        summary["fps"] = round(summary["frames"] / summary["seconds"], 1) if summary[
            "seconds"] else None
        summary["stage_ms"] = self.stage_ms()
        summary["events"] = sum(1 for e in events if e["kind"] == "motion")
        summary["global_changes"] = sum(1 for e in events if e["kind"] == "global_change")
        summary["camera_moves"] = sum(1 for e in events if e["kind"] == "camera_moved")
        self.finish_notifications()
        if summary["frames"] and not self.write_failed:
            doc = {"bgsub_report_version": REPORT_VERSION, "input": str(self.source),
                   "fps": self.stream.fps, "parameters": _parameters(self.model, self.opts),
                   "summary": {k: v for k, v in summary.items() if k != "output_dir"},
                   "events": events}
            try:
                write_atomic(self.out_dir / "events.json", events_json(doc))
                write_atomic(self.out_dir / "events.csv", events_csv(events))
                self.write_report(doc, events)
            except OSError as exc:
                summary["error"] = summary["error"] or describe_os_error(exc)
        if summary["frames"] and self.progress.tty:
            self.progress.update(summary["frames"], summary["events"], force=True)
            self.progress.done()
        summary["ok"] = summary["error"] is None
        summary["events_list"] = events

    def finish_events(self) -> list[dict]:
        """Close the events still open and the clip in progress; the events as dicts."""
        closed = self.tracker.finish()
        clips = self.outputs.clips
        if clips is not None:
            clips.finish(closed)
        ended = [e for e in closed if e.kind == "motion"]
        for _ in ended:
            self.event_zones.close()
        if self.dispatcher:
            for e, zones in zip(ended, self.event_zones.done[len(self.event_zones.done) -
                                                            len(ended):]):
                self.end_record(e, zones)
        events = [e.as_dict() for e in self.tracker.events]
        motion = [e for e in events if e["kind"] == "motion"]
        for e in events:
            e["zones"] = []
        for e, zones in zip(motion, self.event_zones.done):
            e["zones"] = zones
        if clips is not None:
            for e, path in zip(motion, clips.paths):
                e["clip"] = str(path.relative_to(self.out_dir))
        return events

    def finish_notifications(self):
        """Deliver what is queued (within each notifier's drain time), stop an own dispatcher,
        and count sent / dropped / failed per notifier in the summary."""
        d = self.dispatcher
        if not d:
            return
        for rec in self.pending_ends.values():  # the writer stopped before sending them
            d.publish(rec)
        self.pending_ends.clear()
        tracker = getattr(self, "tracker", None)
        if self.started > self.ended and tracker is not None and tracker.open_event:
            # the run failed with an event open (finish_events did not run): its end goes out
            # all the same, or a retained MQTT motion ON and start hooks would never be undone
            self.end_record(tracker.open_event, self.event_zones.now())
        if self.own_dispatcher:
            counts = d.close()
        else:
            d.flush()
            counts = d.counts()
        self.summary["notifications"] = {
            k: {m: v[m] - self.counts0.get(k, {}).get(m, 0) for m in v}
            for k, v in counts.items()}

    def write_report(self, doc, events):
        if self.recorder is None:
            return
        from bgsub.report.run_report import write_run_report
        from bgsub.io.sinks import SinkError

        try:
            write_run_report(self.out_dir, doc, self.recorder.finish(events), self.background)
        except OSError:
            raise
        except Exception as exc:  # a drawing bug: one line naming it, the other outputs kept
            raise SinkError(f"{self.out_dir / 'report.html'}: could not draw the report "
                            f"({type(exc).__name__}: {exc})") from exc

    def write_model_outputs(self):
        from bgsub.io.sinks import write_image_atomic

        self.background = bg = self.model.background_image()
        if bg is not None:
            write_image_atomic(self.out_dir / "background.png", bg)
        if self.opts.save_model:
            self.model.save(self.out_dir / "model.npz")

    def stage_ms(self) -> dict:
        """Milliseconds per frame in each stage (threaded stages overlap: the wall time per
        frame is less than their sum)."""
        n = self.summary["frames"]
        if not n or self.reader is None:
            return {}
        d = self.detector
        ms = {"read": round(1000 * self.reader.seconds / n, 3),
              "model": round(1000 * d.model_seconds / n, 3),
              "post": round(1000 * d.post_seconds / n, 3),
              "write": round(1000 * self.writer.seconds / n, 3),
              "wall": round(1000 * self.summary["seconds"] / n, 3)}
        # CPU time of each stage's own thread (the model's: of the thread that calls it, the
        # whole of it when it runs on one Numba thread, as it does on two cores below
        # LARGE_FRAME pixels), and the process's, every thread's (Numba's workers included)
        ms["cpu"] = {"read": round(1000 * self.reader.cpu_seconds / n, 3),
                     "model": round(1000 * d.model_cpu_seconds / n, 3),
                     "post": round(1000 * d.post_cpu_seconds / n, 3),
                     "write": round(1000 * self.writer.cpu_seconds / n, 3),
                     # this thread's loop: the vote, post-processing, events, hand-offs
                     # (less the writer's work when that runs here)
                     "detect": round(1000 * (self.detect_cpu_seconds - (
                         0 if self.writer.threaded else self.writer.cpu_seconds)) / n, 3),
                     "vote": round(1000 * d.vote_cpu_seconds / n, 3),
                     "process": round(1000 * self.cpu_seconds / n, 3)}
        ms["model_threads"] = self.model_threads_used
        return ms


LARGE_FRAME = 500_000  # pixels: from here a threaded run's model takes every core
# how much lower a file's reader and the writer run than the model (bgsub.pipeline.stages.
# lower_priority): on 2 cores, 640x360, 8 alternating pairs each, the gray job without masks
# 1.91 -> 1.87 s (7 of 8 faster), the defaults 2.66 -> 2.50 s (8 of 8)
STAGE_NICE = 10


def model_threads(requested: int | None = None, shape: tuple[int, ...] | None = None) -> int:
    """Numba threads for the model in a threaded run: ``requested``; else, for frames of
    ``shape`` (the model's) of :data:`LARGE_FRAME` pixels or more, every core; else every core
    but one (the reader, the post-processing and the writer together keep about one core busy).

    On two cores the latter is one: at 640x360 a parallel loop split over both cores waits, at
    its end, for the share of a core that the reader or the post-processing held meanwhile,
    and gains nothing.  From 960x540 up a frame's loop is long enough that both cores pay:
    the gray run 4-7% faster at 960x540, 1280x720 and 1920x1080 (docs, design decisions)."""
    import numba

    cores = os.cpu_count() or 1
    if requested:
        n = requested
    elif shape is not None and shape[0] * shape[1] >= LARGE_FRAME:
        n = cores
    else:
        n = max(1, cores - 1)
    return max(1, min(int(n), numba.config.NUMBA_NUM_THREADS))


@contextmanager
def _numba_threads(n: int | None):
    """Numba's thread count for the calling thread set to ``n`` (None: unchanged) for the
    block, then restored."""
    if n is None:
        yield
        return
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    try:
        yield
    finally:
        numba.set_num_threads(before)


def _frame_bytes(item) -> int:
    frame, small = item
    return frame.image.nbytes + (0 if small is frame.image else small.nbytes)


def _size(shape) -> str:
    return f"{shape[1]}x{shape[0]}"


def _parameters(model, opts: RunOptions) -> dict:
    p = {"model": model.get_params()}
    p.update({k: getattr(opts, k) for k in (
        "gray", "scale", "roi", "start", "end", "max_frames", "kernel", "min_area",
        "threshold_area", "max_area", "min_event_frames", "event_gap", "pre", "post",
        "camera_settle", "camera_move")})
    if opts.roi_polygons or opts.zones:
        from bgsub.motion.zones import parse_zone

        p["roi_polygons"] = [parse_zone(z, need_name=False).as_dict()
                             for z in opts.roi_polygons]
        p["zones"] = [parse_zone(z).as_dict() for z in opts.zones]
    return p
