"""From foreground masks to motion: post-processing, per-frame detection and motion events.

Layers (as in DVR-Scan): a model turns a frame into a mask; :class:`PostProcessor` cleans the
mask and finds blobs; :class:`MotionDetector` combines the two per frame; :class:`EventTracker`
turns the per-frame foreground fraction into events with a minimum length, a gap and padding.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from time import perf_counter, thread_time
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from bgsub.io.sources import VideoStream


@dataclass
class MotionResult:
    index: int
    time: float
    mask: np.ndarray  # uint8 (H, W), 0 / 255, after post-processing and the ROI
    boxes: list  # [(x, y, w, h, area)] of the blobs kept
    fraction: float  # foreground pixels / ROI pixels
    moving: bool  # fraction above threshold_area and not a whole-frame change
    global_change: bool  # fraction above max_area (lights, camera bumped)
    zones: tuple = ()  # names of the zones with foreground (set by a run with zones)
    # (dx, dy): how far the image has moved since the model's first frame, in the frame's
    # pixels (positive: the scene moved right and down, the camera turned left and up); None
    # when the model does not align frames (``max_shift=0``, OpenCV's models)
    camera_shift: tuple | None = None


class Modelled:
    """A model's output for one frame (:meth:`MotionDetector.model_step`): its mask, before
    its vote when ``voted`` is False (``split_vote``: :meth:`MotionDetector.post_step` votes
    on it), and where the camera was (``camera_shift`` of :class:`MotionResult`), read when
    the model saw the frame, which a threaded run's post-processing may not be at yet."""

    __slots__ = ("raw", "voted", "camera_shift", "texture")

    def __init__(self, raw: np.ndarray, voted: bool, camera_shift: tuple | None,
                 texture: Any = None):
        self.raw, self.voted, self.camera_shift = raw, voted, camera_shift
        self.texture = texture  # the texture cue left for the vote (MixtureSubtractor's)


class PostProcessor:
    """Morphological open then close with an elliptical ``kernel`` (0 = none), connected
    components, blobs smaller than ``min_area`` pixels removed, a ``roi`` (bool (H, W)) applied.

    ``shadows=False`` promises masks of 0 and 255 only (no 127 shadow labels), which saves a
    pass.  The work is done only where it can change something: an empty mask returns at once,
    the blobs are found from the mask's runs along rows without a label image
    (:mod:`bgsub.model._blob`), only the small blobs are erased, and the fraction is the sum of
    the kept blobs' areas.  The boxes, [(x, y, w, h, area)], come in the raster order of the
    blobs' first pixels.
    """

    def __init__(self, kernel: int = 3, min_area: int = 0, roi: np.ndarray | None = None,
                 shadows: bool = True):
        import cv2

        if kernel < 0:
            raise ValueError(f"kernel must be >= 0, got {kernel}")
        if min_area < 0:
            raise ValueError(f"min_area must be >= 0, got {min_area}")
        self.kernel = int(kernel)
        self.min_area = int(min_area)
        self.shadows = bool(shadows)
        self._se = (cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (self.kernel, self.kernel))
                    if self.kernel > 1 else None)
        self.roi = None if roi is None else np.asarray(roi, bool)
        self._roi_u8 = None if roi is None else self.roi.astype(np.uint8) * 255
        self._roi_pixels = None if roi is None else int(self.roi.sum())
        self._scratch = None  # (shape, bgsub.model._blob.scratch(shape))

    def __call__(self, mask: np.ndarray):
        """(clean mask, boxes, fraction) of ``mask``: uint8 (H, W), 255 foreground (127
        shadows), or bool."""
        import cv2

        m = mask = np.asarray(mask)
        if m.dtype == bool:
            m = mask = m.view(np.uint8) * np.uint8(255)
        if m.dtype != np.uint8 or m.ndim != 2:
            raise ValueError(f"mask must be a 2-D uint8 (0 / 255) or bool array, got {m.dtype} "
                             f"of shape {m.shape}")
        if self.shadows:  # shadows (127) count as background
            m = cv2.threshold(m, 254, 255, cv2.THRESH_BINARY)[1]
        if self._roi_u8 is not None:
            if self._roi_u8.shape != m.shape:
                raise ValueError(f"ROI is {self._roi_u8.shape[1]}x{self._roi_u8.shape[0]}, "
                                 f"frames are {m.shape[1]}x{m.shape[0]}")
            m = cv2.bitwise_and(m, self._roi_u8)
        total = self._roi_pixels if self._roi_pixels is not None else m.size
        if not cv2.countNonZero(m):
            return m, [], 0.0
        if self._se is not None:
            m = cv2.morphologyEx(m, cv2.MORPH_OPEN, self._se)
            m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, self._se)
            if self._roi_u8 is not None:
                m = cv2.bitwise_and(m, self._roi_u8)
        from bgsub.model import _blob, _jit

        if m is mask and self.min_area > 0:  # the caller's mask is not written to
            m = m.copy()
        m = np.ascontiguousarray(m)
        if self._scratch is None or self._scratch[0] != m.shape:
            self._scratch = (m.shape, _blob.scratch(m.shape))
        n_kept, kept = _jit.kernels()["mask_blobs"](m, self.min_area, *self._scratch[1])
        boxes = [tuple(b) for b in self._scratch[1][3][:n_kept].tolist()]
        fraction = kept / total if total else 0.0
        return m, boxes, fraction


