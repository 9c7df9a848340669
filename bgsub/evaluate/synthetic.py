"""Synthetic scenes with exact ground truth, for samples, tests and demos.

A scene is a textured static background under a slow illumination drift, with sensor noise, an
optional region of swaying foliage-like texture (dynamic background: labelled background) and
textured objects moving across it (labelled 255 wherever they cover a pixel).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np


def _blurred_noise(rng, h, w, scale, channels=1):
    import cv2

    small = rng.random((max(2, h // scale), max(2, w // scale), channels)).astype(np.float32)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return img.reshape(h, w, channels)


def _texture(rng, h, w, base_colour, contrast):
    """A colour texture: a base colour modulated by noise at three scales."""
    t = (0.5 * _blurred_noise(rng, h, w, 24) + 0.3 * _blurred_noise(rng, h, w, 6)
         + 0.2 * _blurred_noise(rng, h, w, 2))
    t = (t - t.mean()) / (t.std() + 1e-6)
    return np.clip(np.asarray(base_colour, np.float32)[None, None, :] + contrast * t, 0, 255)


@dataclass
class MovingObject:
    x: float
    y: float
    vx: float
    vy: float
    w: int
    h: int
    start: int  # first frame on which it moves
    texture: np.ndarray  # (h, w, 3) float32
    ellipse: bool


class SyntheticScene:
    """A reproducible scene; ``frame(t)`` returns ``(image uint8 BGR, ground truth uint8)``."""

    def __init__(self, width: int = 320, height: int = 240, n_frames: int = 150,
                 n_objects: int = 4, noise: float = 3.0, drift: float = 0.08,
                 foliage: bool = True, seed: int = 0) -> None:
        self.width, self.height, self.n_frames = width, height, n_frames
        self.noise, self.drift = noise, drift
        self.seed = seed
        rng = np.random.default_rng(seed)
        h, w = height, width
        bg = _texture(rng, h, w, rng.uniform(80, 170, 3), 30)
        # a few flat "buildings" and a road band give the background edges
        for _ in range(5):
            x0, y0 = rng.integers(0, w - w // 8), rng.integers(0, h // 2)
            bw, bh = rng.integers(w // 10, w // 3), rng.integers(h // 8, h // 3)
            bg[y0:y0 + bh, x0:x0 + bw] = _texture(rng, bh, bw, rng.uniform(40, 220, 3), 12)[
                : max(0, min(bh, h - y0)), : max(0, min(bw, w - x0))]
        bg[int(h * 0.62):int(h * 0.85)] = _texture(rng, int(h * 0.85) - int(h * 0.62), w,
                                                    (90, 90, 95), 6)
        self.background = bg.astype(np.float32)
        self.foliage = None
        if foliage:
            fh, fw = h // 3, w // 4
            self.foliage = (0, w - fw, fh, fw, _texture(rng, fh + 8, fw + 8, (50, 120, 60), 45),
                            rng.uniform(0, 2 * np.pi, (fh, fw)).astype(np.float32))
        self.objects = []
        for i in range(n_objects):
            ow = int(rng.integers(max(3, w * 0.055), max(4, w * 0.14)))
            oh = int(rng.integers(max(3, h * 0.06), max(4, h * 0.145)))
            y = float(rng.uniform(h * 0.45, h * 0.8 - oh))
            left = bool(rng.integers(0, 2))
            speed = float(rng.uniform(1.2, 3.5))
            start = int(rng.integers(n_frames // 5, max(n_frames // 5 + 1, n_frames // 2)))
            start = start if i else n_frames // 5  # the first object starts early
            self.objects.append(MovingObject(
                x=-ow if left else w, y=y, vx=speed if left else -speed,
                vy=float(rng.uniform(-0.3, 0.3)), w=ow, h=oh, start=start,
                texture=_texture(rng, oh, ow, rng.uniform(0, 255, 3), 25),
                ellipse=bool(rng.integers(0, 2))))

    def frame(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        import cv2

        h, w = self.height, self.width
        rng = np.random.default_rng((self.seed, t))
        img = self.background.copy()
        if self.foliage is not None:
            y0, x0, fh, fw, tex, phase = self.foliage
            gx, gy = np.meshgrid(np.arange(fw, dtype=np.float32), np.arange(fh, dtype=np.float32))
            sway = 3.0 * np.sin(2 * np.pi * t / 17.0 + phase * 0.3)
            img[y0:y0 + fh, x0:x0 + fw] = cv2.remap(tex, gx + 4 + sway, gy + 4 + 0.5 * sway,
                                                    cv2.INTER_LINEAR,
                                                    borderMode=cv2.BORDER_REFLECT)
        gt = np.zeros((h, w), np.uint8)
        for ob in self.objects:
            if t < ob.start:
                continue
            x = int(round(ob.x + ob.vx * (t - ob.start)))
            y = int(round(ob.y + ob.vy * (t - ob.start)))
            shape = np.zeros((ob.h, ob.w), np.uint8)
            if ob.ellipse:
                cv2.ellipse(shape, (ob.w // 2, ob.h // 2), (ob.w // 2, ob.h // 2), 0, 0, 360, 1,
                            -1)
            else:
                shape[:] = 1
            ys, xs = max(0, y), max(0, x)
            ye, xe = min(h, y + ob.h), min(w, x + ob.w)
            if ye <= ys or xe <= xs:
                continue
            sub = shape[ys - y:ye - y, xs - x:xe - x].astype(bool)
            img[ys:ye, xs:xe][sub] = ob.texture[ys - y:ye - y, xs - x:xe - x][sub]
            gt[ys:ye, xs:xe][sub] = 255
        gain = 1.0 + self.drift * np.sin(2 * np.pi * t / max(self.n_frames, 1))
        img = img * gain + rng.normal(0.0, self.noise, img.shape).astype(np.float32)
        return np.clip(np.rint(img), 0, 255).astype(np.uint8), gt

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for t in range(self.n_frames):
            yield self.frame(t)


def synthetic_scene(**kwargs: Any) -> SyntheticScene:
    """A :class:`SyntheticScene` (see its parameters)."""
    return SyntheticScene(**kwargs)


def write_sequence(scene: SyntheticScene, folder, video: bool = True, jpeg_quality: int = 90,
                   learn_frames: int = 0):
    """Write ``scene`` in CDnet layout (``input/``, ``groundtruth/``, ``temporalROI.txt``) and,
    with ``video``, as ``<folder>.mp4`` beside it (mp4v)."""
    import cv2
    from pathlib import Path

    folder = Path(folder)
    (folder / "input").mkdir(parents=True, exist_ok=True)
    (folder / "groundtruth").mkdir(parents=True, exist_ok=True)
    writer = None
    if video:
        writer = cv2.VideoWriter(str(folder.with_suffix(".mp4")), cv2.VideoWriter_fourcc(*"mp4v"),
                                 25.0, (scene.width, scene.height))
    try:
        for t, (img, gt) in enumerate(scene, start=1):
            cv2.imwrite(str(folder / "input" / f"in{t:06d}.jpg"), img,
                        [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
            cv2.imwrite(str(folder / "groundtruth" / f"gt{t:06d}.png"), gt)
            if writer is not None:
                writer.write(img)
    finally:
        if writer is not None:
            writer.release()
    (folder / "temporalROI.txt").write_text(f"{learn_frames + 1} {scene.n_frames}\n")
