"""Coordinate search for MixtureSubtractor defaults on the real ground-truth sequences.

    python scripts/tune.py [--rounds 2] [key=value ...]

Starts from the current defaults (or the key=value overrides), then varies one parameter at a
time over a small grid, keeping a change only when the mean F over the real sequences rises.
Prints every trial: the record of how the defaults were chosen.
"""
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from accuracy import data_dir, find_sequences, load, run_all  # noqa: E402

GRID = {
    "learning_rate": [0.001, 0.002, 0.003, 0.005, 0.01, 0.02],
    "match_threshold": [2.0, 2.5, 3.0, 3.5, 4.0],
    "background_ratio": [0.6, 0.7, 0.8, 0.9, 0.95],
    "initial_variance": [25.0, 50.0, 100.0, 225.0],
    "min_variance": [2.0, 4.0, 9.0, 16.0, 25.0],
    "max_variance": [64.0, 81.0, 100.0, 144.0, 400.0, 1600.0],
    "rho": ["weight", "density"],
    "neighbour_threshold": [0.0, 2.0, 2.5, 3.0],
}


def main():
    args = [a for a in sys.argv[1:] if "=" in a]
    rounds = 2
    params = {}
    for a in args:
        k, v = a.split("=", 1)
        params[k] = v if k == "rho" else float(v)
    loaded = [load(p) for p in find_sequences(data_dir() / "sequences")]

    def score(p):
        r = run_all(loaded, ["bgsub"], p)["bgsub"]
        fs = {n: s.f_measure for n, s in r.items()}
        return sum(fs.values()) / len(fs), fs

    best, fs = score(params)
    print(f"start {params}: {best:.4f} {fs}", flush=True)
    for _ in range(rounds):
        changed = False
        for key, values in GRID.items():
            for v in values:
                if params.get(key) == v:
                    continue
                trial = dict(params, **{key: v})
                if trial.get("min_variance", 9) > trial.get("max_variance", 1600):
                    continue
                t0 = time.time()
                f, fs = score(trial)
                print(f"  {key}={v}: {f:.4f} " + " ".join(f"{n}={x:.3f}" for n, x in fs.items())
                      + f" ({time.time() - t0:.0f}s)", flush=True)
                if f > best + 1e-4:
                    best, params, changed = f, trial, True
            print(f"best so far {params}: {best:.4f}", flush=True)
        if not changed:
            break
    print(f"final {params}: {best:.4f}")


if __name__ == "__main__":
    main()
