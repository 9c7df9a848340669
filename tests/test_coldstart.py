"""A first run whose JIT cache lacks kernels: it says it is compiling, runs the frames on the
NumPy twins of the kernels meanwhile (same output), and a detached warm-up fills Numba's cache
for the runs after it.  Nothing here depends on how fast anything runs."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from bgsub.model import _jit

ROOT = Path(__file__).resolve().parents[1]

RUN = """
import hashlib, numpy as np
from bgsub import MixtureSubtractor
rng = np.random.default_rng(0)
base = rng.integers(0, 256, (48, 64, 3)).astype(float)
m = MixtureSubtractor()
h = hashlib.sha256()
for t in range(6):
    f = np.clip(base + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8)
    f[10:20, 5 * t:5 * t + 8] = 255
    h.update(m.apply(f).tobytes())
h.update(m.background_image().tobytes())
h.update(m.state_.tobytes())
print(h.hexdigest())
"""


def run(code, cache, **extra):
    env = {k: v for k, v in os.environ.items() if k != "BGSUB_JIT"}
    env.update(NUMBA_CACHE_DIR=str(cache), **extra)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900, check=True)


def seed(cache):
    """Copy this session's compiled kernels (tests/conftest.py compiled the defaults') into the
    empty Numba cache ``cache``, but for the serial ones: a first run there finds those missing,
    as after an upgrade that changed them, and the warm-up it starts compiles them.  The
    parallel kernels are the few that take minutes to compile on two cores; the serial ones are
    most of the kernels, and the first a run calls.  A kernel this session has not compiled
    (the Zivkovic one, until a test makes such a model) is simply not there.  Returns the index
    files the warm-up must write; none, and nothing copied, where this session has no disk
    cache to copy (the cache stays empty)."""
    import shutil

    from numba.core.caching import _CacheLocator

    plan = []
    for name, k in _jit.kernels().items():
        if name.startswith("texture_"):  # a run of the defaults neither loads nor compiles them
            continue
        try:
            index = Path(k.disp._cache._cache_file._index_path)
        except AttributeError:  # caching off, another Numba
            return []
        if index.is_file():
            sub = _CacheLocator.get_suitable_cache_subpath(k.disp.py_func.__code__.co_filename)
            plan.append((index, cache / sub, k.disp.targetoptions.get("parallel")))
    missing = []
    for index, dst, parallel in plan:
        if not dst.is_dir():
            dst.mkdir(parents=True)
            for f in index.parent.iterdir():
                if f.suffix in (".nbi", ".nbc"):
                    shutil.copy2(f, dst / f.name)
        if not parallel:
            for f in [dst / index.name, *dst.glob(index.stem + ".*.nbc")]:
                f.unlink(missing_ok=True)
            missing.append(dst / index.name)
    return missing


def test_first_run_says_it_compiles_and_later_runs_do_not(tmp_path):
    missing = seed(tmp_path)
    first = run(RUN, tmp_path)
    assert first.stderr.splitlines().count(_jit.NOTICE) == 1, first.stderr
    # the warm-up the first run started: wait for it (a second one waits on its lock)
    run("import bgsub.model._warm as w; w.main()", tmp_path)
    assert [p.name for p in missing if not p.is_file()] == []  # it compiled what was missing
    second = run(RUN, tmp_path)
    assert _jit.NOTICE not in second.stderr, second.stderr
    assert second.stdout == first.stdout  # NumPy twins then Numba: the same masks and state
    numpy_only = run(RUN, tmp_path, BGSUB_JIT="numpy")
    assert numpy_only.stdout == first.stdout


def test_the_warm_up_imports_the_bgsub_that_started_it(tmp_path):
    """A first run's detached warm-up must compile the kernels of the copy of bgsub that started
    it (Numba's cache and the warm-up's lock are keyed by the source files' paths): started from
    a second copy of the package, it imports that copy, not the one installed or first on the
    path.  It used to start inside the package's folder and import whichever came first (in
    CI, the installed copy: a checkout's first run then waited on the twins while the warm-up
    compiled another copy's kernels for minutes)."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(ROOT / "bgsub", copy / "bgsub", ignore=shutil.ignore_patterns("__pycache__"))
    code = ("import subprocess, sys\n"
            "from bgsub.model import _jit\n"
            "r = subprocess.run([sys.executable, '-c', 'import bgsub; print(bgsub.__file__)'],\n"
            "                   cwd=_jit.warm_cwd(), capture_output=True, text=True, check=True)\n"
            "print(_jit.__file__)\n"
            "print(r.stdout.strip())\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=copy, capture_output=True, text=True,
                       timeout=120, check=True)
    started_by, imported = r.stdout.split()
    assert Path(started_by) == copy / "bgsub" / "model" / "_jit.py"
    assert Path(imported) == copy / "bgsub" / "__init__.py"


def test_a_slow_in_process_compile_prints_the_notice_once(monkeypatch, capsys):
    printed = threading.Event()
    real_notice = _jit.notice

    def notice():
        real_notice()
        printed.set()

    class SlowDispatcher:
        __name__ = "slow"
        __doc__ = None
        overloads = {}

        def typeof_pyval(self, value):
            return type(value)

        def __call__(self, x):
            assert printed.wait(60)  # "compiling" until the notice is out
            return x + 1

    monkeypatch.setattr(_jit, "_noticed", False)
    monkeypatch.setattr(_jit, "notice", notice)
    monkeypatch.setattr(_jit, "NOTICE_AFTER", 0.01)
    k = _jit.Kernel(SlowDispatcher())  # no NumPy twin: compiled in-process
    assert k(1) == 2 and k(2) == 3
    assert capsys.readouterr().err.splitlines() == [_jit.NOTICE]


def test_a_quick_first_call_prints_nothing(monkeypatch, capsys):
    class Dispatcher:
        __name__ = "quick"
        __doc__ = None
        overloads = {}

        def typeof_pyval(self, value):
            return type(value)

        def __call__(self, x):
            return x

    monkeypatch.setattr(_jit, "_noticed", False)
    monkeypatch.setattr(_jit, "NOTICE_AFTER", 3600.0)
    k = _jit.Kernel(Dispatcher())
    assert k(np.float32(1)) == 1
    assert capsys.readouterr().err == ""


def test_frequent_calls_still_switch_to_the_kernel_once_the_warm_up_ends(monkeypatch):
    """While a warm-up process runs, calls go to the NumPy twin; once it has ended, the next
    call after at most RECHECK seconds uses the compiled kernel, however often calls come
    (a frame every 20 ms must not put the check off for ever)."""
    import time

    from numba import njit

    @njit
    def twice(x):
        return 2 * x

    calls = {"twin": 0}

    def twin(x):
        calls["twin"] += 1
        return 2 * x

    warm = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
    monkeypatch.setattr(_jit, "_warm_proc", warm)
    monkeypatch.setattr(_jit, "_mode", "auto")
    k = _jit.Kernel(twice, twin)
    t0 = time.monotonic()
    while not k.ready and time.monotonic() - t0 < 20:
        assert k(21) == 42
        time.sleep(0.02)
    warm.wait()
    assert k.ready, "never left the NumPy twin"
    assert calls["twin"] >= 5  # the twin served while the warm-up ran
    assert time.monotonic() - t0 < 0.3 + 2 * _jit.RECHECK + 10  # compile time included


def test_the_warm_up_is_told_the_kinds_of_model_the_process_made():
    """One, two, and three or more components call the kernels with different argument types,
    and each variant has a kernel of its own: the warm-up a first run starts compiles what
    that run's models call, not only the defaults'."""
    from bgsub import MixtureSubtractor
    from bgsub.model import _warm

    MixtureSubtractor(n_components=1)
    MixtureSubtractor(n_components=7, variant="zivkovic")
    cmd = _jit.warm_command()
    assert cmd[:3] == [sys.executable, "-m", "bgsub.model._warm"]
    models, _ = _warm.parse_args(cmd[3:])
    assert {"n_components": 2, "variant": "stauffer-grimson"} in models  # 1 shares 2's kernels
    assert {"n_components": 5, "variant": "zivkovic"} in models  # 7 shares 5's kernels
    assert len(models) == len({tuple(sorted(m.items())) for m in models})  # each kind once
    assert _warm.parse_models([]) == []  # none: the defaults
    # kinds named explicitly (the test session's own warm-up), not the process's
    assert _warm.parse_models(_jit.warm_command([(2, "zivkovic")])[3:]) == [
        {"n_components": 2, "variant": "zivkovic"}]
    assert _jit.warm_command([]) == cmd[:3]
    # the texture cue's kernel: compiled when a model of the process has the cue
    MixtureSubtractor(texture=5)
    assert _jit.warm_command()[-1] == "--texture"
    assert _warm.parse_args(_jit.warm_command()[3:])[1]
    assert _jit.warm_command([]) == cmd[:3]  # kinds named: the cue only when asked for
    assert _warm.parse_args(_jit.warm_command([], texture=True)[3:]) == ([], True)
    for bad in (["--model"], ["--model", "two:zivkovic"], ["--model", "2"], ["-m", "2:x"],
                ["--model", "\u00b2:zivkovic"]):
        with pytest.raises(SystemExit, match="usage"):
            _warm.parse_models(bad)


def test_a_new_kind_of_model_makes_the_loaded_kernels_decide_again():
    """A kind of model first made after the kernels were loaded (its calls may need a compile
    the warm-up did not do) sends each kernel's next call through the first-call path, which
    announces a compile, instead of compiling silently inside a ready kernel."""
    kernels = _jit.kernels()
    kind = (5, "a variant no test makes")
    try:
        for k in kernels.values():
            k.ready = True
        _jit.want(5, kind[1])
        assert not any(k.ready for k in kernels.values())
        for k in kernels.values():
            k.ready = True
        _jit.want(9, kind[1])  # the same kind: nothing to decide again
        assert all(k.ready for k in kernels.values())
    finally:
        _jit._wanted.pop(kind, None)
        for k in kernels.values():
            k.ready = False  # each loads (or compiles) on its next call, as in a new process


def test_after_its_warm_up_a_one_component_run_loads_every_kernel(tmp_path):
    """A run of a one-component model, once the warm-up has compiled that kind (``python -m
    bgsub.model._warm --model 1:stauffer-grimson``, as a first run's warm-up is now told), prints
    no compile notice and runs the compiled kernels from its first frame: before, the warm-up
    compiled only the defaults' kernels, so every such run said it was compiling and ran its
    first frames on the NumPy twins (the first frame's initialisation was never compiled)."""
    from bgsub.model import _warm

    old = _jit.set_mode("sync")
    try:
        _warm.main(["--model", "1:stauffer-grimson"])  # into the session's cache, under its lock
        k = _jit.kernels()
        assert [n for n in ("apply_frame", "init_from_frame", "background_image",
                            "scale_weights") if not k[n].ready] == []
    finally:
        _jit.set_mode(old)
    env = {k: v for k, v in os.environ.items() if k != "BGSUB_JIT"}
    # from the checkout, as this process imports bgsub: Numba's cache is keyed by the source's
    # path, and an installed copy (CI's `pip install .`) would have a cache of its own
    r = subprocess.run([sys.executable, "-m", "bgsub.cli", "run",
                        str(ROOT / "sample_videos" / "park.mp4"), "-k", "1", "--no-display",
                        "-o", str(tmp_path / "out"), "--max-frames", "30"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert _jit.NOTICE not in r.stderr, r.stderr
    assert (tmp_path / "out" / "frames.csv").read_text().count("\n") == 31