def _defers_texture(model) -> bool:
    """Whether ``model`` can leave its texture cue to the vote (MixtureSubtractor's
    ``apply_unvoted(..., defer_texture=True)``)."""
    from bgsub.model.mixture import MixtureSubtractor

    return isinstance(model, MixtureSubtractor)


class MotionDetector:
    """Frame in, :class:`MotionResult` out: model, post-processing and the motion decision.

    Parameters
    ----------
    model : an object with ``apply(frame) -> mask`` (default ``MixtureSubtractor()``)
    threshold_area : a frame is moving when its foreground fraction exceeds this
    max_area : a fraction above this is a whole-frame change (lights, camera bumped), reported
        as ``global_change`` and not counted as motion
    kernel, min_area, roi : see :class:`PostProcessor`
    gray : convert frames to gray before modelling; scale : resize factor (0, 1] before modelling

    Each :class:`MotionResult` also says where the camera is: ``camera_shift``, (dx, dy) pixels
    of the frame that the image has moved since the model's first frame (the model's
    ``anchor_`` + ``shift_``; None when it does not align frames), which
    :class:`EventTracker` turns into ``"camera_moved"`` events.
    """

    def __init__(self, model: Any = None, threshold_area: float = 0.002, max_area: float = 0.7,
                 kernel: int = 3, min_area: int = 16, roi: np.ndarray | None = None,
                 gray: bool = False, scale: float = 1.0, **model_params: Any) -> None:
        if model is None:
            from bgsub.model.mixture import MixtureSubtractor

            model = MixtureSubtractor(**model_params)
        elif model_params:
            raise ValueError("pass model parameters or a model, not both")
        if not 0 <= threshold_area <= 1:
            raise ValueError(f"threshold_area must be between 0 and 1, got {threshold_area}")
        if not 0 < max_area <= 1:
            raise ValueError(f"max_area must be in (0, 1], got {max_area}")
        if not 0 < scale <= 1:
            raise ValueError(f"scale must be in (0, 1], got {scale}")
        self.model = model
        self.threshold_area = float(threshold_area)
        self.max_area = float(max_area)
        self.gray = bool(gray)
        self.scale = float(scale)
        self._roi_full = None if roi is None else np.asarray(roi, bool)
        self._kernel, self._min_area = kernel, min_area
        self.post = None  # made on the first frame, when the modelled size is known
        self.index = 0
        # wall and CPU seconds (the calling thread's) in the model and in post-processing
        self.model_seconds = self.post_seconds = 0.0
        self.model_cpu_seconds = self.post_cpu_seconds = self.vote_cpu_seconds = 0.0
        # the model's last step, its vote, done by post_step (with the post-processing, on the
        # pipeline's detecting thread) instead of model_step (set by a threaded run); each
        # frame's mask says which it got (Modelled.voted), so the setting may change at any frame
        self.split_vote = False

    def set_roi(self, roi: np.ndarray | None) -> None:
        """A new ROI (bool, any size: resized to the modelled frames), from the next frame."""
        self._roi_full = None if roi is None else np.asarray(roi, bool)
        self.post = None

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """The frame as the model sees it (gray and/or downscaled)."""
        import cv2

        if self.gray and image.ndim == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        if self.scale != 1.0:
            h, w = image.shape[:2]
            size = (max(1, round(w * self.scale)), max(1, round(h * self.scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        return image

    def _make_post(self, shape):
        import cv2

        roi = self._roi_full
        if roi is not None and roi.shape != shape:
            roi = cv2.resize(roi.astype(np.uint8), (shape[1], shape[0]),
                             interpolation=cv2.INTER_NEAREST).astype(bool)
        # kernel and min_area are given in full-resolution pixels
        k = self._kernel
        if self.scale != 1.0 and k > 1:
            k = max(1, int(round(k * self.scale)) | 1)
        min_area = int(round(self._min_area * self.scale * self.scale))
        shadows = getattr(self.model, "detect_shadows", True)  # other models: check
        self.post = PostProcessor(k, min_area, roi, shadows=shadows)

    def process(self, image: np.ndarray, time: float | None = None,
                learning_rate: float | None = None, index: int | None = None) -> MotionResult:
        """Process one frame (uint8 BGR or gray); ``index`` defaults to a running count."""
        return self.detect(self.prepare(image), time, learning_rate, index)

    def detect(self, small: np.ndarray, time: float | None = None,
               learning_rate: float | None = None, index: int | None = None) -> MotionResult:
        """:meth:`process` for a frame already :meth:`prepare`-d (as a reader thread does):
        :meth:`model_step` then :meth:`post_step`."""
        return self.post_step(self.model_step(small, learning_rate), time, index)

    def _split(self) -> bool:
        return self.split_vote and hasattr(self.model, "apply_unvoted")


    def model_step(self, small: np.ndarray, learning_rate: float | None = None) -> Modelled:
        """The model's raw mask of a prepared frame, as :class:`Modelled`; the seconds go to
        ``model_seconds``.  A pipeline may run it on a thread of its own, one frame ahead of
        :meth:`post_step`; with ``split_vote`` the mask is the model's before its vote, which
        :meth:`post_step` casts."""
        t0, c0 = perf_counter(), thread_time()
        split = self._split()
        apply = self.model.apply_unvoted if split else self.model.apply
        kwargs = {} if learning_rate is None else {"learning_rate": learning_rate}
        texture = None
        if split and getattr(self.model, "texture", 0) and _defers_texture(self.model):
            # the texture cue's patterns go with the vote, to the thread that votes
            raw, texture = apply(small, defer_texture=True, **kwargs)
        else:
            raw = apply(small, **kwargs)
        out = Modelled(raw, not split, self._camera_shift(), texture)
        self.model_seconds += perf_counter() - t0
        self.model_cpu_seconds += thread_time() - c0
        return out

    def _camera_shift(self) -> tuple | None:
        """The scene's move since the model's first frame (its ``anchor_`` and ``shift_``, see
        ``MixtureSubtractor.max_shift``) in the frame's pixels, or None."""
        m = self.model
        if not getattr(m, "max_shift", 0):
            return None
        (ax, ay), (sx, sy) = m.anchor_, m.shift_
        if self.scale == 1.0:
            return ax + sx, ay + sy
        return round((ax + sx) / self.scale), round((ay + sy) / self.scale)

    def post_step(self, raw: Modelled | np.ndarray, time: float | None = None,
                  index: int | None = None) -> MotionResult:
        """Post-processing and the motion decision for :meth:`model_step`'s output (or a raw
        mask), in frame order; the seconds go to ``post_seconds``."""
        t1, c1 = perf_counter(), thread_time()
        camera = None
        if isinstance(raw, Modelled):
            camera = raw.camera_shift
            if raw.voted:
                raw = raw.raw
            else:
                raw = self.model.vote_mask(raw.raw, texture=raw.texture)
                self.vote_cpu_seconds += thread_time() - c1
        if self.post is None:
            self._make_post(raw.shape)
        mask, boxes, fraction = self.post(raw)
        self.post_seconds += perf_counter() - t1
        self.post_cpu_seconds += thread_time() - c1
        if self.scale != 1.0:
            inv = 1.0 / self.scale
            boxes = [(int(x * inv), int(y * inv), int(round(w * inv)), int(round(h * inv)),
                      int(round(a * inv * inv))) for x, y, w, h, a in boxes]
        global_change = fraction > self.max_area
        moving = fraction > self.threshold_area and not global_change
        idx = self.index if index is None else int(index)
        result = MotionResult(idx, float(idx if time is None else time), mask, boxes, fraction,
                              moving, global_change, camera_shift=camera)
        self.index = idx + 1
        return result


# ---------------------------------------------------------------------------- events
@dataclass
class Event:
    kind: str  # "motion", "global_change" or "camera_moved"
    start: int  # first frame, padding included
    end: int  # last frame, padding included
    start_time: float
    end_time: float
    peak_fraction: float
    frames_moving: int
    move: tuple | None = None  # camera_moved: (dx, dy), the image's move in the frame's pixels

    def as_dict(self) -> dict[str, Any]:
        from bgsub.io.sources import timecode

        d = {"kind": self.kind, "start_frame": self.start, "end_frame": self.end,
             "start_seconds": round(self.start_time, 3), "end_seconds": round(self.end_time, 3),
             "start_timecode": timecode(self.start_time), "end_timecode": timecode(self.end_time),
             "duration_seconds": round(self.end_time - self.start_time, 3),
             "peak_fraction": round(self.peak_fraction, 5),
             "frames_moving": self.frames_moving}
        if self.move is not None:
            d["dx"], d["dy"] = int(self.move[0]), int(self.move[1])
        return d


CAMERA_SETTLE = 30  # frames the image must hold still (within a pixel) for a camera move to end
CAMERA_MIN_MOVE = 2  # pixels (in either axis) between two places where it held still


class CameraTracker:
    """Camera moves from each frame's ``camera_shift``: the image holds still at one place
    (its shift stays within a pixel of one value, in each axis, for ``settle`` frames), then at
    another at least ``min_move`` pixels away (in either axis).  The move is an event from the
    first frame more than a pixel from the old place (since the last within a pixel of it) to
    the first of the frames that held still at the new one, so a bumped camera, a mount that
    sags and a pan that stops are each one event, while a camera that sways or shakes about
    one place, which never holds still away from it, is none.  The first place is the first
    frame's."""

    def __init__(self, settle: int = CAMERA_SETTLE, min_move: int = CAMERA_MIN_MOVE):
        from collections import deque

        if settle < 1:
            raise ValueError(f"camera settle must be >= 1 frame, got {settle}")
        if min_move < 1:
            raise ValueError(f"camera min_move must be >= 1 pixel, got {min_move}")
        self.settle, self.min_move = int(settle), int(min_move)
        self._window = deque(maxlen=self.settle)  # (index, time, dx, dy) of the last frames
        self._place = None  # (dx, dy) where the image last held still
        self._left = None  # (index, time) of the first frame off that place

    def update(self, index: int, time: float, shift) -> Event | None:
        """One frame's ``camera_shift`` (None: no estimate, ignored); the camera move that
        ended with it, if one did."""
        if shift is None:
            return None
        dx, dy = int(shift[0]), int(shift[1])
        if self._place is None:
            self._place = (dx, dy)
        if max(abs(dx - self._place[0]), abs(dy - self._place[1])) <= 1:
            self._left = None  # within a pixel of the place: not gone
        elif self._left is None:
            self._left = (index, time)
        w = self._window
        w.append((index, time, dx, dy))
        if len(w) < self.settle:
            return None
        xs, ys = sorted(v[2] for v in w), sorted(v[3] for v in w)
        if xs[-1] - xs[0] > 1 or ys[-1] - ys[0] > 1:
            return None  # not holding still
        new = (xs[len(xs) // 2], ys[len(ys) // 2])
        mx, my = new[0] - self._place[0], new[1] - self._place[1]
        if max(abs(mx), abs(my)) < self.min_move:
            return None
        end, end_time = w[0][:2]
        start, start_time = self._left or (end, end_time)
        if start > end:  # it left (by more than a pixel) after the image began to hold still
            end, end_time = start, start_time
        self._place, self._left = new, None
        w.clear()
        return Event("camera_moved", start, end, start_time, end_time, 0.0, 0, (mx, my))


class EventTracker:
    """DVR-Scan's event model over per-frame decisions.

    An event starts once ``min_event_frames`` consecutive frames are moving (it starts at the
    first of them) and ends after ``event_gap`` consecutive quiet frames (at the last moving
    frame).  ``pre`` / ``post`` frames of padding widen each event, clamped to the frames seen
    and never reaching back into the previous event.  Whole-frame changes are reported as
    separate ``"global_change"`` events, and camera moves (:class:`CameraTracker`, with
    ``camera_settle`` and ``camera_move``, its ``settle`` and ``min_move``;
    ``camera_settle=0``: none) as
    ``"camera_moved"`` events.  Memory is bounded: only a window of recent timestamps is kept.
    """

    def __init__(self, min_event_frames: int = 2, event_gap: int = 10, pre: int = 0,
                 post: int = 0, camera_settle: int = CAMERA_SETTLE,
                 camera_move: int = CAMERA_MIN_MOVE) -> None:
        from collections import deque

        for name, v in (("min_event_frames", min_event_frames), ("event_gap", event_gap),
                        ("pre", pre), ("post", post)):
            if v < 0:
                raise ValueError(f"{name} must be >= 0, got {v}")
        self.min_event_frames = max(1, int(min_event_frames))
        self.event_gap = max(1, int(event_gap))
        self.pre, self.post = int(pre), int(post)
        self.events: list[Event] = []
        self._recent = deque(maxlen=max(self.pre + self.min_event_frames, self.event_gap) + 2)
        self._run = 0  # consecutive moving frames
        self._run_peak = 0.0
        self._open = None  # [start, start_time, last_moving, peak, count]
        self._quiet = 0
        self._global = None  # [first, first_time, last, last_time, peak, count]
        self._last_end = -1
        self.camera = (CameraTracker(camera_settle, camera_move) if camera_settle
                       else None)

    @property
    def open_start(self) -> int | None:
        """First frame (padding included) of the motion event in progress, if one is."""
        return None if self._open is None else self._open[0]

    @property
    def open_event(self) -> Event | None:
        """The motion event in progress so far (end = its last moving frame), if one is."""
        if self._open is None:
            return None
        start, start_time, last, peak, count = self._open
        return Event("motion", start, last, start_time, self._time(last), peak, count)

    def _time(self, index):
        for i, t in reversed(self._recent):
            if i == index:
                return t
        return self._recent[-1][1]

    def update(self, r: MotionResult) -> list[Event]:
        """Feed one frame's result; returns the events that closed with it."""
        closed = []
        self._recent.append((r.index, r.time))
        if r.global_change:
            g = self._global
            if g is None:
                self._global = [r.index, r.time, r.index, r.time, r.fraction, 1]
            else:
                g[2], g[3], g[4], g[5] = r.index, r.time, max(g[4], r.fraction), g[5] + 1
        elif self._global is not None:
            closed.append(self._close_global())
        if self.camera is not None:
            moved = self.camera.update(r.index, r.time, r.camera_shift)
            if moved is not None:
                closed.append(moved)
        if r.moving:
            self._run += 1
            self._run_peak = r.fraction if self._run == 1 else max(self._run_peak, r.fraction)
            self._quiet = 0
            o = self._open
            if o is not None:
                o[2], o[3], o[4] = r.index, max(o[3], r.fraction), o[4] + 1
            elif self._run >= self.min_event_frames:
                first = r.index - self._run + 1
                start = max(first - self.pre, self._recent[0][0], self._last_end + 1)
                self._open = [start, self._time(start), r.index, self._run_peak, self._run]
        else:
            self._run = 0
            if self._open is not None:
                self._quiet += 1
                if self._quiet >= self.event_gap:
                    closed.append(self._close(r.index))
        self.events.extend(closed)
        return closed

    def _close(self, last_seen):
        start, start_time, last_moving, peak, count = self._open
        end = min(last_moving + self.post, last_seen)
        self._open = None
        self._quiet = 0
        self._last_end = end
        return Event("motion", start, end, start_time, self._time(end), peak, count)

    def _close_global(self):
        first, first_time, last, last_time, peak, count = self._global
        self._global = None
        return Event("global_change", first, last, first_time, last_time, peak, count)

    def finish(self) -> list[Event]:
        """Close what is open at the end of the stream."""
        closed = []
        if self._global is not None:
            closed.append(self._close_global())
        if self._open is not None:
            closed.append(self._close(self._recent[-1][0]))
        self.events.extend(closed)
        return closed


def detect_motion(source: int | str | os.PathLike[str] | VideoStream,
                  threshold_area: float = 0.002, min_event_frames: int = 2,
                  event_gap: int = 10, pre: int = 0, post: int = 0, max_frames: int | None = None,
                  **options: Any) -> list[Event]:
    """All motion events of ``source`` (anything :func:`bgsub.open_video` opens, or an open
    stream); ``options`` go to :class:`MotionDetector`."""
    from bgsub.io.sources import VideoStream, open_video

    stream = source if isinstance(source, VideoStream) else open_video(source)
    detector = MotionDetector(threshold_area=threshold_area, **options)
    tracker = EventTracker(min_event_frames, event_gap, pre, post)
    try:
        for frame in stream:
            if max_frames is not None and frame.index >= max_frames:
                break
            tracker.update(detector.process(frame.image, frame.time))
    finally:
        if stream is not source:
            stream.close()
    tracker.finish()
    return tracker.events
