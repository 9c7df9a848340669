"""Small chart helpers drawn with OpenCV (no plotting library needed): text, nice ticks, a
line chart with shaded spans, a colour bar.  Images are uint8 BGR."""

from __future__ import annotations

import math

import numpy as np

FONT = 0  # cv2.FONT_HERSHEY_SIMPLEX
INK = (40, 40, 40)
GRID = (225, 225, 225)
# Okabe-Ito colours (colour-blind safe), BGR
BLUE = (178, 114, 0)
ORANGE = (0, 159, 230)
GREEN = (115, 158, 0)
VERMILION = (0, 94, 213)
SKY = (233, 180, 86)
PURPLE = (167, 121, 204)
GREY = (120, 120, 120)
SERIES = (BLUE, VERMILION, GREEN, ORANGE, PURPLE, SKY)


def text(img, s, org, scale=0.5, color=INK, thickness=1, align="left", valign="baseline"):
    """Anti-aliased text; ``align`` left/center/right of org's x, ``valign`` baseline/center/top
    of org's y.  Returns the text's (width, height)."""
    import cv2

    (w, h), base = cv2.getTextSize(s, FONT, scale, thickness)
    x, y = org
    if align == "center":
        x -= w // 2
    elif align == "right":
        x -= w
    if valign == "center":
        y += h // 2
    elif valign == "top":
        y += h
    cv2.putText(img, s, (int(x), int(y)), FONT, scale, color, thickness, cv2.LINE_AA)
    return w, h


