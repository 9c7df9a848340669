"""Windows for a run: frame with boxes, mask, background; keyboard control.

OpenCV's Qt windows abort the whole process (uncatchably) when there is no display, so
:func:`display_available` must say yes before any window is opened.
"""

from __future__ import annotations

import os
import sys

KEYS = {ord("q"): "quit", 27: "quit", ord(" "): "pause", ord("f"): "freeze", ord("r"): "reset",
        ord("s"): "snapshot"}

TITLES = ("bgsub: frame", "bgsub: mask", "bgsub: background")


def display_available() -> bool:
    """True when a window can be opened (on Linux: an X11 or Wayland display is set)."""
    if sys.platform.startswith("linux") or "bsd" in sys.platform:
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


class Display:
    """Three windows; :meth:`show` draws and returns the actions of the keys pressed."""

    def __init__(self):
        import cv2

        for t in TITLES:
            cv2.namedWindow(t, cv2.WINDOW_NORMAL)
        self.paused = False
        self._placed = False

    def _place(self, h, w):
        """Frame and mask side by side at frame size (at most 640 wide), background below."""
        import cv2

        f = min(1.0, 640.0 / w)
        dw, dh = int(w * f), int(h * f)
        for t, (x, y) in zip(TITLES, [(0, 0), (dw + 10, 0), (0, dh + 60)]):
            cv2.resizeWindow(t, dw, dh)
            cv2.moveWindow(t, x, y)
        self._placed = True

    def show(self, overlay, mask, background=None, wait_ms: int = 1) -> list[str]:
        import cv2

        if not self._placed:
            self._place(*overlay.shape[:2])
        cv2.imshow(TITLES[0], overlay)
        cv2.imshow(TITLES[1], mask)
        if background is not None:
            cv2.imshow(TITLES[2], background)
        return self.poll(wait_ms)

    def poll(self, wait_ms: int = 1) -> list[str]:
        import cv2

        key = cv2.waitKey(max(1, wait_ms)) & 0xFF
        action = KEYS.get(key)
        if action == "pause":
            self.paused = not self.paused
        return [action] if action else []

    def close(self):
        import cv2

        cv2.destroyAllWindows()
        cv2.waitKey(1)
