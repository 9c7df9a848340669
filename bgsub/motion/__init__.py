"""From foreground masks to motion: post-processing, per-frame detection and events
(``detector``), and polygon zones (``zones``)."""

from bgsub.motion.detector import (CameraTracker, Event, EventTracker, MotionDetector,
                                   MotionResult, PostProcessor, detect_motion)

__all__ = ["CameraTracker", "Event", "EventTracker", "MotionDetector", "MotionResult",
           "PostProcessor", "detect_motion"]
