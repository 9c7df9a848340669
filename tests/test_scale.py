"""Several inputs at once (bgsub.scale): live cameras concurrently, a local process pool, a
real Dask cluster on 127.0.0.1 (scheduler and two worker processes, one of them killed
partway), and one video split in time and merged."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import bgsub
from bgsub.pipeline.run import RunOptions

from .conftest import (DATA, SAMPLES, SUBPROCESS_TIMEOUT, bgsub_env, bgsub_popen,
                       needs_videos, wait_for_rows)
from .test_sources import MjpegServer

HAVE_DASK = importlib.util.find_spec("distributed") is not None
needs_dask = pytest.mark.skipif(not HAVE_DASK, reason="Dask distributed is not installed "
                                "(pip install 'bgsub[dask]' or '.[test]')")
STREET, PARK = SAMPLES / "street.mp4", SAMPLES / "park.mp4"
HIGHWAY = DATA / "videos" / "highway_cam_320x240.avi"
PEDESTRIANS = DATA / "videos" / "pedestrians_480x360.avi"


def masks(folder: Path) -> np.ndarray:
    cap = cv2.VideoCapture(str(folder / "mask.mkv"))
    out = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        out.append(img[:, :, 0])
    cap.release()
    return np.array(out)


def rows(folder: Path) -> list[str]:
    return (folder / "frames.csv").read_text().splitlines()[1:]


def events(folder: Path) -> list[dict]:
    return json.loads((folder / "events.json").read_text())["events"]


def partials(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".partial" in p.name or ".bgsub-chunks" in str(p)]


def assert_same_outputs(a: Path, b: Path):
    assert rows(a) == rows(b)
    assert events(a) == events(b)
    assert np.array_equal(masks(a), masks(b))


# ---------------------------------------------------------------------------- live inputs
def test_two_live_cameras_run_at_once(tmp_path, warm_kernels):
    """Two 25 fps MJPEG cameras, 150 frames each, are read at the same time: while one camera
    is still mid-stream, the other is streaming too.  (How long it takes is measured by
    scripts/bench_scale.py, not asserted here.)"""
    with MjpegServer(per_connection=400, connections=3, fps=25) as a, \
            MjpegServer(per_connection=400, connections=3, fps=25) as b:
        proc = bgsub_popen("run", a.url, b.url, "--max-frames", 150, "--no-display",
                           "-o", tmp_path / "out", "--json")
        both_mid_stream = False
        while proc.poll() is None:
            both_mid_stream |= 10 < a.sent < 140 and 10 < b.sent < 140
            time.sleep(0.02)
        out, err = proc.communicate(timeout=SUBPROCESS_TIMEOUT)
    assert proc.returncode == 0, err
    assert both_mid_stream
    doc = json.loads(out)
    assert [s["frames"] for s in doc["inputs"]] == [150, 150]
    dirs = [Path(s["output_dir"]) for s in doc["inputs"]]
    assert len(set(dirs)) == 2  # per-input outputs: the same URL name gets _2
    for d in dirs:
        assert len(rows(d)) == 150 and (d / "mask.mkv").is_file() and not partials(d)


# ---------------------------------------------------------------------------- local pool
def test_jobs_2_gives_the_sequential_results(tmp_path, warm_kernels):
    opts = RunOptions(display=False, quiet=True, max_frames=60)
    seq = bgsub.run_many([STREET, PARK], tmp_path / "seq", opts, jobs=1)
    par = bgsub.run_many([STREET, PARK], tmp_path / "par", opts, jobs=2)
    assert [s["input"] for s in par] == [str(STREET), str(PARK)]
    for s, p in zip(seq, par):
        assert s["ok"] and p["ok"] and s["frames"] == p["frames"] == 60
        assert s["events_list"] == p["events_list"]
        assert_same_outputs(Path(s["output_dir"]), Path(p["output_dir"]))


def test_jobs_keeps_per_input_errors_and_exit_codes(tmp_path, warm_kernels):
    results = {}
    for jobs in (1, 2):
        proc = bgsub_popen("run", STREET, tmp_path / "missing.mp4", "--max-frames", 20,
                           "--no-display", "-q", "-j", jobs, "-o", tmp_path / f"j{jobs}")
        out, err = proc.communicate(timeout=SUBPROCESS_TIMEOUT)
        results[jobs] = (proc.returncode, err.strip())
        assert len(rows(tmp_path / f"j{jobs}" / "street")) == 20
    assert results[1] == results[2]
    assert results[1][0] == 1 and results[1][1] == f"Error: {tmp_path / 'missing.mp4'}: no such file"


@needs_videos
def test_sigterm_stops_every_worker_and_finalises(tmp_path, warm_kernels):
    out = tmp_path / "out"
    proc = bgsub_popen("run", HIGHWAY, PEDESTRIANS, "-j", 2, "--no-display", "-o", out)
    for name in ("highway_cam_320x240", "pedestrians_480x360"):
        wait_for_rows(out / name / ".frames.partial.csv", 20, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=SUBPROCESS_TIMEOUT)
    assert proc.returncode == 130, err
    import cv2

    for name, video in (("highway_cam_320x240", HIGHWAY), ("pedestrians_480x360", PEDESTRIANS)):
        d = out / name
        n = len(rows(d))
        total = int(cv2.VideoCapture(str(video)).get(cv2.CAP_PROP_FRAME_COUNT))  # 750, 795
        assert 20 <= n < total  # stopped partway, and what was processed is all there
        assert len(masks(d)) == n and json.loads((d / "events.json").read_text())[
            "summary"]["interrupted"]
        assert not partials(d)


# ---------------------------------------------------------------------------- chunks
@needs_videos
def test_chunks_merge_as_if_sequential(tmp_path, warm_kernels):
    """3 chunks of 240 frames, each learning 75 frames (3 / 0.04) first (here, one after
    another: the pool is tested above; the merge is the same)."""
    opts = RunOptions(display=False, quiet=True, max_frames=240,
                      model_params={"learning_rate": 0.04})
    [seq] = bgsub.run_many([HIGHWAY], tmp_path / "seq", opts, jobs=1)
    [ch] = bgsub.run_many([HIGHWAY], tmp_path / "ch", opts, jobs=1, chunks=3)
    assert ch["ok"] and ch["frames"] == seq["frames"] == 240
    assert [c["warmup_from"] for c in ch["chunks"]] == [0, 5, 85]
    a, b = masks(tmp_path / "seq"), masks(tmp_path / "ch")
    assert a.shape == b.shape
    agree = (a == b).mean()
    assert agree >= 0.99, agree
    assert [r.split(",")[0] for r in rows(tmp_path / "ch")] == [str(i) for i in range(240)]
    assert rows(tmp_path / "ch")[:80] == rows(tmp_path / "seq")[:80]  # no warm-up: exact
    chunked = events(tmp_path / "ch")
    for e in events(tmp_path / "seq"):
        assert any(abs(e["start_frame"] - c["start_frame"]) <= 15
                   and abs(e["end_frame"] - c["end_frame"]) <= 15 for c in chunked), e
    assert not partials(tmp_path / "ch") and (tmp_path / "ch" / "background.png").is_file()


def test_chunks_refuse_clips(tmp_path):
    proc = bgsub_popen("run", STREET, "--chunks", 2, "--clips", "-o", tmp_path / "o")
    _, err = proc.communicate(timeout=SUBPROCESS_TIMEOUT)
    assert proc.returncode == 2 and "--clips cannot be combined with --chunks" in err


# ---------------------------------------------------------------------------- Dask
def test_dask_missing_is_a_one_line_error(tmp_path):
    fake = tmp_path / "nodask"
    fake.mkdir()
    (fake / "distributed.py").write_text("raise ImportError('No module named distributed')\n")
    env = bgsub_env()
    env["PYTHONPATH"] = f"{fake}{os.pathsep}{env['PYTHONPATH']}"
    proc = bgsub_popen("run", STREET, "--dask", "tcp://127.0.0.1:1", env=env)
    out, err = proc.communicate(timeout=SUBPROCESS_TIMEOUT)
    assert proc.returncode == 2 and out == ""
    assert err.strip().splitlines() == [
        "Error: --dask needs Dask distributed, an optional extra: pip install 'bgsub[dask]'"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """``dask scheduler`` and two ``dask worker`` processes (no nanny: killing a worker's pid
    kills the worker) on 127.0.0.1; torn down on exit."""

    def __init__(self, tmp: Path, workers: int = 2):
        self.port = _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.env = bgsub_env(NUMBA_NUM_THREADS="1")
        self.procs, self.workers, self.tmp, self.n = [], [], tmp, workers

    def _start(self, *args, log):
        p = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_" + args[0],
                              *args[1:]], env=self.env, cwd=self.tmp,
                             stdout=subprocess.DEVNULL, stderr=open(self.tmp / log, "w"))
        self.procs.append(p)
        return p

    def __enter__(self):
        from distributed import Client

        self._start("scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                    "--no-dashboard", log="scheduler.log")
        for k in range(self.n):
            self.workers.append(self._start("worker", self.address, "--nthreads", "1",
                                            "--no-nanny", "--no-dashboard", "--host",
                                            "127.0.0.1", log=f"worker{k}.log"))
        deadline = time.monotonic() + 120
        while True:
            try:
                with Client(self.address, timeout="5s") as c:
                    c.wait_for_workers(self.n, timeout=max(1, deadline - time.monotonic()))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.kill()
            p.wait(timeout=30)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if not HAVE_DASK:
        pytest.skip("Dask distributed is not installed (pip install 'bgsub[dask]')")
    with Cluster(tmp_path_factory.mktemp("dask")) as c:
        yield c


@needs_dask
def test_dask_events_equal_the_local_run(tmp_path, cluster, warm_kernels):
    opts = RunOptions(display=False, quiet=True, max_frames=60)
    local = bgsub.run_many([STREET, PARK], tmp_path / "local", opts, jobs=1)
    remote = bgsub.run_many([STREET, PARK], tmp_path / "dask", opts, dask=cluster.address)
    assert [s["input"] for s in remote] == [str(STREET), str(PARK)]
    for a, b in zip(local, remote):
        assert b["ok"], b
        assert a["events_list"] == b["events_list"]
        assert_same_outputs(Path(a["output_dir"]), Path(b["output_dir"]))


@needs_dask
@needs_videos
def test_dask_worker_killed_partway_loses_nothing(tmp_path, warm_kernels):
    """SIGKILL one of two workers mid-task: no half-written file under a final name; Dask
    gives the task to the other worker and the run completes."""
    (tmp_path / "c").mkdir()
    with Cluster(tmp_path / "c") as c:
        out = tmp_path / "out"
        proc = bgsub_popen("run", HIGHWAY, PEDESTRIANS, "--max-frames", 400, "--dask",
                           c.address, "--no-display", "--progress", "-o", out)
        names = ("highway_cam_320x240", "pedestrians_480x360")
        for name in names:
            wait_for_rows(out / name / ".frames.partial.csv", 30, proc)
        victim = c.workers[0]
        victim.kill()
        victim.wait(timeout=30)
        for name in names:  # one task was cut short: nothing of it under a final name
            d = out / name
            assert not (d / "frames.csv").exists() or len(rows(d)) == 400
        _, err = proc.communicate(timeout=SUBPROCESS_TIMEOUT)
    assert proc.returncode == 0, err
    assert "tasks 2/2" in err
    for name in names:
        d = out / name
        assert len(rows(d)) == 400 and len(masks(d)) == 400
        assert [int(r.split(",")[0]) for r in rows(d)] == list(range(400))
        assert not partials(d)
        assert json.loads((d / "events.json").read_text())["summary"]["frames"] == 400


@needs_dask
def test_dask_malformed_address_is_a_one_line_error():
    proc = bgsub_popen("run", STREET, "--dask", "nonsense")
    out, err = proc.communicate(timeout=SUBPROCESS_TIMEOUT)
    assert proc.returncode == 1 and out == "", err
    assert "Traceback" not in err
    assert err.strip().splitlines() == [
        "Error: --dask nonsense: cannot reach the scheduler (missing port number in address "
        "'nonsense')"]


def test_a_live_input_that_crashes_has_an_error_summary(tmp_path, monkeypatch):
    """An unexpected exception in a live input's thread is that input's error, as a worker
    process's crash is: the other inputs' summaries and the count stay whole."""
    from bgsub.scale import jobs

    def run_task(task, stop, progress_stream=None):
        if task.source == "rtsp://a/x":
            raise RuntimeError("boom")
        return {"input": str(task.source), "ok": True, "error": None, "frames": 1}

    monkeypatch.setattr(jobs, "run_task", run_task)
    got = bgsub.run_many(["rtsp://a/x", "rtsp://b/y"], tmp_path)
    assert [s["ok"] for s in got] == [False, True]
    assert got[0]["error"] == "RuntimeError: boom"


def test_merged_chunks_continue_the_camera_shifts_and_replay_camera_moves():
    """Each chunk's model measures the camera from its own first frame: the merge offsets a
    chunk's shifts so that they continue the last chunk's, and the replayed tracker finds the
    move once, not again (backwards) at the boundary."""
    from bgsub.scale.chunks import _continued, replay_events

    def rows(first, shifts):
        return [[str(first + i), f"{(first + i) / 10:.3f}", "t", "0.000000", "0", "0", "0",
                 *(("", "") if s is None else map(str, s))] for i, s in enumerate(shifts)]

    a = rows(0, [(0, 0)] * 40 + [(-3, 2)] * 60)  # the camera moved at frame 40
    b = rows(100, [(0, 0)] * 50 + [(2, 0)] * 50)  # the next chunk's model started after that
    merged = a + _continued(a, b)
    assert [r[7:] for r in merged[99:102]] == [["-3", "2"]] * 3
    assert merged[-1][7:] == ["-1", "2"] and merged[149][7:] == ["-3", "2"]
    opts = RunOptions(camera_settle=20)
    moves = [(e["start_frame"], e["dx"], e["dy"]) for e in replay_events(merged, opts)
             if e["kind"] == "camera_moved"]
    assert moves == [(40, -3, 2), (150, 2, 0)]
    # rows without shifts (max_shift=0, OpenCV's models) pass through
    c = rows(200, [None] * 5)
    assert _continued(merged, c) == c and _continued([], b) == b
