"""The online per-pixel Gaussian mixture (Stauffer & Grimson 1999, KaewTraKulPong & Bowden 2001).

The per-frame work is done by the Numba kernels in :mod:`bgsub.model._kernels`; this module
holds the parameters, the bookkeeping between frames (learning-rate schedule, global weight
scale, frame count), input validation and persistence.
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
from collections import deque
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, NamedTuple

import numpy as np

from bgsub import _parallel
from bgsub.model import _jit
from bgsub.model import _layout as layout

_RHO_RULES = {"weight": layout.RHO_WEIGHT, "density": layout.RHO_DENSITY}
_FORMAT_VERSION = 1


class TextureLater(NamedTuple):
    """The texture cue of one frame, left by :meth:`MixtureSubtractor.apply_unvoted` (with
    ``defer_texture``) for :meth:`MixtureSubtractor.vote_mask`: what it needs of the frame and
    of the model, copied, so that it can run on another thread while the model learns on."""

    gray: np.ndarray  # the frame as the model saw it, in gray, in the model's coordinates
    background: np.ndarray  # the background's padded gray plane (bgsub.model._texture)
    bits: int
    flag: np.uint8  # the value ORed into the decisions
    shift: tuple  # (dx, dy): the decisions are the model's shifted by (-dx, -dy)


_LATER = threading.local()  # per thread: the scratch of the texture cues it finishes


def _check_window(name, value):
    """An odd window size from 1 to 15, as an int."""
    if (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1
            or value % 2 == 0 or value > 15):
        raise ValueError(f"{name} must be an odd integer from 1 to 15, got {value!r}")
    return int(value)


def _check_number(name, value, low=None, high=None, low_open=False, high_open=False):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if low is not None and (v < low or (low_open and v == low)):
        op = ">" if low_open else ">="
        raise ValueError(f"{name} must be {op} {low}, got {value!r}")
    if high is not None and (v > high or (high_open and v == high)):
        op = "<" if high_open else "<="
        raise ValueError(f"{name} must be {op} {high}, got {value!r}")
    return v


# The accurate setting (``bgsub run --accurate``; README, "Accuracy"): the neighbourhood rule at
# 2 sigma with a smaller variance clamp and a lighter vote, and the match threshold the defaults
# had until 2026-12-07 (2.4: with the defaults' 2.2 it gained on half A of scripts/split.py and
# lost on half B), the 11x11 vote over every foreground pixel (the defaults' 13x13 vote over
# the foreground of solid 3x3 blocks, speckle 3, came later; with speckle 3 and the 11x11 vote
# at 0.4-0.5 it lost on half A, 0.828-0.831 against 0.832).  Mean F 0.769 on the eight real
# sequences against the defaults' 0.763 (2026-12-08), ahead of them on both halves; 1.2-1.5x
# the defaults' time a frame (the rule's pass over foreground rows; 1.5-1.7x before b6f7bf2).
ACCURATE = MappingProxyType(  # read-only: MixtureSubtractor(**ACCURATE)
    {"max_variance": 81.0, "smoothing": 11, "vote": 0.5, "neighbour_threshold": 2.0,
     "match_threshold": 2.4, "speckle": 1})


class MixtureSubtractor:
    """Per-pixel online Gaussian mixture background subtractor.

    Parameters
    ----------
    n_components : int, 1..16
        Components per pixel (K).
    learning_rate : float in (0, 1]
        alpha: every weight decays by (1 - alpha) per frame.  During the first frames the rate is
        ``max(learning_rate, 1 / t)`` (t = frames seen) when ``warmup`` is on, so the model is the
        running average of what it has seen until 1/t falls below the rate.
    match_threshold : float > 0
        A pixel matches a component when its mean squared distance per channel is below
        ``(match_threshold * sigma)^2``.
    background_ratio : float in (0, 1]
        The background is the first B components, by w/sigma, whose cumulative weight exceeds
        this; a pixel is foreground when its match is not among them or nothing matched.
    initial_variance, min_variance, max_variance : float > 0
        Variance (per channel, in grey levels squared) of a new component, and the clamp applied
        after each update.
    rho : "weight" or "density"
        Rate at which the matched component's mean and variance follow the pixel:
        ``alpha / w`` (as OpenCV's MOG2) or Stauffer and Grimson's ``alpha * N(x; mu, sigma)``.
    smoothing : odd int >= 1
        Spatial regularisation of the mask: a pixel is reported as foreground when at least a
        ``vote`` fraction of the ``smoothing x smoothing`` window around it is (1 = off).
    vote : float in (0, 1]
        The fraction of the window that must be foreground.
    solid : odd int >= 1
        A pixel whose ``solid x solid`` window is all foreground (before the vote) is
        foreground whatever the vote says, so that an object smaller than a wide vote window
        survives it (1 = off).
    speckle : odd int >= 1
        Foreground counts in the vote only where it lies in a ``speckle x speckle`` block of
        foreground (a morphological opening before the vote), so that flicker a pixel or two
        wide (waving trees, noise) does not vote while a solid object does (1 = off).
    variant : "stauffer-grimson" or "zivkovic"
        Zivkovic (2004): a Dirichlet prior makes every weight also lose
        ``learning_rate * complexity_prior`` per frame, and components whose weight reaches
        zero are dropped, so each pixel keeps only as many components as it needs.
    complexity_prior : float >= 0
        Zivkovic's c_T (OpenCV MOG2's 0.05); used by the "zivkovic" variant only.
    detect_shadows : bool
        Label shadows 127 (as OpenCV's MOG2 does): a foreground pixel whose colour is a darker
        copy of a background component (brightness ratio in [shadow_threshold, 1], colour
        distortion within the match threshold).  Shadows count as background.
    shadow_threshold : float in (0, 1]
        The darkest brightness ratio that is still a shadow (MOG2's tau, 0.5).
    warmup : float >= 0 (True = 1, False = 0)
        Warm-up speed c: frame t >= 2 uses the rate ``max(learning_rate, 1 / (c t))``, so the
        model starts as a running average; c = 1 is KaewTraKulPong and Bowden's window, c = 2 is
        OpenCV MOG2's, 0 turns the warm-up off.  The first frame always initialises the model.
    gain_compensation : bool
        Undo global changes of the light (a cloud, a lamp, a camera's auto-exposure) before the
        frame reaches the mixture: the gain is the median ratio of the frame to the model's
        first-rank means (channels summed) over a grid of about 2,000 pixels that were
        background in the last mask and are neither dark nor saturated; when the four quadrants
        of the grid agree on it within 5% (the change is global, not a large object) it becomes
        the gain, else the last gain is kept.  When the gain is more than 2% from 1 the frame is
        divided by it (a 256-entry look-up table), so the model keeps seeing the brightness it
        learned.  The estimate is in :attr:`gain_`.
    neighbour_threshold : float >= 0
        T_n of the neighbourhood rule: a foreground pixel whose value is within
        ``(T_n * sigma)^2`` (mean squared distance per channel, as ``match_threshold``) of a
        background component of one of its 8 neighbours is background (leaves, waves and
        camera jitter that move a few pixels; an object covers its neighbours' background as
        well).  The neighbours' models are read after this frame's update; 0 (the default)
        turns it off.  With ``max_variance=81``, ``vote=0.5`` and ``match_threshold=2.4`` it is
        the accurate setting, :data:`ACCURATE` (``bgsub run --accurate``): ahead of the
        defaults on six of the eight real sequences and on both halves of the cases, at about
        1.2-1.5x their time.
    ghost_frames : int in [0, 65534]
        The ghost rule (10, the default; 0 = off): what stood in the first frames and then left (a
        person, a parked car that drives off) leaves a ghost, the place where it stood,
        foreground until the learning rate has taken the revealed background in.  Pixels
        foreground for more than this many frames in a row form blobs (8-connected); a blob of 20
        pixels or more is a ghost when 70% of its border pixels see no edge in the frame against a
        background neighbour (their value within 0.7 of the match threshold of the neighbour's
        first component) where the model has one (their own first component does not match the
        neighbour's), and half its pixels show a value seen for a while (a component of rank >= 1
        with half the weight that this many frames of matches give).  Every pixel of a ghost takes
        the component that matches its value as its background.  An object that stopped has an edge
        against the background along its border and stays.  Looked at on every 8th frame, and only
        while some pixel has been foreground that long.  10 frames was chosen on half A of
        scripts/split.py (against 15, 20 and variants of the test) and confirmed on half B; every
        8th frame rather than every 4th was chosen for speed and confirmed on both halves (see
        docs/accuracy.md): the ghost cases' F 0.635 -> 0.882 (A) and 0.441 -> 0.609 (B), stopped
        objects, lighting and shake cases as before or better; the sequences whose moving leaves
        are labelled foreground lose up to 0.004.  It costs the model about 0.1-0.2 ms a frame
        at 640x480 and 0.4-1 ms at 1920x1080 on a busy scene (see docs/benchmarks.md).
    max_shift : int in [0, 16]
        A shaking camera (a pole that sways, a vibrating mount): each frame is aligned with the
        model, by up to this many pixels in each axis, before the mixture sees it (4, the
        default; 0 = off), and its mask is shifted back, so masks stay in the frame's
        coordinates.  The shift is the one at which most of up to 500 textured background
        pixels (chosen every 16 frames) agree with their first component's mean within 6 grey
        levels; it is taken only when 15% of them agree there and 3% more than without a shift,
        so a steady camera stays at (0, 0).  Found by climbing from the last frame's shift, so a
        camera that moves a pixel or two a frame is followed; the pixels the shift uncovers at
        the frame's edge are background.  When a shift reaches the edge of the search and the
        last 8 frames' shifts average ``max_shift`` - 2 pixels or more in an axis (a camera that
        moved, or pans), each well supported (20% of the points agree), or when one shift has
        held 128 frames, the model moves with the camera by their median: the pixels the move
        uncovers start from their neighbours' components and their value in that frame, and
        the next shifts are looked for around the new place, so a pan of any length is
        followed (measured up to half a pixel a frame) and a camera moved for good stops
        costing copies.  A camera knocked further than ``max_shift`` in one frame (the points
        that agreed stop agreeing at every shift of the search) is looked for over a quarter
        of the frame's size by phase correlation against the model's background, and the
        model moves by what it finds if the points agree there.  The last frame's shift
        against the model is in ``shift_``, the moves the model made in ``anchor_`` (both
        (dx, dy), positive when the scene moves right and down in the frames): the scene's
        move since the first frame is their sum.
    texture : int in [0, 8]
        The texture cue (0, the default, = off): where leaves or water move, the mixture
        learns their colours and stops seeing them; the pattern around the pixel still
        changes.  From the 30th frame, a pixel whose pattern differs from the background's in
        at least this many of 8 bits is foreground whatever the vote, where bit k says
        whether the gray neighbour k of the 8 at distance 2 is farther than max(15, 0.3 c)
        from ``c``, the background's gray value at the pixel (LBSP's inter-pattern; the
        background is each pixel's first component; the frame is taken after the gain
        compensation and the alignment); the cue's pixels are opened 3x3 first.  The
        model does not learn from it.  See :mod:`bgsub.model._texture`.
    """

    # Defaults chosen on the real ground-truth sequences with scripts/tune.py and
    # scripts/accuracy.py (see README, "Accuracy"): one setting for every sequence.
    def __init__(self, n_components=5, learning_rate=0.003, match_threshold=2.2,
                 background_ratio=0.4, initial_variance=225.0, min_variance=25.0,
                 max_variance=121.0, rho="weight", warmup=2.5, smoothing=13, vote=0.55,
                 detect_shadows=False, shadow_threshold=0.5, variant="stauffer-grimson",
                 complexity_prior=0.05, gain_compensation=True, neighbour_threshold=0.0,
                 solid=3, ghost_frames=10, max_shift=4, texture=0, speckle=3):
        if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)):
            raise ValueError(f"n_components must be an integer, got {n_components!r}")
        if not 1 <= n_components <= 16:
            raise ValueError(f"n_components must be between 1 and 16, got {n_components}")
        self.n_components = int(n_components)
        self.learning_rate = _check_number("learning_rate", learning_rate, 0.0, 1.0, low_open=True)
        self.match_threshold = _check_number("match_threshold", match_threshold, 0.0,
                                             low_open=True)
        self.background_ratio = _check_number("background_ratio", background_ratio, 0.0, 1.0,
                                              low_open=True)
        self.initial_variance = _check_number("initial_variance", initial_variance, 0.0,
                                              low_open=True)
        self.min_variance = _check_number("min_variance", min_variance, 0.0, low_open=True)
        self.max_variance = _check_number("max_variance", max_variance, 0.0, low_open=True)
        if self.min_variance > self.max_variance:
            raise ValueError(f"min_variance ({min_variance}) must not exceed max_variance "
                             f"({max_variance})")
        if rho not in _RHO_RULES:
            raise ValueError(f"rho must be one of {sorted(_RHO_RULES)}, got {rho!r}")
        self.rho = rho
        self.warmup = _check_number("warmup", float(warmup) if isinstance(warmup, bool)
                                    else warmup, 0.0)
        self.smoothing = _check_window("smoothing", smoothing)
        self.solid = _check_window("solid", solid)
        self.speckle = _check_window("speckle", speckle)
        self.vote = _check_number("vote", vote, 0.0, 1.0, low_open=True)
        if variant not in ("stauffer-grimson", "zivkovic"):
            raise ValueError(f"variant must be 'stauffer-grimson' or 'zivkovic', got {variant!r}")
        self.variant = variant
        self.complexity_prior = _check_number("complexity_prior", complexity_prior, 0.0, 1.0,
                                              high_open=True)
        self.detect_shadows = bool(detect_shadows)
        self.shadow_threshold = _check_number("shadow_threshold", shadow_threshold, 0.0, 1.0,
                                              low_open=True)
        self.gain_compensation = bool(gain_compensation)
        self.neighbour_threshold = _check_number("neighbour_threshold", neighbour_threshold, 0.0)
        if (isinstance(ghost_frames, bool) or not isinstance(ghost_frames, (int, np.integer))
                or not 0 <= ghost_frames < 65535):
            raise ValueError(f"ghost_frames must be an integer in [0, 65534], got {ghost_frames!r}")
        self.ghost_frames = int(ghost_frames)
        if (isinstance(max_shift, bool) or not isinstance(max_shift, (int, np.integer))
                or not 0 <= max_shift <= 16):
            raise ValueError(f"max_shift must be an integer in [0, 16], got {max_shift!r}")
        self.max_shift = int(max_shift)
        if (isinstance(texture, bool) or not isinstance(texture, (int, np.integer))
                or not 0 <= texture <= 8):
            raise ValueError(f"texture must be an integer in [0, 8], got {texture!r}")
        self.texture = int(texture)
        _jit.want(self.n_components, self.variant, self.texture)  # what a warm-up compiles
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget everything learned; the next frame (of any size) starts a new model."""
        self.state_ = None  # flat float32 buffer, see bgsub.model._layout
        self.scale_ = 1.0  # true weight = scale_ * stored weight
        self.n_frames_ = 0  # frames learned from since the last (re)initialisation
        self.frame_shape_ = None
        self._raw = None  # the scratch mask voted on
        self.gain_ = 1.0  # the global gain of the last frame against the model
        self._prev_sub = None  # the last mask on the gain-estimation grid (True = background)
        self._ratios = None  # scratch: the gain estimate's samples
        self._lut_out = None  # the compensated frame
        self._lut = None  # (gain, the 256-entry table that undoes it)
        self._runs = None  # the ghost rule's (runs, rows): see bgsub.model._kernels
        self._cand = None  # scratch: the ghost rule's candidates, as a mask
        self._spans = None  # and as spans along its rows (row, first, end column)
        self._blob = None  # and each span's blob
        self.shift_ = (0, 0)  # (dx, dy): the last frame was aligned as frame[i + dy, j + dx]
        self.anchor_ = (0, 0)  # (dx, dy): the moves the model made with the camera, in all
        # the last frames' (dx, dy, agreement), oldest first: see _moved_on
        self._recent = deque(maxlen=_ANCHOR_FRAMES)
        self._held = 0  # frames in a row with this shift, not (0, 0), well supported
        self._points = None  # (flat indices, how many, max_shift): the pixels frames are
        # aligned on, and the shift they were chosen for (they keep that far from the border)
        self._aligned = None  # scratch: the aligned frame, its known foreground, a mask
        # scratch of the estimate: the points' means, each shift's count (any max_shift)
        self._shift_scratch = (np.empty(_SHIFT_POINTS, np.float32),
                               np.empty((2 * 16 + 1) ** 2, np.int64))
        self._tex = None  # scratch of the texture cue (see texture)
        self._tex_gray = None  # and a colour frame's gray
        self._tex_seen = None  # n_frames_ when the cue last ran (None: since a change of state)
        self._later = None  # the cue this frame left for vote_mask (apply_unvoted's defer)

    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in (
            "n_components", "learning_rate", "match_threshold", "background_ratio",
            "initial_variance", "min_variance", "max_variance", "rho", "warmup", "smoothing",
            "vote", "detect_shadows", "shadow_threshold", "variant", "complexity_prior",
            "gain_compensation", "neighbour_threshold", "solid", "ghost_frames", "max_shift",
            "texture", "speckle")}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"MixtureSubtractor({args})"

    def _views(self):
        return layout.views(self.state_, self.n_components, *self.frame_shape_)

    def components(self) -> np.ndarray | None:
        """The state as a float32 array (K, H, W, C + 2): plane k holds every pixel's component
        of rank k (by w/sigma) as [weight, variance, mean...]; weight 0 = unused slot."""
        if self.state_ is None:
            return None
        ranked = layout.to_ranked(self.state_, self.n_components, *self.frame_shape_)
        ranked[..., layout.U] *= np.float32(self.scale_)
        return ranked

    # ------------------------------------------------------------------ input
    def _as_frame(self, frame):
        if not isinstance(frame, np.ndarray):
            raise TypeError(f"frame must be a numpy array, got {type(frame).__name__}")
        if frame.dtype != np.uint8:
            raise ValueError(f"frame must be uint8, got {frame.dtype}")
        if frame.ndim == 2:
            frame = frame[:, :, None]
        elif frame.ndim != 3 or frame.shape[2] not in (1, 3):
            raise ValueError(f"frame must be (H, W) gray or (H, W, 3) BGR, got shape "
                             f"{frame.shape}")
        if frame.shape[0] == 0 or frame.shape[1] == 0:
            raise ValueError(f"frame is empty: shape {frame.shape}")
        if self.frame_shape_ is not None and frame.shape != self.frame_shape_:
            raise ValueError(f"frame shape {_fmt(frame.shape)} differs from the model's "
                             f"{_fmt(self.frame_shape_)}; call reset() to start a new model")
        if not frame.flags.writeable:
            frame = frame.copy()  # one argument type for the kernels: nothing compiles twice
        return np.ascontiguousarray(frame)

    def _rate(self, learning_rate):
        if learning_rate is None:
            t = self.n_frames_ + 1
            if t == 1:
                return 1.0
            if self.warmup > 0:
                return max(self.learning_rate, 1.0 / (self.warmup * t))
            return self.learning_rate
        return _check_number("learning_rate", learning_rate, 0.0, 1.0)

    # ------------------------------------------------------------------ main
    def apply(self, frame: np.ndarray, learning_rate: float | None = None,
              known_foreground: np.ndarray | None = None,
              out: np.ndarray | None = None) -> np.ndarray:
        """Classify ``frame`` and learn from it; returns the uint8 mask (0 background, 255
        foreground, 127 shadow when ``detect_shadows``).

        learning_rate overrides the rate for this call: 0 freezes the model, 1 re-initialises it
        from this frame.  known_foreground (bool or uint8 (H, W), nonzero = foreground) marks
        pixels that are classified but not learned.  out: a uint8 (H, W) array to write into.
        """
        return self._apply(frame, learning_rate, known_foreground, out, True)

    def apply_unvoted(self, frame, learning_rate=None, known_foreground=None,
                      defer_texture=False):
        """:meth:`apply` without its last step, the vote (``smoothing``): this frame's
        per-pixel decisions as a new uint8 array (0 background, 1 foreground, 2 shadow, and 4
        where the texture cue found foreground), which :meth:`vote_mask` turns into the mask
        :meth:`apply` returns, so that a pipeline can vote on one frame on another thread while
        the model learns the next.  The model learns the same either way.  Without smoothing
        there is no vote: this is :meth:`apply`.

        ``defer_texture``: returns ``(raw, later)``, the texture cue's own work (its patterns
        and their opening, which the model does not learn from) left out of ``raw`` and in
        ``later`` (a :class:`TextureLater`, or None when the cue did not run), for
        ``vote_mask(raw, texture=later)`` on the thread that votes."""
        if self.smoothing <= 1:
            out = self.apply(frame, learning_rate, known_foreground)
            return (out, None) if defer_texture else out
        out = self._apply(frame, learning_rate, known_foreground, None, False, defer_texture)
        if defer_texture:
            later, self._later = self._later, None
            return out, later
        return out

    def vote_mask(self, raw, out=None, texture=None):
        """The mask of :meth:`apply` (0 / 255, 127 shadows) from :meth:`apply_unvoted`'s
        decisions ``raw``; a new array, or ``out``.  Without smoothing ``raw`` is already it.
        ``texture``: the texture cue that ``apply_unvoted(..., defer_texture=True)`` left with
        ``raw``, finished here first (its flags ORed into ``raw``)."""
        if (not isinstance(raw, np.ndarray) or raw.dtype != np.uint8 or raw.ndim != 2
                or not raw.flags.c_contiguous):
            raise ValueError("raw must be apply_unvoted's mask: a C-contiguous uint8 (H, W) "
                             f"array, got {getattr(raw, 'dtype', type(raw).__name__)} "
                             f"{getattr(raw, 'shape', '')}")
        if texture is not None:
            if not isinstance(texture, TextureLater) or texture.gray.shape != raw.shape:
                raise ValueError("texture must be what apply_unvoted(..., defer_texture=True) "
                                 "returned with raw")
            self._finish_texture(raw, texture)
        if self.smoothing <= 1:
            return raw
        if out is None:
            out = np.empty_like(raw)
        elif (not isinstance(out, np.ndarray) or out.shape != raw.shape
              or out.dtype != np.uint8 or not out.flags.c_contiguous):
            raise ValueError(f"out must be a C-contiguous uint8 array of shape {raw.shape}")
        self._vote(raw, out)
        return out

    def _apply(self, frame, learning_rate, known_foreground, out, voted, defer=False):
        f = self._as_frame(frame)
        h, w, c = f.shape
        if out is None:
            out = np.empty((h, w), np.uint8)
        elif (not isinstance(out, np.ndarray) or out.shape != (h, w) or out.dtype != np.uint8
              or not out.flags.c_contiguous):
            raise ValueError(f"out must be a C-contiguous uint8 array of shape {(h, w)}")
        known = _DUMMY
        if known_foreground is not None:
            known = np.asarray(known_foreground)
            if known.shape != (h, w):
                raise ValueError(f"known_foreground shape {known.shape} does not match the frame "
                                 f"{(h, w)}")
            known = np.ascontiguousarray(known.view(np.uint8) if known.dtype == bool
                                         else known.astype(np.uint8, copy=False))
            if not known.flags.writeable:
                known = known.copy()
        alpha = self._rate(learning_rate)
        fresh = self.state_ is None
        if self.gain_compensation and not fresh and alpha < 1.0:
            f = self._compensate(f)
        lut = f is self._lut_out
        dx = dy = 0
        agree = 0.0
        unshifted = f
        aligned = self.max_shift and not fresh and alpha < 1.0 and self._points is not None
        if aligned:
            dx, dy, agree = self._align(f)
            if alpha > 0.0 and self._refound(f, dx, dy, agree):
                dx, dy, agree = self._align(f)  # around the model's new place
            if dx or dy:
                f, known = self._shifted(f, known, dx, dy)
        self.shift_ = (dx, dy)
        if fresh:
            self.state_ = layout.new_state(self.n_components, h, w, c)
            self.frame_shape_ = f.shape
        hot, cold = self._views()
        k = _jit.kernels()
        if alpha >= 1.0:
            k["init_from_frame"](f, hot, cold, np.float32(self.initial_variance), not fresh)
            self.scale_ = 1.0
            self.n_frames_ = 1
            self._runs = None  # the runs of foreground start again
            self.anchor_, self._held = (0, 0), 0
            self._recent.clear()
            self._tex_seen = None
            out[...] = 0
            return out
        p = layout.frame_params(alpha, self.scale_, self.match_threshold, self.background_ratio,
                                c, self.complexity_prior if self.variant == "zivkovic" else 0.0,
                                self.neighbour_threshold)
        smooth = self.smoothing > 1
        if smooth and (self._raw is None or self._raw.shape != (h, w)):
            self._raw = np.empty((h, w), np.uint8)
        # the kernel's decisions: into the model's scratch, voted into ``out`` below; or,
        # unvoted, into ``out`` itself (a new array per frame: the caller votes on it later)
        raw = self._raw if smooth and voted else out
        dest = raw  # where the decisions end, in the frame's coordinates
        if dx or dy:
            raw = self._aligned[2]  # in the model's: shifted back into dest below
        fg = np.uint8(1 if smooth else 255)  # the kernel's foreground value
        args = (f, hot, cold, raw, known, known is not _DUMMY,
                p.learn, p.inc, p.inv_decay, _RHO_RULES[self.rho], p.alpha, p.thr2, p.bg_u,
                p.u_new, p.u_total, np.float32(self.initial_variance),
                np.float32(self.min_variance), np.float32(self.max_variance),
                fg,
                np.uint8(0 if not self.detect_shadows else 2 if smooth else 127),
                np.float32(self.shadow_threshold), p.thr2n)
        ghost = self.ghost_frames if p.learn else 0
        if ghost and (self._runs is None or self._runs[0].shape != (h, w)):
            self._runs = _new_runs(h, w)
        runs, rows = self._runs if ghost else _NO_RUNS
        now = self.n_frames_ + 1  # this frame's number
        args += (runs, ghost, rows)
        if self.variant == "zivkovic":
            k["apply_frame_zivkovic"](*args, p.prune)
        else:
            k["apply_frame"](*args)
        if lut and self._lut[0] > 1.0:  # brighter: 255 came out as lut[255]
            k["clear_clipped"](f, hot, raw, self._lut[1][255], p.thr2, fg)
        if ghost:
            if now % _GHOST_EVERY == 0 and rows.any():
                self._ghosts(f, hot, cold, raw, known, p)
            rows[:] = 0
        if self.gain_compensation:
            self._after_mask(raw)
        if self.max_shift and p.learn and (self._points is None
                                          or self.n_frames_ % _SHIFT_EVERY == 0):
            self._choose_points(raw)
        model_raw = raw
        texture = self.texture and now >= _TEXTURE_FROM
        if dx or dy:  # the decisions in the frame's coordinates
            shift_image(raw, dest, -dx, -dy, False)
            raw = dest
        if aligned and p.learn:
            anchor = self.anchor_
            self._follow(agree, unshifted, model_raw, p)
            if self.anchor_ != anchor:  # the model moved: f is in its old coordinates
                texture = False
        if texture and defer:  # for vote_mask, on the thread that votes
            self._later = self._texture_cue(f, hot, model_raw, fg, True)._replace(
                shift=(dx, dy) if model_raw is not raw else (0, 0))
        elif texture:
            self._texture_cue(f, hot, model_raw, fg)
            if model_raw is not raw:
                shift_image(model_raw, raw, -dx, -dy, False)
        if smooth and voted:
            self._vote(raw, out)
        if p.learn:
            self.scale_ = p.new_scale
            self.n_frames_ += 1
            if self.scale_ < layout.RESCALE:
                # exact: a power of two
                k["scale_weights"](hot, cold, np.float32(layout.RESCALE))
                self.scale_ /= layout.RESCALE
        return out

    def _texture_cue(self, f, hot, raw, fg, later=False):
        """The texture cue (see ``texture``): ``raw`` (the decisions, ``fg`` their foreground
        value) gains ``_TEXTURE_FLAG``, which the vote makes foreground, or 255 without a vote,
        where this frame's texture, ``f`` in the model's coordinates, is not the
        background's.  ``later``: only the model's share (the background's plane), and the
        rest returned as a :class:`TextureLater` for :meth:`_finish_texture`."""
        from bgsub.model import _texture  # Numba's: imported with the kernels

        h, w = raw.shape
        if self._tex is None or self._tex[0].shape != (h + 4, w + 4):
            self._tex = _texture.scratch((h, w))
            self._tex_gray = np.empty((h, w), np.uint8)  # a colour frame's gray
            self._tex_seen = None
        # the background's plane is made again an eighth of its rows a frame (_TEXTURE_EVERY),
        # all of it when the cue did not run on the last frame learned or the model moved
        n = self.n_frames_
        every = _TEXTURE_EVERY if self._tex_seen in (n, n - 1) else 1
        self._tex_seen = n
        flag = np.uint8(_TEXTURE_FLAG if fg == 1 else 255)
        if later:  # copies: the frame's buffer and the plane change with the next frame
            bg = self._tex[1]
            _jit.kernels()["texture_background"](hot, every, n % _TEXTURE_EVERY, bg)
            gray = _texture.gray_of(f) if f.shape[2] == 3 else f.reshape(h, w).copy()
            return TextureLater(gray, bg.copy(), self.texture, flag, (0, 0))
        gray = _texture.gray_of(f, self._tex_gray)
        _jit.kernels()["texture_flags"](gray, hot, self.texture, _TEXTURE_R, _TEXTURE_RQ, flag,
                                        every, n % _TEXTURE_EVERY, *self._tex, raw)

    @staticmethod
    def _finish_texture(raw, later):
        """The rest of a cue that :meth:`_texture_cue` left for later: its flags ORed into
        ``raw`` (shifted by ``-later.shift`` into the frame's coordinates), with this thread's
        scratch."""
        h, w = raw.shape
        scratch = getattr(_LATER, "scratch", None)
        if scratch is None or scratch[1].shape != (h, w):
            # the frame's padded gray plane; the cue, eroded, high; the flags and their shift
            scratch = _LATER.scratch = (np.empty((h + 4, w + 4), np.uint8),
                                        *(np.empty((h, w), np.uint8) for _ in range(5)))
        fr, cue, ero, high, flags, moved = scratch
        dx, dy = later.shift
        into = raw
        if dx or dy:
            into = flags
            flags[...] = 0
        _jit.kernels()["texture_cue"](later.gray, later.background, later.bits, _TEXTURE_R,
                                      _TEXTURE_RQ, later.flag, fr, cue, ero, high, into)
        if dx or dy:
            shift_image(flags, moved, -dx, -dy, False)
            np.bitwise_or(raw, moved, out=raw)

    def _align(self, f):
        """This frame's shift against the model (see ``max_shift``): (dx, dy), or (0, 0), and
        the share of the points that agree at the best shift found."""
        pts, n, chosen_for = self._points
        if n < _SHIFT_MIN_POINTS:
            return 0, 0, 0.0
        # the points keep chosen_for + 1 pixels from the border: any shift within that stays
        # inside the frame, whatever max_shift was set to since
        r = min(self.max_shift, chosen_for)
        prev_dx, prev_dy = (max(-r, min(r, v)) for v in self.shift_)
        if self._aligned is None or self._aligned[0].shape != f.shape:
            h, w, _ = f.shape
            self._aligned = (np.empty_like(f), np.empty((h, w), np.uint8),
                             np.empty((h, w), np.uint8))
        hot, _ = self._views()
        enough, gain = math.ceil(_SHIFT_AGREE * n), math.ceil(_SHIFT_GAIN * n)
        dx, dy, best, at0 = _jit.kernels()["shift_estimate"](
            f, hot, f.shape[2] // 2, pts, n, *self._shift_scratch, prev_dx, prev_dy, r,
            np.float32(_SHIFT_TOL), enough, gain)
        if best < enough or best - at0 < gain:
            return 0, 0, best / n
        return int(dx), int(dy), best / n

    def _shifted(self, f, known, dx, dy):
        """The frame, and the known foreground when there is one, in the model's coordinates."""
        frame, kn = self._aligned[:2]
        shift_image(f, frame, dx, dy, True)
        if known is not _DUMMY:
            shift_image(known, kn, dx, dy, True)
            known = kn
        return frame, known

    def _follow(self, agree, frame, raw, p):
        """Keep this frame's shift (``shift_``) and ``agree``, the share of the points that
        agreed with the best shift; move the model with the camera when it has moved on
        (:meth:`_moved_on`, :meth:`_reanchor`)."""
        shift = self.shift_
        last = self._recent[-1][:2] if self._recent else None
        same = shift != (0, 0) and agree >= _ANCHOR_AGREE
        self._held = (self._held + 1 if shift == last else 1) if same else 0
        self._recent.append(shift + (agree,))
        if len(self._recent) == _ANCHOR_FRAMES and self._moved_on():
            ax, ay = (sorted(v)[_ANCHOR_FRAMES // 2] for v in list(zip(*self._recent))[:2])
            self._reanchor(frame, raw, ax, ay, p.u_total, (shift[0] - ax, shift[1] - ay))

    def _moved_on(self):
        """Whether the model should move to where the camera is now: this frame's shift is at
        the edge of the search and the last ``_ANCHOR_FRAMES`` frames' shifts average
        ``max_shift`` - 2 pixels or more (at least 1) in an axis (a camera that moved, or
        pans, and is leaving the search), and on each of them at least ``_ANCHOR_AGREE`` of the
        points agreed with the best shift found (a light that changes faster than the gain
        compensation follows can make a weak shift win: it is not made the model's); or one
        shift has held ``_ANCHOR_HOLD`` frames, so that a camera moved for good stops costing
        the frame's and the mask's copies (a move costs what about 200 frames of copies do)."""
        if self._held >= _ANCHOR_HOLD:
            return True
        r = min(self.max_shift, self._points[2])
        if max(abs(v) for v in self.shift_) < r:
            return False  # not at the edge
        xs, ys, agree = zip(*self._recent)
        return min(agree) >= _ANCHOR_AGREE and max(abs(sum(xs)), abs(sum(ys))) >= (
            max(1, r - 2) * _ANCHOR_FRAMES)

    def _reanchor(self, frame, raw, ax, ay, u_total, after):
        """Move the model by (ax, ay) pixels with the camera (see ``max_shift``): the median
        shift of the last ``_ANCHOR_FRAMES`` frames, once the camera has moved on
        (:meth:`_moved_on`: a camera that moved and stays, or pans).  The next shifts are
        looked for around the new place, so a camera that moved and stays costs no copies and
        a pan of any length is followed.  The pixels that the move uncovers start from what
        their neighbours hold and from their value in ``frame`` (frame coordinates), taken
        where the frame lies against the model's new place, ``after`` (its shift then, which
        becomes ``shift_``); the runs of foreground move too, and the points are chosen again
        from this frame's decisions ``raw`` (the model's coordinates before the move)."""
        h, w, c = self.frame_shape_
        if after != (0, 0):  # a pan goes on: the frame is a pixel or two past the new place
            moved_frame = np.empty_like(frame)
            shift_image(frame, moved_frame, after[0], after[1], True)
            frame = moved_frame
        layout.shift_state(self.state_, self.n_components, h, w, c, -ax, -ay, frame, u_total)
        if self._runs is not None:
            runs = self._runs[0]
            shift_image(runs.copy(), runs, -ax, -ay, False)
        moved = np.empty_like(raw)
        shift_image(raw, moved, -ax, -ay, False)
        self.anchor_ = (self.anchor_[0] + ax, self.anchor_[1] + ay)
        self.shift_ = after
        self._tex_seen = None
        self._recent = deque(((x - ax, y - ay, a) for x, y, a in self._recent),
                             maxlen=_ANCHOR_FRAMES)
        self._held = 0
        if self.gain_compensation:
            self._after_mask(moved)
        self._choose_points(moved)

    def _refound(self, f, sx, sy, agree):
        """A camera knocked further than ``max_shift`` in one frame (or by a few pixels that
        the search's climb did not reach): when the share of the points that agree at the
        best shift the search found, (sx, sy) (``agree``; (0, 0) when none was taken), fell
        under ``_KNOCK_KEEP`` of the last frames' (their median, at least ``_KNOCK_WAS``), the
        frame is matched against the model's background at any shift up to a quarter of its size
        (phase correlation, on at most ``_KNOCK_SIDE`` pixels across; then a climb of the
        points, :meth:`_climb`), and when the points agree there as well as ``_KNOCK_KEEP`` of
        the last frames' and regain at least half of what they lost (against the best shift
        of the search), the model moves by it at once (:meth:`_reanchor`).  A collapse that is
        not a knock (a large object before the points, a sudden change of the light) fails
        that test; it enters the last frames' median, so the search is not tried for more than
        a few frames in a row.  Returns whether the model moved."""
        if (agree >= _KNOCK_KEEP or len(self._recent) < _ANCHOR_FRAMES
                or self._points[1] < _SHIFT_MIN_POINTS):
            return False  # at least half of what any median can be; or no estimate at all
        recent = sorted(a for _, _, a in self._recent)
        good = recent[len(recent) // 2]
        if good < _KNOCK_WAS or agree >= _KNOCK_KEEP * good:
            return False
        h, w, c = f.shape
        dx, dy = self._wide_shift(f)
        if (dx, dy) == (sx, sy) or abs(dx) > w // 4 or abs(dy) > h // 4:
            return False  # what the search found already, or too far to trust
        (dx, dy), there, inside = self._climb(f, dx, dy)
        n = self._points[1]
        lost = good - agree
        if inside < n // 2 or there < max(_SHIFT_AGREE, _KNOCK_KEEP * good,
                                          agree + max(_SHIFT_GAIN, lost / 2)) * n:
            return False
        # before this frame's update (the weights sum to 1 / scale_); the frame lies at the new
        # place, so the next search starts there (shift_ (0, 0))
        self._reanchor(f, np.zeros((h, w), np.uint8), dx, dy, np.float32(1.0 / self.scale_),
                       (0, 0))
        self._recent.clear()  # the shifts before were against the old one
        return True

    def _climb(self, f, dx, dy):
        """From (dx, dy), the neighbouring shift at which the most points agree, while that
        is more (the phase correlation's answer is within a pixel or two on reduced images):
        ((dx, dy), points agreeing, points inside the frame)."""
        pts, n, _ = self._points
        hot, _ = self._views()
        ch = f.shape[2] // 2

        def count(x, y):
            return layout.points_agree(hot, f, ch, pts[:n], x, y, _SHIFT_TOL)

        best = count(dx, dy)
        for _ in range(_KNOCK_CLIMB):
            here = max(((count(dx + a, dy + b), (dx + a, dy + b))
                        for a in (-1, 0, 1) for b in (-1, 0, 1) if a or b))
            if here[0][0] <= best[0]:
                break
            best, (dx, dy) = here
        return (dx, dy), best[0], best[1]

    def _wide_shift(self, f):
        """The shift (dx, dy) of frame ``f`` against the model's background (the rank-0 means
        of the middle channel) by phase correlation, on both reduced to at most
        ``_KNOCK_SIDE`` pixels across."""
        import cv2

        h, w, c = f.shape
        hot, _ = self._views()
        bg = layout.mean_plane(hot, c // 2)
        img = f[:, :, c // 2].astype(np.float32)
        k = max(1, math.ceil(max(h, w) / _KNOCK_SIDE))
        if k > 1:
            size = (max(1, w // k), max(1, h // k))
            bg = cv2.resize(bg, size, interpolation=cv2.INTER_AREA)
            img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        bg = np.ascontiguousarray(bg, np.float32)
        win = cv2.createHanningWindow((img.shape[1], img.shape[0]), cv2.CV_32F)
        (sx, sy), _ = cv2.phaseCorrelate(bg, img, win)
        return int(round(sx * k)), int(round(sy * k))

    def _choose_points(self, raw):
        """Choose the pixels that the next frames are aligned on (see ``max_shift``)."""
        if self._points is None:
            self._points = (np.empty(_SHIFT_POINTS, np.int32), 0, self.max_shift)
        hot, _ = self._views()
        pts = self._points[0]
        h, w, c = self.frame_shape_
        inside = max(1, (h - 2 * self.max_shift - 2) * (w - 2 * self.max_shift - 2))
        step = max(1, int(np.sqrt(inside / _SHIFT_SCAN)))  # every pixel up to 320x240
        n = _jit.kernels()["shift_points"](hot, c // 2, raw, self.max_shift, step,
                                           np.float32(_SHIFT_GRAD), pts)
        self._points = (pts, int(n), self.max_shift)

    def _ghosts(self, f, hot, cold, raw, known, p):
        """The ghost rule (see ``ghost_frames``) on this frame's mask ``raw``: the candidates,
        their 8-connected blobs, then the kernel's decision per blob and its effect."""
        runs, rows = self._runs
        h, w = raw.shape
        if self._cand is None or self._cand.shape != (h, w):
            self._cand = np.empty((h, w), np.uint8)
            self._spans = np.empty((3, h * ((w + 1) // 2)), np.int32)
            self._blob = np.empty(h * ((w + 1) // 2), np.int32)
        k = _jit.kernels()
        _, _, n_spans = k["ghost_candidates"](raw, known, known is not _DUMMY, runs,
                                              self.ghost_frames, rows, self._cand, self._spans)
        if n_spans == 0:
            return
        n = k["ghost_blobs"](self._spans, n_spans, self._blob)
        # a value seen in most of the last ghost_frames frames has at least half the weight
        # that a component matched in every one of them would have gained
        w_min = 0.5 * (1.0 - (1.0 - float(p.alpha)) ** self.ghost_frames)
        k["ghost_absorb"](f, hot, cold, raw, runs, self._cand, self._spans, n_spans, self._blob, n,
                          p.thr2, np.float32(p.thr2 * _GHOST_CLOSE ** 2),
                          np.float32(w_min / p.new_scale), _GHOST_BORDER, _GHOST_STABLE,
                          _GHOST_MIN_PX)

    def _grid(self, h, w):
        """(start, step, shape) of the gain-estimation grid: rows and columns start,
        start + step, ..."""
        step = max(1, int(np.sqrt(h * w / _GAIN_SAMPLES)))
        start = step // 2
        return start, step, (len(range(start, h, step)), len(range(start, w, step)))

    def _compensate(self, f):
        """``f`` divided by the global gain (see ``gain_compensation``); ``f`` itself when the
        gain is within ``_GAIN_DEADBAND`` of 1."""
        h, w, c = f.shape
        start, step, shape = self._grid(h, w)
        ch = c // 2  # green of BGR, or the gray channel
        hot, _ = self._views()
        if self._ratios is None or self._ratios.size != shape[0] * shape[1]:
            self._ratios = np.empty(shape[0] * shape[1], np.float32)
        prev = self._prev_sub
        use_prev = prev is not None and prev.shape == shape
        n, med = _jit.kernels()["gain_estimate"](f, hot, ch, start, step,
                                                 prev if use_prev else _NO_GRID, use_prev,
                                                 self._ratios)
        if n >= _GAIN_MIN_SAMPLES:
            g = float(med)  # the model keeps the brightness it learned first
            # a new gain only when it moved and the change is global
            if abs(g / self.gain_ - 1.0) > _GAIN_STEP:  # rare: the quadrants, in NumPy
                from bgsub.model._fallback import gain_grid

                if self._global(*gain_grid(f, hot, ch, start, step, prev, use_prev), g):
                    self.gain_ = g
        if abs(self.gain_ - 1.0) <= _GAIN_DEADBAND:
            return f
        import cv2

        if self._lut is None or self._lut[0] != self.gain_:  # built when the gain changes
            table = np.clip(np.rint(np.arange(256, dtype=np.float32) / np.float32(self.gain_)),
                            0, 255).astype(np.uint8)
            self._lut = (self.gain_, table)
        lut = self._lut[1]
        if self._lut_out is None or self._lut_out.shape != f.shape:
            self._lut_out = np.empty_like(f)  # reused: no new pages per frame
        cv2.LUT(f.reshape(h, w * c), lut, dst=self._lut_out.reshape(h, w * c))
        return self._lut_out

    @staticmethod
    def _global(r, sel, g):
        """Whether the four quadrants of the grid agree on the median ratio ``g`` of ``r``
        over ``sel`` within ``_GAIN_AGREE`` (a change of the light is global; a large object or
        leaves in front of the camera are not)."""
        gh, gw = sel.shape
        for qy in (slice(0, gh // 2), slice(gh // 2, None)):
            for qx in (slice(0, gw // 2), slice(gw // 2, None)):
                mq = sel[qy, qx]
                if np.count_nonzero(mq) < _GAIN_MIN_SAMPLES // 4:
                    return False
                if abs(float(np.median(r[qy, qx][mq])) / g - 1.0) > _GAIN_AGREE:
                    return False
        return True

    def _after_mask(self, mask):
        """Keep the background of this mask on the gain grid for the next frame's estimate."""
        start, step, shape = self._grid(*mask.shape)
        if self._prev_sub is None or self._prev_sub.shape != shape:
            self._prev_sub = np.empty(shape, bool)
        _jit.kernels()["grid_background"](mask, start, step, self._prev_sub)

    def _vote(self, raw, out):
        """out = 255 where at least ``vote`` of the window around the pixel is foreground in
        ``raw`` (0/1), or all of the ``solid`` x ``solid`` window is; the windows are clipped at
        the borders by replicating the edge.  With ``speckle`` > 1 both count only the foreground
        that lies in a ``speckle`` x ``speckle`` block of it (with ``speckle`` <= ``solid``
        every solid window does, so the solid core is the same)."""
        k = self.smoothing
        need = max(1, int(np.ceil(self.vote * k * k - 1e-9)))
        from numba import get_num_threads

        from bgsub.model._vote import bands_for

        _jit.kernels()["vote_mask"](raw, out, k // 2, need, self.solid // 2, self.speckle // 2,
                                    bands_for(get_num_threads()))

    def fit_frames(self, frames: np.ndarray | Iterable[np.ndarray],
                   n_iter: int = 20) -> MixtureSubtractor:
        """Start the model from a per-pixel batch EM fit over ``frames`` (a sequence of uint8
        frames, all of one shape): K isotropic components per pixel, fitted jointly over every
        frame, become the online model's state, as if it had learned from these frames -- no
        warm-up period, no early false positives.  Returns self."""
        from bgsub.model import _batch as ek

        if isinstance(n_iter, bool) or not isinstance(n_iter, (int, np.integer)) or n_iter < 1:
            raise ValueError(f"n_iter must be an integer >= 1, got {n_iter!r}")
        if isinstance(frames, np.ndarray):
            stack = frames[..., None] if frames.ndim == 3 else frames  # (N, H, W) is gray
            if stack.ndim != 4:
                raise ValueError(f"frames must be (N, H, W) or (N, H, W, C), got shape "
                                 f"{frames.shape}")
        else:
            items = [np.asarray(f) for f in frames]
            if not items:
                raise ValueError("fit_frames needs at least one frame")
            items = [f[:, :, None] if f.ndim == 2 else f for f in items]
            shapes = sorted({f.shape for f in items})
            if len(shapes) > 1:
                raise ValueError(f"frames differ in shape: {shapes[0]} and {shapes[1]}")
            stack = np.stack(items)
        stack = np.ascontiguousarray(stack)
        if stack.dtype != np.uint8:
            raise ValueError(f"frames must be uint8, got {stack.dtype}")
        if stack.shape[0] < 1 or stack.shape[1] == 0 or stack.shape[2] == 0:
            raise ValueError(f"fit_frames needs at least one non-empty frame, got {stack.shape}")
        n, h, w, c = stack.shape
        if c not in (1, 3):
            raise ValueError(f"frames must be gray or BGR, got {c} channels")
        k = self.n_components
        weights = np.empty((h, w, k))
        means = np.empty((h, w, k, c))
        variances = np.empty((h, w, k))
        loglik = np.empty((n_iter, h, w))
        with _parallel.one_at_a_time():
            ek.pixel_init(stack, float(self.initial_variance), weights, means, variances)
            ek.pixel_em(stack, int(n_iter), float(self.min_variance), float(self.max_variance),
                        weights, means, variances, loglik)
        self.fit_loglik_ = loglik.mean(axis=(1, 2))
        # to the online state: ranked by w / sigma, empty components dropped, weights summing
        # to one, scale 1, and the frame count of a model that has seen n frames
        key = np.where(weights > 0, weights / np.sqrt(variances), -1.0)
        order = np.argsort(-key, axis=2, kind="stable")
        ranked = np.zeros((k, h, w, c + 2), np.float32)
        wr = np.take_along_axis(weights, order, 2)
        wr /= wr.sum(2, keepdims=True)
        ranked[..., layout.U] = np.moveaxis(wr, 2, 0)
        ranked[..., layout.VAR] = np.moveaxis(np.take_along_axis(variances, order, 2), 2, 0)
        ranked[..., layout.MEAN:] = np.moveaxis(
            np.take_along_axis(means, order[..., None], 2), 2, 0)
        ranked[ranked[..., layout.U] <= 0] = 0
        self.reset()
        self.state_ = layout.from_ranked(ranked)
        self.frame_shape_ = (h, w, c)
        self.n_frames_ = n
        return self

    def background_image(self) -> np.ndarray | None:
        """uint8 image of the background: the weighted mean of each pixel's background
        components; same channels as the input, in the last frame's coordinates (under a
        shift, see ``max_shift``, the edge the model has not seen repeats its nearest pixel).
        None before the first frame."""
        if self.state_ is None:
            return None
        h, w, c = self.frame_shape_
        out = np.empty((h, w, c), np.uint8)
        dx, dy = self.shift_
        img = np.empty_like(out) if dx or dy else out  # in the model's coordinates
        _jit.kernels()["background_image"](*self._views(), self.background_ratio, img)
        if dx or dy:
            shift_image(img, out, -dx, -dy, True)
        return out[:, :, 0] if c == 1 else out

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write parameters and the whole state to ``path`` (.npz), atomically."""
        path = Path(path)
        params = self.get_params()
        arrays = {
            "format_version": np.array(_FORMAT_VERSION),
            "params_names": np.array(list(params)),
            "params_values": np.array([str(v) for v in params.values()]),
            "scale": np.array(self.scale_, np.float64),
            "n_frames": np.array(self.n_frames_, np.int64),
            # ranked (K, H, W, C + 2), flat: the file does not depend on the kernels' layout
            "state": (layout.to_ranked(self.state_, self.n_components, *self.frame_shape_).ravel()
                      if self.state_ is not None else np.zeros((0,), np.float32)),
            "frame_shape": np.array(self.frame_shape_ or (), np.int64),
            "gain": np.array(self.gain_, np.float64),
            "prev_sub": (self._prev_sub if self._prev_sub is not None
                         else np.zeros((0, 0), bool)),
            # the ghost rule's runs of foreground: each pixel's frames of foreground in a row
            "run_lengths": (self._runs[0] if self._runs is not None
                            else np.zeros((0, 0), np.uint16)),
            # a shaking camera's alignment: the last shift and the points it is found on
            "shift": np.array(self.shift_, np.int64),
            "anchor": np.array(self.anchor_, np.int64),
            "shift_recent": np.array(list(self._recent), np.float64).reshape(-1, 3),
            "shift_held": np.array(self._held, np.int64),
            "shift_points": (self._points[0][:self._points[1]] if self._points is not None
                             else np.zeros((0,), np.int32)),
            "has_shift_points": np.array(self._points is not None),
        }
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp.npz",
                                   dir=path.parent if str(path.parent) else ".")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MixtureSubtractor:
        """A model from :meth:`save`; it continues bit for bit as the saved one would."""
        try:
            with np.load(path, allow_pickle=False) as z:
                version = int(z["format_version"])
                if version != _FORMAT_VERSION:
                    raise ValueError(f"{path}: unsupported model format version {version}")
                names = [str(n) for n in z["params_names"]]
                values = [str(v) for v in z["params_values"]]
                state = z["state"]
                scale = float(z["scale"])
                n_frames = int(z["n_frames"])
                frame_shape = tuple(int(v) for v in z["frame_shape"])
                gain = float(z["gain"]) if "gain" in z else 1.0
                prev_sub = z["prev_sub"] if "prev_sub" in z else None
                runs = _saved_runs(z, n_frames)
                shift = tuple(int(v) for v in z["shift"]) if "shift" in z else (0, 0)
                anchor = tuple(int(v) for v in z["anchor"]) if "anchor" in z else (0, 0)
                recent = (np.asarray(z["shift_recent"], np.float64) if "shift_recent" in z
                          else np.zeros((0, 3)))
                held = int(z["shift_held"]) if "shift_held" in z else 0
                points = (np.asarray(z["shift_points"], np.int32)
                          if "has_shift_points" in z and bool(z["has_shift_points"]) else None)
        except (OSError, KeyError, ValueError) as exc:
            if isinstance(exc, ValueError) and "model format" in str(exc):
                raise
            raise ValueError(f"{path}: not a bgsub model file ({exc})") from None
        kinds = {"n_components": int, "rho": str, "smoothing": int, "solid": int, "variant": str,
                 "ghost_frames": int, "max_shift": int, "texture": int, "speckle": int,
                 "detect_shadows": lambda v: v == "True",
                 "gain_compensation": lambda v: v == "True"}
        defaults = {"neighbour_threshold": 0.0,  # a file from before the rule
                    "solid": 1,  # from before the solid-core rule
                    "ghost_frames": 0,  # from before the ghost rule
                    "max_shift": 0,  # from before the alignment
                    "speckle": 1}  # from before speckles were kept out of the vote
        try:  # a value out of range or of the wrong kind names the file, as a missing array does
            params = {n: kinds.get(n, float)(v) for n, v in zip(names, values)}
            model = cls(**{**defaults, **params})
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: not a bgsub model file ({exc})") from None
        if state.size:
            if len(frame_shape) != 3:
                raise ValueError(f"{path}: not a bgsub model file (frame shape {frame_shape} "
                                 f"is not (H, W, C))")
            h, w, c = frame_shape
            if state.size != model.n_components * h * w * (c + 2):
                raise ValueError(f"{path}: not a bgsub model file (a state of {state.size} "
                                 f"values does not fit K={model.n_components}, {w}x{h}x{c})")
            ranked = np.asarray(state, np.float32).reshape(model.n_components, h, w, c + 2)
            model.state_ = layout.from_ranked(ranked)
            model.frame_shape_ = frame_shape
        model.scale_ = scale
        model.n_frames_ = n_frames
        model.gain_ = gain
        model._prev_sub = prev_sub if prev_sub is not None and prev_sub.size else None
        if runs is not None and runs.size and runs.shape == tuple(frame_shape[:2]):
            model._runs = (np.ascontiguousarray(runs, np.uint16), np.zeros(runs.shape[0], np.uint8))
        model.shift_, model._points = _saved_alignment(shift, points, frame_shape,
                                                       model.max_shift, path)
        if (len(anchor) != 2 or held < 0 or recent.ndim != 2 or recent.shape[1] != 3
                or not np.isfinite(recent).all() or (recent[:, :2] % 1 != 0).any()
                or (np.abs(recent[:, :2]) > 16).any()):
            raise ValueError(f"{path}: not a bgsub model file (the alignment's anchor {anchor} "
                             f"or last shifts)")
        model.anchor_, model._held = anchor, held
        model._recent.extend((int(x), int(y), float(a)) for x, y, a in recent[-_ANCHOR_FRAMES:])
        return model


def shift_image(src, dst, sx, sy, replicate):
    """dst[i, j] = src[i + sy, j + sx] for uint8 images (H, W) or (H, W, C) of one shape:
    outside ``src``, its nearest edge pixel when ``replicate``, else 0.  One OpenCV call, a
    copy of the rows and the border: 0.01 ms at 640x360 gray, a tenth of a Numba loop's."""
    import cv2

    h, w = src.shape[:2]
    if src.ndim == 3 and src.shape[2] == 1:
        src, dst = src.reshape(h, w), dst.reshape(h, w)
    inside = src[max(sy, 0):h + min(sy, 0), max(sx, 0):w + min(sx, 0)]
    cv2.copyMakeBorder(inside, max(-sy, 0), max(sy, 0), max(-sx, 0), max(sx, 0),
                       cv2.BORDER_REPLICATE if replicate else cv2.BORDER_CONSTANT, dst=dst,
                       value=0)


def _saved_alignment(shift, points, frame_shape, radius, path):
    """(shift_, _points) of a model file, checked: the shift within ``radius`` and every point
    far enough from the frame's border for any shift to stay inside it."""
    h, w = frame_shape[:2] if len(frame_shape) == 3 else (0, 0)
    ok = len(shift) == 2 and max(abs(shift[0]), abs(shift[1])) <= radius
    if points is not None:
        r = radius + 1
        i, j = points // max(w, 1), points % max(w, 1)
        ok = ok and points.ndim == 1 and points.size <= _SHIFT_POINTS and (
            points.size == 0 or (i.min() >= r and i.max() < h - r and j.min() >= r
                                 and j.max() < w - r))
    if not ok:
        raise ValueError(f"{path}: not a bgsub model file (the alignment's shift {shift} or "
                         f"points do not fit max_shift={radius} and the frame)")
    if points is None:
        return shift, None
    buf = np.zeros(_SHIFT_POINTS, np.int32)
    buf[:points.size] = points
    return shift, (buf, int(points.size), radius)


def _saved_runs(z, n_frames):
    """The ghost rule's runs of foreground in a model file (None: none saved).  A file written
    before the runs were counted (bgsub up to e4de824) holds each pixel's (first, last) frame of
    its run instead: a run that includes the last frame, ``n_frames``, has lasted
    ``n_frames - first + 1`` frames."""
    if "run_lengths" in z:
        return z["run_lengths"]
    if "runs" not in z or z["runs"].ndim != 3 or z["runs"].shape[0] != 2:
        return None
    since, last = z["runs"].astype(np.int64)
    return np.where(last == n_frames, np.clip(n_frames - since + 1, 0, 65535), 0)


_DUMMY = np.zeros((1, 1), np.uint8)
# The ghost rule's decision (bgsub.model._kernels.ghost_absorb): a blob of _GHOST_MIN_PX pixels
# or more is a ghost when _GHOST_BORDER of its border shows no edge in the frame (the value within
# _GHOST_CLOSE of the match threshold of a background neighbour's first component) where the
# model has one, and _GHOST_STABLE of its pixels show a value seen for a while
_GHOST_MIN_PX = 20
_GHOST_BORDER = 0.7
_GHOST_CLOSE = 0.7
_GHOST_STABLE = 0.5
_GHOST_EVERY = 8  # the ghost rule looks at its blobs on frames whose number is a multiple
_NO_RUNS = (np.zeros((1, 1), np.uint16), np.zeros(1, np.uint8))


def _new_runs(h, w):
    """The ghost rule's scratch: per pixel its frames of foreground in a row (uint16, up to
    65535), and a flag per row (see bgsub.model._kernels)."""
    return (np.zeros((h, w), np.uint16), np.zeros(h, np.uint8))
_NO_GRID = np.zeros((1, 1), bool)
_GAIN_SAMPLES = 2048  # pixels on the gain-estimation grid (about)
_GAIN_MIN_SAMPLES = 64
_GAIN_DEADBAND = 0.02
_GAIN_STEP = 0.01  # the smallest change of the estimate that updates the gain
_GAIN_AGREE = 0.08
# Aligning a shaking camera's frames (max_shift): up to _SHIFT_POINTS background pixels whose
# first-rank mean steps by more than _SHIFT_GRAD grey levels to a neighbour, chosen every
# _SHIFT_EVERY frames; a point agrees within _SHIFT_TOL grey levels; a shift is taken when
# _SHIFT_AGREE of the points agree there and _SHIFT_GAIN of them more than at (0, 0)
_SHIFT_POINTS = 500
_SHIFT_MIN_POINTS = 50
_SHIFT_GRAD = 8.0
_SHIFT_TOL = 6.0
_SHIFT_AGREE = 0.15
_SHIFT_GAIN = 0.03
_SHIFT_EVERY = 16
_SHIFT_SCAN = 50_000  # pixels looked at for points, about: every step-th row and column
_ANCHOR_FRAMES = 8  # the model moves by the median shift of this many frames (see _reanchor)
_ANCHOR_AGREE = 0.2  # and at least this share of the points agreed with each frame's best shift
_ANCHOR_HOLD = 128  # or one shift has held this many frames
_KNOCK_WAS = 0.3  # a knock is looked for when the last frames' points agreed this well
_KNOCK_KEEP = 0.5  # and a shift found beyond the search is taken when they agree this well there
_KNOCK_SIDE = 320  # pixels across of the images the knock's phase correlation compares
_KNOCK_CLIMB = 8  # steps of a pixel that the points may move the phase correlation's answer
# the texture cue (see texture): from this frame on, once the background has settled; R and r
# of its threshold max(R, r c) (r as rq = round(256 r)); the bit it sets in the decisions
_TEXTURE_FROM = 30
_TEXTURE_R = 15
_TEXTURE_RQ = 77  # r = 0.3
_TEXTURE_FLAG = 4
_TEXTURE_EVERY = 8  # the background's gray plane: an eighth of its rows made again a frame


def _fmt(shape):
    h, w, c = shape
    return f"{w}x{h}x{c}"