def nice_ticks(lo: float, hi: float, n: int = 6) -> list[float]:
    """Round tick values covering [lo, hi], about ``n`` of them."""
    if not math.isfinite(lo) or not math.isfinite(hi) or hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(n - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    v = first
    while v <= hi + 1e-9 * step:
        ticks.append(round(v, 12))
        v += step
    return ticks


def fmt_tick(v: float, step: float) -> str:
    if step >= 1 and abs(v - round(v)) < 1e-9:
        return f"{int(round(v))}"
    digits = max(0, -int(math.floor(math.log10(step))) + (0 if step * 10 ** math.ceil(
        -math.log10(step)) % 1 == 0 else 1))
    return f"{v:.{min(digits, 4)}f}"


def clock(seconds: float) -> str:
    """m:ss or h:mm:ss for an axis label."""
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


class Axes:
    """A plot area inside an image with data-to-pixel mapping, grid, ticks and labels."""

    def __init__(self, img, box, xlim, ylim):
        self.img = img
        self.x0, self.y0, self.x1, self.y1 = box  # pixel rectangle of the plot area
        self.xlim, self.ylim = xlim, ylim

    def px(self, x, y):
        (a, b), (c, d) = self.xlim, self.ylim
        xs = self.x0 + (np.asarray(x, float) - a) / ((b - a) or 1) * (self.x1 - self.x0)
        ys = self.y1 - (np.asarray(y, float) - c) / ((d - c) or 1) * (self.y1 - self.y0)
        return xs, ys

    def frame(self, xlabel="", ylabel="", xfmt=None, yfmt=None, scale=0.5):
        import cv2

        img = self.img
        xt = [t for t in nice_ticks(*self.xlim, n=max(3, (self.x1 - self.x0) // 110))
              if self.xlim[0] - 1e-9 <= t <= self.xlim[1] + 1e-9]
        yt = [t for t in nice_ticks(*self.ylim, n=max(3, (self.y1 - self.y0) // 45))
              if self.ylim[0] - 1e-9 <= t <= self.ylim[1] + 1e-9]
        xstep = xt[1] - xt[0] if len(xt) > 1 else 1.0
        ystep = yt[1] - yt[0] if len(yt) > 1 else 1.0
        for t in yt:
            _, y = self.px(0, t)
            cv2.line(img, (self.x0, int(y)), (self.x1, int(y)), GRID, 1)
            text(img, (yfmt or (lambda v: fmt_tick(v, ystep)))(t), (self.x0 - 8, int(y)), scale,
                 align="right", valign="center")
        for t in xt:
            x, _ = self.px(t, 0)
            cv2.line(img, (int(x), self.y0), (int(x), self.y1), GRID, 1)
            cv2.line(img, (int(x), self.y1), (int(x), self.y1 + 5), INK, 1)
            text(img, (xfmt or (lambda v: fmt_tick(v, xstep)))(t), (int(x), self.y1 + 22),
                 scale, align="center")
        cv2.rectangle(img, (self.x0, self.y0), (self.x1, self.y1), INK, 1)
        if xlabel:
            text(img, xlabel, ((self.x0 + self.x1) // 2, self.y1 + 44), scale, align="center")
        if ylabel:
            (w, h), _ = cv2.getTextSize(ylabel, FONT, scale, 1)
            tmp = np.full((h + 8, w + 4, 3), 255, np.uint8)
            text(tmp, ylabel, (2, h + 2), scale)
            rot = cv2.rotate(tmp, cv2.ROTATE_90_COUNTERCLOCKWISE)
            cy = (self.y0 + self.y1) // 2 - rot.shape[0] // 2
            cy = max(0, min(cy, img.shape[0] - rot.shape[0]))
            img[cy:cy + rot.shape[0], 4:4 + rot.shape[1]] = np.minimum(
                img[cy:cy + rot.shape[0], 4:4 + rot.shape[1]], rot)

    def span(self, xa, xb, color, alpha=0.35):
        """A shaded vertical band from data x ``xa`` to ``xb``."""
        a, _ = self.px(xa, 0)
        b, _ = self.px(xb, 0)
        a, b = int(max(self.x0, a)), int(min(self.x1, max(b, a + 1)))
        if b <= a:
            b = a + 1
        import cv2

        roi = self.img[self.y0 + 1:self.y1, a:b]
        # in OpenCV, on the bytes: the same blend in NumPy floats took 24 ms for a band as
        # wide as the plot, a fifth of the time a run spends on its report
        cv2.addWeighted(roi, 1 - alpha, np.full_like(roi, color), alpha, 0.0, dst=roi)
        return a, b

    def line(self, x, y, color, thickness=2):
        import cv2

        if len(x) == 0:
            return
        x, y = np.asarray(x, float), np.asarray(y, float)
        bad = ~np.isfinite(y)
        if bad.any():  # gaps: draw each finite run on its own
            edges = np.flatnonzero(np.diff(np.r_[True, bad, True].astype(np.int8)))
            for a, b in zip(edges[::2], edges[1::2]):
                if b - a == 1:
                    px, py = self.px(x[a], y[a])
                    cv2.circle(self.img, (int(px), int(py)), 2, color, -1, cv2.LINE_AA)
                elif b > a:
                    self.line(x[a:b], y[a:b], color, thickness)
            return
        xs, ys = self.px(x, y)
        ys = np.clip(ys, self.y0, self.y1)
        if len(xs) > 4 * (self.x1 - self.x0):  # many points per pixel column: min/max envelope
            cols = np.clip(np.round(xs).astype(int), self.x0, self.x1)
            top = np.full(self.x1 + 1, np.inf)
            bottom = np.full(self.x1 + 1, -np.inf)
            np.minimum.at(top, cols, ys)
            np.maximum.at(bottom, cols, ys)
            used = np.flatnonzero(np.isfinite(top))
            for c in used:
                cv2.line(self.img, (int(c), int(top[c])), (int(c), int(bottom[c])), color, 1)
            pts = np.stack([used, (top[used] + bottom[used]) / 2], 1)
            cv2.polylines(self.img, [np.round(pts).astype(np.int32)], False, color, 1,
                          cv2.LINE_AA)
            return
        pts = np.stack([xs, ys], 1)
        cv2.polylines(self.img, [np.round(pts).astype(np.int32)], False, color, thickness,
                      cv2.LINE_AA)

    def hline(self, y, color, dashed=True, label=None, scale=0.45):
        import cv2

        _, py = self.px(0, y)
        py = int(py)
        if not self.y0 <= py <= self.y1:
            return
        step = 10 if dashed else self.x1 - self.x0
        for x in range(self.x0, self.x1, step):
            cv2.line(self.img, (x, py), (min(x + (6 if dashed else step), self.x1), py), color,
                     1, cv2.LINE_AA)
        if label:
            text(self.img, label, (self.x1 - 6, py - 6), scale, color, align="right")


def legend(img, items, org, scale=0.5):
    """Legend entries ``(label, colour, kind)`` (kind "line" or "box") left to right."""
    import cv2

    x, y = org
    for label, color, kind in items:
        if kind == "box":
            cv2.rectangle(img, (x, y - 10), (x + 22, y + 2), color, -1)
        else:
            cv2.line(img, (x, y - 4), (x + 22, y - 4), color, 3, cv2.LINE_AA)
        w, _ = text(img, label, (x + 28, y), scale)
        x += 28 + w + 24


def colorbar(height, width, colormap, lo_label, hi_label, title, scale=0.45):
    """A vertical colour bar image (high at the top) with its labels."""
    import cv2

    img = np.full((height, width, 3), 255, np.uint8)
    bar_h = height - 60
    ramp = np.linspace(255, 0, bar_h).astype(np.uint8)[:, None].repeat(18, 1)
    bar = cv2.applyColorMap(ramp, colormap)
    img[30:30 + bar_h, 8:26] = bar
    cv2.rectangle(img, (8, 30), (25, 29 + bar_h), INK, 1)
    text(img, hi_label, (32, 30), scale, valign="center")
    text(img, lo_label, (32, 29 + bar_h), scale, valign="center")
    text(img, title, (4, 18), scale)
    return img
