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
