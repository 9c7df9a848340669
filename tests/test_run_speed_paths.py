"""The paths a run takes for speed give the same results as the plain ones.

* the model's vote split from its update (:meth:`MixtureSubtractor.apply_unvoted` then
  :meth:`~MixtureSubtractor.vote_mask`, on two threads in a run) equals :meth:`apply`;
* the model's thread count does not change a run's outputs;
* the run command's kernel preload leaves scipy's BLAS unimported, and scipy importable;
* the commands other than `bgsub em` start NumPy without OpenBLAS's threads;
* a stage given ``nice`` (a file's reader, the writer) runs at a lower priority, its caller not;
* a kernel loads from Numba's cache without the refresh of Numba's whole target that a compile
  needs, and gives the same results;
* Numba runs bgsub's parallel kernels on its OpenMP layer where it has one, even where TBB
  is installed, unless the user chose otherwise;
* on Numba's workqueue layer, which aborts when two threads run parallel kernels at once, a
  threaded run, EM and the batch fit from several threads finish (bgsub serialises them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

import bgsub
from bgsub.pipeline.run import LARGE_FRAME, RunOptions, model_threads, run_input

from .conftest import ROOT, SAMPLES, SUBPROCESS_TIMEOUT, bgsub_env, read_video

STREET = SAMPLES / "street.mp4"


def _frames(n=40):
    cap = cv2.VideoCapture(str(STREET))
    out = []
    while len(out) < n:
        ok, f = cap.read()
        if not ok:
            break
        out.append(f)
    cap.release()
    assert len(out) == n
    return out


@pytest.mark.parametrize("params", [{}, {"detect_shadows": True}, {"smoothing": 1}, {"texture": 4},
                                    {"smoothing": 5, "vote": 0.4, "solid": 1}])
def test_apply_unvoted_then_vote_mask_equals_apply(params):
    frames = _frames()
    a, b = bgsub.MixtureSubtractor(**params), bgsub.MixtureSubtractor(**params)
    seen = set()
    for f in frames:
        want = a.apply(f).copy()
        raw = b.apply_unvoted(f)
        got = b.vote_mask(raw)
        assert np.array_equal(got, want)
        seen.update(np.unique(got).tolist())
    assert np.array_equal(a.state_, b.state_)
    assert 255 in seen  # the street sample has moving objects: the check compared something


def test_vote_mask_writes_into_out_and_keeps_raw():
    frames = _frames(12)
    m = bgsub.MixtureSubtractor()
    for f in frames[:-1]:
        m.apply(f)
    raw = m.apply_unvoted(frames[-1])
    before = raw.copy()
    out = np.full(raw.shape, 7, np.uint8)
    assert m.vote_mask(raw, out) is out
    assert np.array_equal(raw, before) and set(np.unique(out).tolist()) <= {0, 127, 255}
    for bad in (raw.astype(np.float32), raw[:, ::2], raw[None]):
        with pytest.raises(ValueError, match="apply_unvoted's mask"):
            m.vote_mask(bad)
    with pytest.raises(ValueError, match="out must be"):
        m.vote_mask(raw, np.empty((3, 3), np.uint8))


def test_model_threads_default_and_bounds():
    import numba

    assert model_threads() == max(1, min((os.cpu_count() or 1) - 1,
                                         numba.config.NUMBA_NUM_THREADS))
    assert model_threads(1) == 1
    assert model_threads(10_000) == numba.config.NUMBA_NUM_THREADS
    cores = min(os.cpu_count() or 1, numba.config.NUMBA_NUM_THREADS)
    # the size of the frames the model sees decides: every core from LARGE_FRAME pixels
    assert model_threads(shape=(360, 640)) == model_threads()
    assert model_threads(shape=(1080, 1920, 3)) == cores
    assert model_threads(shape=(1, LARGE_FRAME)) == cores
    assert model_threads(shape=(1, LARGE_FRAME - 1)) == model_threads()
    assert model_threads(1, shape=(1080, 1920)) == 1  # asked for: kept


def test_a_run_on_large_frames_gives_the_model_every_core(tmp_path):
    """The thread count is chosen from the frames the model sees: every core at 1000x504,
    the cores but one when --scale brings them under LARGE_FRAME pixels."""
    video = tmp_path / "large.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25, (1000, 504))
    rng = np.random.default_rng(3)
    for _ in range(6):
        w.write(rng.integers(0, 255, (504, 1000, 3), np.uint8))
    w.release()
    for scale, shape in ((1.0, (504, 1000)), (0.5, (252, 500))):
        s = run_input(str(video), tmp_path / f"o{scale}", RunOptions(
            display=False, quiet=True, report=False, mask_format="none", scale=scale))
        assert s["ok"] and s["frames"] == 6, s
        assert s["stage_ms"]["model_threads"] == model_threads(shape=shape)
    assert model_threads(shape=(504, 1000)) >= model_threads(shape=(252, 500))


def test_thread_count_does_not_change_a_run(tmp_path):
    """One and two model threads: the same masks and events; the summary names the count and
    gives each stage's CPU time."""
    results = {}
    for n in (1, 2):
        out = tmp_path / f"t{n}"
        s = run_input(str(STREET), out, RunOptions(display=False, quiet=True, model_threads=n,
                                                   mask_format="png", report=False))
        assert s["ok"] and s["frames"] > 50, s
        assert s["stage_ms"]["model_threads"] == model_threads(n)
        cpu = s["stage_ms"]["cpu"]
        assert set(cpu) == {"read", "model", "post", "write", "detect", "vote", "process"}
        assert all(v >= 0 for v in cpu.values())
        # the process's CPU holds every thread's: each stage's thread is part of it
        assert cpu["process"] >= 0.99 * max(cpu["read"], cpu["model"], cpu["detect"]) > 0
        results[n] = out
    masks = sorted(p.name for p in (results[1] / "masks").iterdir())
    assert len(masks) > 50
    for name in masks:
        a, b = (results[n] / "masks" / name for n in (1, 2))
        assert a.read_bytes() == b.read_bytes(), name
    ev = [json.loads((results[n] / "events.json").read_text())["events"] for n in (1, 2)]
    assert ev[0] == ev[1]


