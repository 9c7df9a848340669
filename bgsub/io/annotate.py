"""Labels and zones drawn on frames (the overlay video, the live view, the report).

A label is white text on a filled dark box: one pass of ``putText``, readable on any picture
(an outline drawn with a thicker ``putText`` is wider than the text with OpenCV 5, and shows as
a second copy beside it)."""

from __future__ import annotations

import numpy as np

FONT = 0  # cv2.FONT_HERSHEY_SIMPLEX
ZONE_COLOR = (255, 200, 0)  # BGR: idle zones, light blue
ZONE_ACTIVE = (0, 0, 255)  # a zone with foreground in this frame: red


def draw_label(img: np.ndarray, text: str, org, scale: float = 0.5,
               color=(255, 255, 255), background=(24, 24, 24), pad: int = 3) -> None:
    """``text`` with its top-left corner at ``org``, on a filled ``background`` box, in place;
    kept inside the picture."""
    import cv2

    (tw, th), base = cv2.getTextSize(text, FONT, scale, 1)
    h, w = img.shape[:2]
    x = int(min(max(org[0], 0), max(w - tw - 2 * pad, 0)))
    y = int(min(max(org[1], 0), max(h - th - base - 2 * pad, 0)))
    cv2.rectangle(img, (x, y), (x + tw + 2 * pad, y + th + base + 2 * pad), background, -1)
    cv2.putText(img, text, (x + pad, y + pad + th), FONT, scale, color, 1, cv2.LINE_AA)


def draw_zones(img: np.ndarray, zones, active=(), scale: float = 1.0,
               thickness: int = 2) -> None:
    """Each zone's outline and name, in place; zones named in ``active`` in red.  ``scale``
    maps the zones' frame coordinates onto ``img``."""
    import cv2

    for z in zones:
        pts = np.round(np.asarray(z.points, np.float64) * scale).astype(np.int32)
        color = ZONE_ACTIVE if z.name in active else ZONE_COLOR
        cv2.polylines(img, [pts], True, color, thickness, cv2.LINE_AA)
        (tw, th), base = cv2.getTextSize(z.name, FONT, 0.45, 1)
        cx, cy = pts.mean(axis=0)  # the name centred on the zone's vertices' mean
        draw_label(img, z.name, (int(cx - tw / 2) - 3, int(cy - (th + base) / 2) - 3),
                   scale=0.45, color=(0, 0, 0), background=color)
