"""Frames in and files out: video sources (files, cameras, streams, image folders), the
sinks that write a run's per-frame outputs atomically, display windows, and drawing on
frames."""
