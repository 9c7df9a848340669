"""OpenCV's ``BackgroundSubtractorMOG2`` interface over bgsub's model, so OpenCV code switches
with one line::

    subtractor = cv2.createBackgroundSubtractorMOG2(history=500, varThreshold=16)
    subtractor = bgsub.createBackgroundSubtractorGMM(history=500, varThreshold=16)

Every parameter means what it means in OpenCV (``modules/video/src/bgfg_gaussmix2.cpp``) and
has OpenCV's default; :class:`bgsub.MixtureSubtractor` does the work, set up as MOG2 is:
Zivkovic's pruning (``variant="zivkovic"``), the matched component following the pixel at
``alpha / w`` (``rho="weight"``), no spatial vote, no gain compensation.

* ``history``: the automatic learning rate of frame n (counted from the last initialisation) is
  ``1 / min(2 n, history)``.
* ``varThreshold``: squared Mahalanobis distance below which a pixel is explained by a
  background component; bgsub's ``match_threshold`` is in standard deviations, so it is
  ``sqrt(varThreshold)``.
* ``varInit``, ``varMin``, ``varMax``: OpenCV's variance of a component is that of the squared
  distance summed over the channels, bgsub's is per channel: the model gets them divided by the
  number of channels (the same for gray frames).
* ``apply(image, fgmask=None, learningRate=-1)``: a negative rate is the automatic one, 0
  freezes the model, 1 re-initialises it from this frame; a frame of another size or type
  re-initialises it too.  The mask is 255 (foreground), 0 (background) or the shadow value.
  As in OpenCV, the frame that initialises the model is all foreground (the shadow value
  where it is not black when shadows are detected).
* ``backgroundRatio``, ``nmixtures``, ``complexityReductionThreshold``, ``detectShadows``,
  ``shadowValue`` and ``shadowThreshold`` (tau): as in OpenCV.

Where OpenCV's semantics are not matched exactly:

* OpenCV matches a pixel to a component (and updates it) within ``varThresholdGen`` (9, three
  standard deviations) and classifies it with ``varThreshold``; bgsub's model has one threshold
  for both, ``varThreshold``.  ``setVarThresholdGen`` stores the value and warns that it has
  no effect.
* OpenCV keeps each pixel's components sorted by weight; bgsub ranks them by weight / sigma
  (Stauffer and Grimson), which decides which components are background when their weights
  are close.
* Shadows: bgsub's test (brightness ratio in [tau, 1] against a background component, colour
  distortion within the threshold) follows OpenCV's ``detectShadowGMM`` but not bit for bit.
* Input: 8-bit gray or BGR frames only (OpenCV also takes float images).
* ``setNMixtures`` on a running subtractor starts a new model at the next frame (bgsub's state
  is sized by the number of components).
* Speed: OpenCV's default ``complexityReductionThreshold`` (0.05, Zivkovic's pruning) runs on
  bgsub's Zivkovic kernel, which is slower than OpenCV's MOG2 (640x360 gray, on a busy 2-core
  VM: 16.8 against 8.3 ms a frame); ``setComplexityReductionThreshold(0)`` (no pruning, as in
  Stauffer and Grimson) runs on bgsub's fast kernel (6.4 against 8.6 ms) with the same
  agreement with OpenCV.
* Masks agree with OpenCV's on most pixels, not all: the two models are not the same
  arithmetic (float32 state, a global weight scale, the ranking above).  On the sample video
  ``sample_videos/street.mp4`` with the defaults, 99.6% of each frame's pixels get the same
  label on average (gray frames; 98.4% for BGR); tests/test_opencv_compat.py.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from bgsub.model.mixture import MixtureSubtractor

__all__ = ["BackgroundSubtractorGMM", "createBackgroundSubtractorGMM"]


def _positive(name: str, value: float) -> float:
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return v


class BackgroundSubtractorGMM:
    """OpenCV's ``BackgroundSubtractorMOG2`` methods over :class:`bgsub.MixtureSubtractor`.

    Make one with :func:`createBackgroundSubtractorGMM`; the module's docstring says what each
    parameter means and where OpenCV's behaviour is not matched exactly.  The model is in
    :attr:`model`.
    """

    def __init__(self, history: int = 500, varThreshold: float = 16.0,
                 detectShadows: bool = True) -> None:
        self._history = 500
        self._var_threshold = 16.0
        self._var_threshold_gen = 9.0
        self._shadow_value = 127
        self._var_init, self._var_min, self._var_max = 15.0, 4.0, 75.0  # OpenCV's units
        self._nframes = 0  # frames since the model was (re)initialised, as OpenCV counts them
        self.model = MixtureSubtractor(
            n_components=5, learning_rate=1.0 / 500, match_threshold=4.0,
            background_ratio=0.9, initial_variance=15.0, min_variance=4.0, max_variance=75.0,
            rho="weight", warmup=2.0, smoothing=1, vote=1.0, solid=1,
            detect_shadows=bool(detectShadows), shadow_threshold=0.5, variant="zivkovic",
            complexity_prior=0.05, gain_compensation=False, max_shift=0)  # MOG2 aligns nothing
        self.setHistory(history)
        self.setVarThreshold(varThreshold)

    # ------------------------------------------------------------------ the frame loop
    def apply(self, image: np.ndarray, fgmask: np.ndarray | None = None,
              learningRate: float = -1) -> np.ndarray:
        """The foreground mask of ``image`` (uint8 (H, W)), learning from it at
        ``learningRate`` (negative: automatic, ``1 / min(2 n, history)``; 0: frozen; 1:
        re-initialise).  ``fgmask``: a uint8 (H, W) array to write the mask into."""
        model = self.model
        frame = np.asarray(image)
        rate = float(learningRate)
        if not math.isfinite(rate):
            raise ValueError(f"learningRate must be a finite number, got {learningRate!r}")
        shape = frame.shape if frame.ndim == 3 else frame.shape + (1,)
        if self._nframes == 0 or rate >= 1.0 or shape != model.frame_shape_:
            model.reset()
            self._nframes = 0
        self._nframes += 1
        model.match_threshold = math.sqrt(self._var_threshold)
        c = shape[-1]  # OpenCV's variances are summed over the channels, bgsub's per channel
        model.initial_variance = self._var_init / c
        model.min_variance, model.max_variance = self._var_min / c, self._var_max / c
        h, w = shape[:2]
        if not (isinstance(fgmask, np.ndarray) and fgmask.shape == (h, w)
                and fgmask.dtype == np.uint8 and fgmask.flags.c_contiguous
                and fgmask.flags.writeable):
            fgmask = None  # as OpenCV: an output array that does not fit is replaced
        if self._nframes == 1:  # OpenCV: the initialising frame is all foreground
            mask = model.apply(frame, learning_rate=1.0, out=fgmask)
            mask[...] = 255
            if model.detect_shadows:  # its one component is a shadow of it, unless it is black
                mask[(frame.reshape(h, w, -1) > 0).any(axis=2)] = self._shadow_value
            return mask
        if rate < 0:
            rate = 1.0 / min(2 * self._nframes, self._history)
        mask = model.apply(frame, learning_rate=rate, out=fgmask)
        if model.detect_shadows and self._shadow_value != 127:
            mask[mask == 127] = self._shadow_value
        return mask

    def getBackgroundImage(self, backgroundImage: np.ndarray | None = None) -> np.ndarray | None:
        """The background: per pixel the weighted mean of its background components, with the
        input's channels; None before the first frame."""
        image = self.model.background_image()
        if image is not None and backgroundImage is not None:
            backgroundImage[...] = image
            return backgroundImage
        return image

    def clear(self) -> None:
        """Forget the model; the next frame initialises a new one."""
        self.model.reset()
        self._nframes = 0

    def empty(self) -> bool:
        return self.model.state_ is None

    def getDefaultName(self) -> str:
        return "bgsub.BackgroundSubtractorGMM"

    # ------------------------------------------------------------------ parameters
    def getHistory(self) -> int:
        return self._history

    def setHistory(self, history: int) -> None:
        if isinstance(history, bool) or int(history) != history or history < 1:
            raise ValueError(f"history must be an integer >= 1, got {history!r}")
        self._history = int(history)
        self.model.learning_rate = 1.0 / self._history

    def getVarThreshold(self) -> float:
        return self._var_threshold

    def setVarThreshold(self, varThreshold: float) -> None:
        self._var_threshold = _positive("varThreshold", varThreshold)

    def getVarThresholdGen(self) -> float:
        return self._var_threshold_gen

    def setVarThresholdGen(self, varThresholdGen: float) -> None:
        self._var_threshold_gen = _positive("varThresholdGen", varThresholdGen)
        warnings.warn("bgsub.createBackgroundSubtractorGMM: setVarThresholdGen has no effect; "
                      "bgsub matches and classifies with one threshold, varThreshold",
                      UserWarning, stacklevel=2)

    def getNMixtures(self) -> int:
        return self.model.n_components

    def setNMixtures(self, nmixtures: int) -> None:
        if isinstance(nmixtures, bool) or int(nmixtures) != nmixtures or not 1 <= nmixtures <= 16:
            raise ValueError(f"nmixtures must be an integer from 1 to 16, got {nmixtures!r}")
        if int(nmixtures) != self.model.n_components:
            params = self.model.get_params()
            params["n_components"] = int(nmixtures)
            self.model = MixtureSubtractor(**params)
            self._nframes = 0

    def getBackgroundRatio(self) -> float:
        return self.model.background_ratio

    def setBackgroundRatio(self, ratio: float) -> None:
        r = float(ratio)
        if not 0.0 < r <= 1.0:
            raise ValueError(f"backgroundRatio must be in (0, 1], got {ratio!r}")
        self.model.background_ratio = r

    def getVarInit(self) -> float:
        return self._var_init

    def setVarInit(self, varInit: float) -> None:
        self._var_init = _positive("varInit", varInit)

    def getVarMin(self) -> float:
        return self._var_min

    def setVarMin(self, varMin: float) -> None:
        v = _positive("varMin", varMin)
        if v > self._var_max:
            raise ValueError(f"varMin ({v}) must not exceed varMax ({self._var_max})")
        self._var_min = v

    def getVarMax(self) -> float:
        return self._var_max

    def setVarMax(self, varMax: float) -> None:
        v = _positive("varMax", varMax)
        if v < self._var_min:
            raise ValueError(f"varMax ({v}) must not be below varMin ({self._var_min})")
        self._var_max = v

    def getComplexityReductionThreshold(self) -> float:
        return self.model.complexity_prior

    def setComplexityReductionThreshold(self, ct: float) -> None:
        c = float(ct)
        if not 0.0 <= c < 1.0:
            raise ValueError(f"complexityReductionThreshold must be in [0, 1), got {ct!r}")
        self.model.complexity_prior = c
        # without pruning Zivkovic's update is Stauffer and Grimson's, and that kernel is faster
        self.model.variant = "zivkovic" if c > 0 else "stauffer-grimson"

    def getDetectShadows(self) -> bool:
        return self.model.detect_shadows

    def setDetectShadows(self, detectShadows: bool) -> None:
        self.model.detect_shadows = bool(detectShadows)

    def getShadowValue(self) -> int:
        return self._shadow_value

    def setShadowValue(self, value: int) -> None:
        if isinstance(value, bool) or int(value) != value or not 0 <= value <= 255:
            raise ValueError(f"shadowValue must be an integer from 0 to 255, got {value!r}")
        self._shadow_value = int(value)

    def getShadowThreshold(self) -> float:
        return self.model.shadow_threshold

    def setShadowThreshold(self, threshold: float) -> None:
        t = float(threshold)
        if not 0.0 < t <= 1.0:
            raise ValueError(f"shadowThreshold must be in (0, 1], got {threshold!r}")
        self.model.shadow_threshold = t


def createBackgroundSubtractorGMM(history: int = 500, varThreshold: float = 16.0,
                                  detectShadows: bool = True) -> BackgroundSubtractorGMM:
    """bgsub's model behind OpenCV's ``cv2.createBackgroundSubtractorMOG2`` signature and
    interface: the same arguments, defaults and methods (``apply``, ``getBackgroundImage``, the
    get/set pairs); see :mod:`bgsub.model.opencv` for what each parameter means and where
    OpenCV is not matched exactly."""
    return BackgroundSubtractorGMM(history=history, varThreshold=varThreshold,
                                   detectShadows=detectShadows)
