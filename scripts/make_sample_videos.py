"""Write the project's sample videos: synthetic scenes with exact ground truth.

    python scripts/make_sample_videos.py [--out sample_videos]

Each scene becomes a CDnet-layout folder (input/ JPEGs, groundtruth/ PNGs, temporalROI.txt) that
``bgsub eval`` and ``scripts/accuracy.py`` score, and an .mp4 of the same frames for ``bgsub run``.
"""
import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bgsub.evaluate.synthetic import SyntheticScene, write_sequence  # noqa: E402

SCENES = {
    # a street: textured background, noise, illumination drift, cars crossing
    "street": dict(width=320, height=240, n_frames=120, n_objects=5, noise=3.0, drift=0.08,
                   foliage=False, seed=1),
    # the same kind of street with a swaying tree (dynamic background) in a corner
    "park": dict(width=320, height=240, n_frames=120, n_objects=4, noise=4.0, drift=0.05,
                 foliage=True, seed=2),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "sample_videos")
    args = ap.parse_args()
    for name, params in SCENES.items():
        folder = args.out / name
        if folder.exists():
            shutil.rmtree(folder)
        write_sequence(SyntheticScene(**params), folder, learn_frames=10, jpeg_quality=80)
        print(f"wrote {folder} and {folder.with_suffix('.mp4')}")


if __name__ == "__main__":
    main()
