import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_videos"
DATA = Path(os.environ.get("BGSUB_DATA", ROOT.parent / "shared" / "data"))

needs_data = pytest.mark.skipif(not (DATA / "sequences").is_dir(),
                                reason=f"real data not found at {DATA} (set BGSUB_DATA)")
needs_videos = pytest.mark.skipif(not (DATA / "videos").is_dir(),
                                  reason=f"real videos not found at {DATA}/videos (set BGSUB_DATA)")


def truncated_avi(folder: Path) -> Path:
    """The street sample as an MJPG AVI, cut in half (its index, at the end, is lost)."""
    import cv2

    src = cv2.VideoCapture(str(SAMPLES / "street.mp4"))
    path = folder / "cut.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (320, 240))
    while True:
        ok, f = src.read()
        if not ok:
            break
        w.write(f)
    w.release()
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    return path
