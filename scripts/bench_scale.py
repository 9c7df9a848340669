"""Throughput of several inputs at once: 1 and 2 local worker processes, and a Dask cluster of
1 and 2 workers (or the one at --dask), on the same inputs; optionally one video in chunks.

    python scripts/bench_scale.py                    # the real videos (or the samples)
    python scripts/bench_scale.py --max-frames 300 --chunks 2 --json
    python scripts/bench_scale.py --dask tcp://host:8786 VIDEO...

Each figure is the wall time of a whole ``bgsub run`` command (process start, JIT cache load,
decode, model, writing), median of --repeat runs; throughput is the input frames processed per
second of it.  The Dask cluster is started here on 127.0.0.1 (scheduler, then ``dask worker
--nthreads 1 --no-nanny`` per worker, NUMBA_NUM_THREADS = cores // workers) unless --dask
names one; its start-up is not timed (a cluster already exists in real use).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("BGSUB_DATA", ROOT.parent / "shared" / "data"))


def default_inputs() -> list[Path]:
    videos = sorted((DATA / "videos").glob("*.*")) if (DATA / "videos").is_dir() else []
    return videos or sorted((ROOT / "sample_videos").glob("*.mp4"))


def env(**extra):
    e = dict(os.environ, PYTHONPATH=str(ROOT), **extra)
    e.pop("DISPLAY", None)
    return e


def run(args, out: Path, extra_env=None) -> tuple[float, dict]:
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "bgsub.cli", "run", *map(str, args), "-o",
                        str(out), "--no-display", "-q", "--json"], capture_output=True,
                       text=True, env=env(**(extra_env or {})))
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"bgsub run failed ({p.returncode}): {p.stderr}")
    return wall, json.loads(p.stdout)


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class LocalCluster:
    """Scheduler and ``workers`` worker processes on 127.0.0.1 (subprocesses)."""

    def __init__(self, workers: int):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.workers, self.procs = workers, []

    def __enter__(self):
        from distributed import Client

        e = env(NUMBA_NUM_THREADS=str(max(1, cores() // self.workers)))
        dn = subprocess.DEVNULL
        self.procs.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
             "--port", str(self.port), "--no-dashboard"], env=e, stdout=dn, stderr=dn))
        for _ in range(self.workers):
            self.procs.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", self.address,
                 "--nthreads", "1", "--no-nanny", "--no-dashboard", "--host", "127.0.0.1"],
                env=e, stdout=dn, stderr=dn))
        deadline = time.monotonic() + 120
        try:
            while True:
                try:
                    with Client(self.address, timeout="5s") as c:
                        c.wait_for_workers(self.workers, timeout=60)
                    return self
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
        except BaseException:  # __exit__ is not called when __enter__ fails
            self.__exit__()
            raise

    def __exit__(self, *exc):
        for p in reversed(self.procs):
            p.kill()
            p.wait()


def agreement(a: Path, b: Path) -> dict:
    """Mask agreement and event matching (within 15 frames at both ends) of two outputs."""
    import cv2
    import numpy as np

    def masks(d):
        cap, out = cv2.VideoCapture(str(d / "mask.mkv")), []
        while True:
            ok, img = cap.read()
            if not ok:
                return np.array(out)
            out.append(img[:, :, 0])

    ma, mb = masks(a), masks(b)
    ea = json.loads((a / "events.json").read_text())["events"]
    eb = json.loads((b / "events.json").read_text())["events"]
    matched = sum(any(abs(e["start_frame"] - f["start_frame"]) <= 15
                      and abs(e["end_frame"] - f["end_frame"]) <= 15 for f in eb) for e in ea)
    return {"mask_agreement": float((ma == mb).mean()) if ma.shape == mb.shape else None,
            "sequential_events": len(ea), "chunked_events": len(eb),
            "sequential_events_matched": matched}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="*", type=Path)
    ap.add_argument("--max-frames", type=int, help="Frames per input (default: all).")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--dask", help="An existing scheduler instead of local 1- and 2-worker "
                                   "clusters.")
    ap.add_argument("--no-dask", action="store_true", help="Local workers only.")
    ap.add_argument("--chunks", type=int, default=0,
                    help="Also split the longest input in this many chunks (2 workers) and "
                         "compare with its sequential run.")
    ap.add_argument("--chunk-warmup", type=int)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    inputs = args.inputs or default_inputs()
    common = [*inputs] + (["--max-frames", args.max_frames] if args.max_frames else [])
    rows, frames = [], None
    tmp = Path(tempfile.mkdtemp(prefix="bgsub-bench-scale-"))

    def measure(name, extra, workers, extra_env=None):
        nonlocal frames
        walls = []
        for r in range(args.repeat):
            wall, doc = run([*common, *extra], tmp / f"{name.replace(' ', '_')}_{r}", extra_env)
            walls.append(wall)
            frames = sum(s["frames"] for s in doc["inputs"])
        wall = statistics.median(walls)
        rows.append({"setup": name, "workers": workers, "frames": frames,
                     "seconds": round(wall, 2), "fps": round(frames / wall, 1)})
        if not args.json:
            print(f"{name:<28} {workers:>2} workers  {frames:>6} frames  {wall:7.2f} s  "
                  f"{frames / wall:7.1f} fps", flush=True)

    run([inputs[0], "--max-frames", 5], tmp / "warm")  # the JIT cache, before timing
    measure("local --jobs 1", ["-j", 1], 1)
    measure("local --jobs 2", ["-j", 2], 2)
    if args.dask:
        measure("dask (given cluster)", ["--dask", args.dask], None)
    elif not args.no_dask:
        try:
            import distributed  # noqa: F401
        except ImportError:
            print("Dask not installed: pip install 'bgsub[dask]' (skipped)", file=sys.stderr)
        else:
            for n in (1, 2):
                with LocalCluster(n) as c:
                    measure(f"dask, {n} local worker{'s' * (n > 1)}", ["--dask", c.address], n)
    result = {"cores": cores(), "inputs": [str(p) for p in inputs], "runs": rows}
    if args.chunks:
        longest = max(inputs, key=lambda p: p.stat().st_size)
        extra = ["--max-frames", args.max_frames] if args.max_frames else []
        wx = ["--chunk-warmup", args.chunk_warmup] if args.chunk_warmup is not None else []
        t_seq, _ = run([longest, *extra, "-j", 1], tmp / "chunk_seq")
        t_ch, doc = run([longest, *extra, "-j", 2, "--chunks", args.chunks, *wx],
                        tmp / "chunk_par")
        result["chunks"] = {"input": str(longest), "chunks": args.chunks,
                            "sequential_seconds": round(t_seq, 2),
                            "chunked_seconds": round(t_ch, 2),
                            "warmup_from": [c["warmup_from"] for c in doc["inputs"][0]["chunks"]],
                            **agreement(tmp / "chunk_seq", tmp / "chunk_par")}
        if not args.json:
            print(f"chunks: {result['chunks']}")
    if args.json:
        print(json.dumps(result, indent=2))
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