def test_the_texture_cue_cast_with_the_vote_changes_no_run(tmp_path):
    """A threaded run leaves the texture cue's patterns to the thread that votes (the model
    one frame ahead of it): the same masks and events as a run on one thread, where the model
    computes the cue itself, in colour and in gray."""
    for gray in (False, True):
        outs = {}
        for threaded in (True, False):
            out = outs[threaded] = tmp_path / f"g{gray}t{threaded}"
            s = run_input(str(STREET), out, RunOptions(
                model_params={"texture": 4}, gray=gray, threaded=threaded, display=False,
                quiet=True, mask_format="png", report=False, max_frames=70))
            assert s["ok"] and s["frames"] == 70, s
        names = sorted(p.name for p in (outs[True] / "masks").iterdir())
        assert len(names) == 70
        for name in names:
            a, b = (outs[t] / "masks" / name for t in (True, False))
            assert a.read_bytes() == b.read_bytes(), (gray, name)
        ev = [json.loads((outs[t] / "events.json").read_text())["events"] for t in (True, False)]
        assert ev[0] == ev[1]


def test_preload_in_the_run_command_skips_scipy_blas():
    # every kernel a run loads, loaded without scipy and without Numba's NumPy-sorting module
    # (numba.np.arraymath, 0.08 s of the start: no kernel calls NumPy's sorting code)
    pytest.importorskip("scipy")
    code = ("import sys; from bgsub.model import _warm; _warm.preload(lean=True).join(); "
            "from bgsub.model import _jit as j; k = j.kernels()['apply_frame']; "
            "print('scipy.linalg' in sys.modules, 'scipy' in sys.modules, "
            "'numba.np.arraymath' in sys.modules, all(k.ready for k in j.kernels().values() "
            "if k.__name__ != 'apply_frame_zivkovic' and not k.__name__.startswith('texture'))); "
            "import scipy.linalg; print('ok')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "False", "False", "True", "ok"], r.stdout


def test_preload_leaves_an_imported_scipy_alone():
    pytest.importorskip("scipy")
    code = ("import sys, scipy; from bgsub.model import _jit; _jit.hide_scipy_from_numba(); "
            "print(sys.modules['scipy'] is scipy)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip() == "True", r.stderr


# a cached kernel's first call in a fresh process: it loads without Numba's full refresh of its
# target, gives what the same kernel compiled gave, and a compile afterwards still works
_LEAN = """
import math, sys
import numba, numpy as np
from numba.core.registry import cpu_target
from bgsub.model import _jit, _layout as layout
ctx = cpu_target.target_context
full, refreshes = ctx.refresh, []
ctx.refresh = lambda: (refreshes.append(1), full())[1]
rng = np.random.default_rng(5)
frame = rng.choice([200, 199, 255], (9, 11, 3)).astype(np.uint8)
hot, _ = layout.views(layout.new_state(2, 9, 11, 3), 2, 9, 11, 3)
hot[:, layout.U, :] = 1.0
hot[:, layout.VAR, :] = 25.0
hot[:, layout.MEAN:, :] = rng.uniform(150, 230, (9, 3, 11)).astype(np.float32)
mask = rng.choice(np.array([0, 255], np.uint8), (9, 11))
k = _jit.kernels()["clear_clipped"]
args = (frame, hot, mask, np.uint8(200), np.float32(31.0), np.uint8(255))
print(bool(_jit.is_cached(k.disp, _jit._signature(k.disp, args))))
k(*args)
print(len(refreshes), mask.tobytes().hex())
f = numba.njit(lambda x: math.erf(x) + np.sort(np.array([3.0, x]))[0])
same = f(0.5) == math.erf(0.5) + 0.5  # compiled here
print(len(refreshes) > 0, same)
"""


def test_a_cached_kernel_loads_without_numbas_full_refresh_and_compiles_still_work():
    """Numba refreshes its whole target (every lowering registry, 70 ms here) before each cache
    load; bgsub's kernels load with the runtime alone, and give the same results."""
    runs = [subprocess.run([sys.executable, "-c", _LEAN], env=_env(BGSUB_JIT=mode),
                           capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT, cwd=ROOT)
            for mode in ("sync", "auto")]  # the first compiles the kernel if it is not cached
    for r in runs:
        assert r.returncode == 0, r.stderr
    cached, loaded, compiled = runs[1].stdout.split("\n")[:3]
    assert cached == "True"
    assert loaded.split()[0] == "0"  # no full refresh before or during the load
    assert loaded.split()[1] == runs[0].stdout.split("\n")[1].split()[1]  # the same mask
    assert compiled == "True True"


@pytest.mark.skipif(not os.path.isdir("/proc/self/task") or (os.cpu_count() or 1) < 2,
                    reason="counts the process's threads in /proc, on a machine with 2+ cores")
def test_the_commands_but_em_import_numpy_without_openblas_threads():
    """OpenBLAS's threads spin for 0.1 s after NumPy's import: the run command goes without
    them; `bgsub em`, which multiplies matrices, keeps them, and so does a user's setting."""
    code = ("import os, sys; sys.argv = ['bgsub', sys.argv[1]]; import bgsub.cli; "
            "print(os.environ.get('OPENBLAS_NUM_THREADS'), len(os.listdir('/proc/self/task')))")
    # OpenBLAS also reads these two for its thread count
    env = {k: v for k, v in _env().items()
           if k not in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")}

    def threads(command, **extra):
        r = subprocess.run([sys.executable, "-c", code, command], env=dict(env, **extra),
                           capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT, cwd=ROOT)
        assert r.returncode == 0, r.stderr
        return r.stdout.split()

    assert threads("run") == ["1", "1"]
    setting, n = threads("em")
    assert setting == "None" and int(n) > 1
    assert threads("run", OPENBLAS_NUM_THREADS="2")[0] == "2"


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="threads have priorities of their own on Linux only")
def test_a_stage_given_nice_runs_at_a_lower_priority_and_the_caller_keeps_its_own():
    import threading

    from bgsub.pipeline.stages import Consumer, Producer

    def priority():
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    mine = priority()
    lowered = min(19, mine + 10)
    assert list(Producer((priority() for _ in range(3)), nice=10)) == [lowered] * 3
    assert list(Producer(priority() for _ in range(2))) == [mine] * 2
    seen = []
    c = Consumer(lambda item: seen.append((item, priority())), nice=10)
    c.put(1)
    c.close()
    assert seen == [(1, lowered)]
    assert priority() == mine


def test_exercise_loads_every_kernel_a_default_run_calls():
    """The warm-up's and the preload's tour of the kernels runs to its end: afterwards every
    kernel a default run calls is loaded (ready), the post-processing's included."""
    from bgsub.model import _jit, _warm

    old = _jit.set_mode("sync")
    try:
        _warm.exercise()
        k = _jit.kernels()
        names = ["apply_frame", "init_from_frame", "vote_mask", "gain_estimate",
                 "grid_background", "background_image", "scale_weights", "mask_blobs",
                 "clear_clipped", "shift_points", "shift_estimate"]
        assert [n for n in names if not k[n].ready] == []
    finally:
        _jit.set_mode(old)


def test_reader_queue_sized_by_bytes_within_bounds():
    """A Producer with max_bytes holds as many items as fit (at least maxsize, at most 8x):
    a reader runs ahead while nothing consumes, then waits."""
    import time

    from bgsub.pipeline.stages import Producer

    def sized(item_bytes, max_bytes, maxsize=4):
        made = []

        def items():
            for i in range(1000):
                made.append(i)
                yield bytes(item_bytes)

        p = Producer(items(), maxsize=maxsize, max_bytes=max_bytes, size_of=len)
        last, t0 = -1, time.monotonic()
        while time.monotonic() - t0 < 10:  # until the producer stops making items
            time.sleep(0.05)
            if len(made) == last:
                break
            last = len(made)
        got = sum(1 for _ in zip(range(3), p))
        p.close()
        return p._q.maxsize, last, got

    assert sized(1000, 16_000) == (16, 17, 3)  # 16 queued, one made and waiting to go in
    assert sized(1000, 1_000_000) == (32, 33, 3)  # at most 8 x maxsize
    assert sized(1000, 2_000) == (4, 5, 3)  # at least maxsize


_LAYER = """
import bgsub
import numba
import numpy as np
from bgsub.model import _jit

raw = np.zeros((6, 7), np.uint8)
_jit.kernels()["vote_mask"](raw, np.empty_like(raw), 1, 1, 0, 0, 2)  # a parallel kernel
print(numba.threading_layer())
"""


def _env(**extra):
    """A subprocess's environment (:func:`bgsub_env`) without the user's threading-layer
    choice, plus ``extra``."""
    env = {k: v for k, v in bgsub_env().items() if not k.startswith("NUMBA_THREADING_LAYER")}
    env.update(extra)
    return env


def _layer(**env):
    r = subprocess.run([sys.executable, "-c", _LAYER], env=_env(BGSUB_JIT="sync", **env),
                       capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_numba_takes_openmp_before_tbb_and_keeps_the_users_choice():
    try:
        import numba.np.ufunc.omppool  # noqa: F401
    except ImportError:
        pytest.skip("Numba's OpenMP threading layer is not available here")
    assert _layer() == "omp"
    assert _layer(NUMBA_THREADING_LAYER_PRIORITY="workqueue omp tbb") == "workqueue"


def _run_cli(out, *args, **env):
    return subprocess.run([sys.executable, "-m", "bgsub.cli", "run", str(STREET), "-o", str(out),
                           "-q", *args], env=_env(**env), capture_output=True, text=True,
                          timeout=SUBPROCESS_TIMEOUT, cwd=ROOT)


def test_a_threaded_run_on_numbas_workqueue_layer_finishes_with_the_same_outputs(tmp_path):
    # workqueue aborts the process when two threads run parallel kernels at once (the model's
    # and the detecting thread's vote here): bgsub serialises them there
    wq = _run_cli(tmp_path / "wq", NUMBA_THREADING_LAYER_PRIORITY="workqueue omp tbb")
    assert wq.returncode == 0, wq.stderr[-2000:]
    plain = _run_cli(tmp_path / "plain")
    assert plain.returncode == 0, plain.stderr[-2000:]
    for name in ("frames.csv", "events.csv"):
        assert (tmp_path / "wq" / name).read_text() == (tmp_path / "plain" / name).read_text()
    a = np.array(read_video(tmp_path / "wq" / "mask.mkv"))
    b = np.array(read_video(tmp_path / "plain" / "mask.mkv"))
    assert a.shape[0] > 50 and np.array_equal(a, b)
    assert not list((tmp_path / "wq").glob("*partial*"))


_EM_THREADS = """
import threading
import bgsub
import numba
import numpy as np
from bgsub.em import GaussianMixture
from bgsub.model import MixtureSubtractor

rng = np.random.default_rng(1)
X = np.concatenate([rng.normal(0, 1, (4000, 3)), rng.normal(6, 1, (4000, 3))])
frames = rng.integers(0, 256, (8, 40, 50, 3), dtype=np.uint8)
errors = []

def work(i):
    try:
        for _ in range(3):
            GaussianMixture(2, random_state=i).fit(X).score_samples(X)
            MixtureSubtractor().fit_frames(frames)
    except Exception as exc:
        errors.append(exc)

threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(numba.threading_layer(), len(errors))
"""


def test_em_and_the_batch_fit_from_three_threads_on_the_workqueue_layer():
    r = subprocess.run([sys.executable, "-c", _EM_THREADS],
                       env=_env(NUMBA_THREADING_LAYER_PRIORITY="workqueue omp tbb"),
                       capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["workqueue", "0"]
