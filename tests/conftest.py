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


def read_video(path) -> list:
    """Every frame OpenCV decodes from ``path``, in order."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            cap.release()
            return frames
        frames.append(f)


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


# A generous limit for a subprocess: a safety net against a hang, never a speed assertion (a
# cold JIT cache on a loaded 2-core machine takes tens of seconds to compile the kernels).
SUBPROCESS_TIMEOUT = 600


def saved_without(model, folder: Path, name: str) -> Path:
    """``model`` saved into ``folder`` as a file from before parameter ``name`` existed (its
    name and value taken out of the file); returns the file's path."""
    import numpy as np

    model.save(folder / "m.npz")
    with np.load(folder / "m.npz") as z:
        arrays = dict(z)
    keep = arrays["params_names"] != name
    arrays["params_names"] = arrays["params_names"][keep]
    arrays["params_values"] = arrays["params_values"][keep]
    np.savez(folder / "old.npz", **arrays)
    return folder / "old.npz"


def bgsub_env(**extra):
    """The environment for a ``python -m bgsub.cli`` subprocess: this checkout, no display."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), **extra)
    if "DISPLAY" not in extra:
        env.pop("DISPLAY", None)
    return env


def bgsub_popen(*args, **kw):
    import subprocess
    import sys

    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("text", True)
    kw.setdefault("env", bgsub_env())
    return subprocess.Popen([sys.executable, "-m", "bgsub.cli", *map(str, args)], **kw)


def wait_for_rows(csv_path: Path, rows: int, proc, what="frames processed"):
    """Wait until ``csv_path`` (a CSV with a header, written line by line) holds ``rows`` data
    rows; fails if the process ends first or nothing happens for SUBPROCESS_TIMEOUT."""
    import time

    deadline = time.monotonic() + SUBPROCESS_TIMEOUT
    while time.monotonic() < deadline:
        if csv_path.exists():
            with open(csv_path) as fh:
                if sum(1 for _ in fh) - 1 >= rows:
                    return
        if proc.poll() is not None:
            raise AssertionError(f"the process ended (code {proc.returncode}) before {rows} "
                                 f"{what}: {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.05)
    raise AssertionError(f"no {rows} {what} within {SUBPROCESS_TIMEOUT} s")


# the kinds of model, (components, variant), that tests make besides the defaults': MOG2's
# (tests/test_opencv_compat.py, the docs' examples, tests/test_kernel.py) and one or two
# components (tests/test_kernel.py); see kernel_components
OTHER_KINDS = ((5, "zivkovic"), (2, "stauffer-grimson"))


@pytest.fixture(scope="session", autouse=True)
def warm_kernels():
    """Compile (or load from the cache) every kernel a run uses, in this process, once, before
    the first test: the same calls as the detached warm-up (:mod:`bgsub.model._warm`), so that
    the tests and the subprocesses they start find the kernels in the JIT cache.  Without it an
    empty cache is compiled more than once (a first run's detached warm-up beside a kernel
    test's own compile).  The cold path itself is tested in its own cache by
    tests/test_coldstart.py.

    The other kinds of model the suite makes (:data:`OTHER_KINDS`) are compiled meanwhile by
    the warm-up itself, detached, on the other core: a test that needs one before it is done
    runs as a first run does (on the NumPy twins until the warm-up is done, or, compiling
    in-process, beside it).  With a full cache it only loads them and exits."""
    import subprocess
    import tempfile

    from bgsub.model import _jit, _warm

    err = tempfile.TemporaryFile()
    # the command and folder a first run uses: it compiles the kernels of the bgsub tests import
    others = subprocess.Popen(_jit.warm_command(OTHER_KINDS), cwd=_jit.warm_cwd(),
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    killed = False
    try:
        old = _jit.set_mode("sync")  # compile here and now, into the cache the subprocesses read
        try:
            _warm.exercise(texture=True)  # the defaults' and the texture cue's
        finally:
            _jit.set_mode(old)
        yield
    finally:
        if others.poll() is None:  # a short session: its compiles are not needed any more
            others.kill()
            killed = True
        others.wait()
        err.seek(0)
        said = err.read().decode(errors="replace").strip()
        err.close()
    assert killed or others.returncode == 0, f"the warm-up of {OTHER_KINDS} failed: {said}"


@pytest.fixture
def tmpfs(tmp_path):
    """``make(size, readonly=False, prepare=None) -> Path``: a tmpfs of ``size`` mounted in
    tmp_path (``prepare(path)`` runs before a read-only remount).  Needs root (CAP_SYS_ADMIN);
    skips otherwise.  Unmounted at teardown."""
    import subprocess

    mounts = []

    def make(size="1m", readonly=False, prepare=None):
        path = tmp_path / f"fs{len(mounts)}"
        path.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.strip()}")
        mounts.append(path)
        if prepare is not None:
            prepare(path)
        if readonly:
            subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
        return path

    yield make
    for path in reversed(mounts):
        subprocess.run(["umount", "-l", str(path)], capture_output=True)
