"""Polygon zones and polygon ROIs: ``"NAME:x1,y1 x2,y2 x3,y3 ..."`` in input-frame pixels.

A :class:`Zone` is parsed once (:func:`parse_zone`), rasterised once per mask size
(:class:`ZoneMasks`, with ``cv2.fillPoly``) and then tested against the foreground of moving
frames only: a zone is touched when a foreground pixel lies inside it, counted within the zone's
bounding box.  :class:`EventZones` gathers, frame by frame, the zones each motion event touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_POINT = re.compile(r"^(-?\d+(?:\.\d+)?),(-?\d+(?:\.\d+)?)$")


class ZoneError(ValueError):
    """A malformed polygon; the message names it and says what was expected."""


@dataclass(frozen=True)
class Zone:
    name: str
    points: tuple  # ((x, y), ...) in input-frame pixels, at least three

    def as_dict(self) -> dict:
        return {"name": self.name, "points": [list(p) for p in self.points]}

    def spec(self) -> str:
        return f"{self.name}:" + " ".join(f"{x},{y}" for x, y in self.points)


FORM = "NAME:x1,y1 x2,y2 x3,y3 ..."
POLYGON = "x1,y1 x2,y2 x3,y3 ..."  # the form of a polygon --roi: no name


def looks_like_polygon(spec: str) -> bool:
    """Whether ``spec`` is meant as a polygon rather than a file name: it has an ``x,y`` pair,
    or is nothing but numbers (DVR-Scan's ``-a 0 0 100 0 100 100`` form: refused as a
    malformed polygon, not looked for as a file)."""
    body = str(spec).split(":", 1)[1] if ":" in str(spec) else str(spec)
    return bool(re.search(r"\d\s*,\s*-?\d", body) or re.fullmatch(r"[\d\s,;.+-]*\d[\d\s,;.+-]*",
                                                                    body))


def parse_zone(spec: str, need_name: bool = True, what: str = "--zone") -> Zone:
    """``"NAME:x1,y1 x2,y2 x3,y3 ..."`` (``need_name=False``: the ``NAME:`` may be left out,
    as for a polygon ``--roi``); :class:`ZoneError` naming the problem otherwise."""
    form = FORM if need_name else POLYGON
    s = str(spec).strip()
    name, sep, body = s.partition(":")
    if not sep:
        if need_name:
            raise ZoneError(f"{what} {spec!r}: expected {FORM}")
        name, body = "roi", s
    name = name.strip()
    if not _NAME.match(name):
        raise ZoneError(f"{what} {spec!r}: the name {name!r} must be letters, digits, '_', '.' "
                        f"or '-' (expected {form})")
    points = []
    for tok in body.replace(";", " ").split():
        m = _POINT.match(tok)
        if not m:
            raise ZoneError(f"{what} {spec!r}: {tok!r} is not a point x,y (expected {form})")
        points.append((int(round(float(m.group(1)))), int(round(float(m.group(2))))))
    if len(points) < 3:
        raise ZoneError(f"{what} {spec!r}: a polygon needs at least three points x,y "
                        f"(expected {form})")
    if len(set(points)) < 3 or _area(points) == 0:
        raise ZoneError(f"{what} {spec!r}: the points enclose no area")
    return Zone(name, tuple(points))


def parse_zones(specs, what: str = "--zone") -> list[Zone]:
    """Several zones; their names must differ."""
    zones = [parse_zone(s, what=what) for s in specs or ()]
    seen = set()
    for z in zones:
        if z.name in seen:
            raise ZoneError(f"{what}: the name {z.name!r} is used twice")
        seen.add(z.name)
    return zones


def _area(points) -> float:
    pts = np.asarray(points, np.float64)
    x, y = pts[:, 0], pts[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _scaled(points, sx: float, sy: float) -> np.ndarray:
    return np.round(np.asarray(points, np.float64) * (sx, sy)).astype(np.int32)


def polygon_mask(zones, shape, frame_shape=None) -> np.ndarray:
    """bool (H, W) of ``shape``: True inside any of ``zones`` (coordinates of a frame of
    ``frame_shape``, default ``shape``)."""
    import cv2

    h, w = shape[:2]
    fh, fw = (frame_shape or shape)[:2]
    out = np.zeros((h, w), np.uint8)
    for z in zones:  # one at a time: in one call, overlapping polygons cancel out (even-odd)
        cv2.fillPoly(out, [_scaled(z.points, w / fw, h / fh)], 255)
    return out > 0


class ZoneMasks:
    """The zones rasterised for masks of ``mask_shape`` taken from frames of ``frame_shape``:
    per zone its bounding box and the zone's pixels inside it."""

    def __init__(self, zones, mask_shape, frame_shape=None):
        import cv2

        h, w = mask_shape[:2]
        fh, fw = (frame_shape or mask_shape)[:2]
        self.shape = (h, w)
        self.parts = []
        for z in zones:
            pts = _scaled(z.points, w / fw, h / fh)
            full = np.zeros((h, w), np.uint8)
            cv2.fillPoly(full, [pts], 255)
            ys, xs = np.nonzero(full)
            if not len(ys):  # wholly outside the frame: never touched
                continue
            y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
            self.parts.append((z.name, y0, y1, x0, x1, np.ascontiguousarray(full[y0:y1, x0:x1])))

    def touched(self, mask: np.ndarray) -> tuple:
        """Names of the zones in which ``mask`` (uint8, 0 / nonzero) has foreground."""
        import cv2

        out = []
        for name, y0, y1, x0, x1, part in self.parts:
            if cv2.countNonZero(cv2.bitwise_and(mask[y0:y1, x0:x1], part)):
                out.append(name)
        return tuple(out)


class EventZones:
    """The zones each motion event touched, fed once per frame after the event tracker.

    Moving frames before an event opens (those that confirm it) count for it; while it is open,
    every moving frame adds its zones.  :attr:`done` lists, in the order the events closed, the
    sorted zone names of each."""

    def __init__(self):
        self.done: list[list[str]] = []
        self.current: set | None = None
        self._run: set = set()

    def update(self, touched, moving: bool, opened: bool, closed: int) -> None:
        """One frame: its zones, whether it is moving, whether a motion event opened with it,
        and how many motion events closed with it."""
        for _ in range(closed):
            self.close()
        if opened:
            self.current = self._run | set(touched)
            self._run = set()
        elif moving and self.current is not None:
            self.current.update(touched)
        elif moving:
            self._run.update(touched)
        else:
            self._run = set()

    def close(self) -> None:
        self.done.append(sorted(self.current or ()))
        self.current = None

    def now(self) -> list[str]:
        """The open event's zones so far."""
        return sorted(self.current or ())
