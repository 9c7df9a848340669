"""Faults during ``bgsub run``: where the outputs cannot be written, the disk fills, the process
is killed, the frame size changes.  Each ends with a one- or two-line error on stderr, a
non-zero exit code and no traceback, and no file under its final name is incomplete."""

import csv
import json
import shutil
import signal

import cv2
import numpy as np
import pytest

from .conftest import SAMPLES, SUBPROCESS_TIMEOUT, bgsub_popen, wait_for_rows
from .conftest import read_video

STREET = SAMPLES / "street.mp4"  # 120 frames, 320x240


def run_cli(*args):
    proc = bgsub_popen("run", "--no-display", *args)
    out, err = proc.communicate(timeout=SUBPROCESS_TIMEOUT)
    return proc.returncode, out, err


def assert_one_line_error(code, err, *words):
    assert code == 1, err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert 1 <= len(lines) <= 2, err
    assert lines[0].startswith("Error: "), err
    for w in words:
        assert w in err, err


def rows(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def assert_every_output_whole(folder):
    """No temporary file is left, and each file under a final name is complete."""
    assert not list(folder.rglob(".*partial*"))
    if (folder / "frames.csv").exists():
        n = len(rows(folder / "frames.csv"))
        if (folder / "mask.mkv").exists():
            assert len(read_video(folder / "mask.mkv")) == n
        if (folder / "events.json").exists():
            assert json.loads((folder / "events.json").read_text())["summary"]["frames"] == n
    else:
        assert not (folder / "mask.mkv").exists() and not (folder / "events.json").exists()


def test_read_only_output_folder(tmpfs, warm_kernels):
    ro = tmpfs("1m", readonly=True, prepare=lambda p: (p / "existing").mkdir())
    for out in (ro / "new", ro / "existing"):
        code, _, err = run_cli(STREET, "-o", out)
        assert_one_line_error(code, err, str(out), "not writable", "Read-only file system")
    assert sorted(p.name for p in ro.iterdir()) == ["existing"]


def test_output_path_is_a_file(tmp_path):
    target = tmp_path / "taken"
    target.write_text("keep me")
    code, _, err = run_cli(STREET, "-o", target)
    assert_one_line_error(code, err, str(target), "exists and is not a folder")
    assert target.read_text() == "keep me"


def test_disk_full_during_a_run(tmpfs, warm_kernels):
    """The overlay video fills a 96 KB disk partway: the run stops with ENOSPC's message, and
    the half-written videos are dropped, not left under their final names."""
    small = tmpfs("96k")
    code, _, err = run_cli(STREET, "-o", small / "o", "--overlay")
    assert_one_line_error(code, err, "overlay.mp4", "No space left on device")
    assert_every_output_whole(small / "o")
    assert not (small / "o" / "mask.mkv").exists()
    assert not (small / "o" / "overlay.mp4").exists()


def test_disk_full_keeps_what_was_complete(tmpfs, warm_kernels):
    """PNG masks are each whole or absent: those written before the disk filled stay."""
    small = tmpfs("96k")
    code, _, err = run_cli(STREET, "-o", small / "o", "--mask-format", "png")
    assert_one_line_error(code, err, "No space left on device")
    pngs = sorted((small / "o" / "masks").glob("bin*.png"))
    assert 0 < len(pngs) < 120
    assert all(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE).shape == (240, 320) for p in pngs)
    assert_every_output_whole(small / "o")


def _long_folder(tmp_path, n=600):
    frames = tmp_path / "long"
    frames.mkdir()
    for i in range(n):
        shutil.copy(SAMPLES / "street" / "input" / f"in{i % 120 + 1:06d}.jpg",
                    frames / f"f{i:05d}.jpg")
    return frames


def test_sigkill_leaves_nothing_incomplete_and_the_next_run_works(tmp_path, warm_kernels):
    frames = _long_folder(tmp_path)
    out = tmp_path / "o"
    code, _, err = run_cli(frames, "-o", out, "--max-frames", "20", "--overlay")
    assert code == 0, err
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    proc = bgsub_popen("run", "--no-display", frames, "-o", out, "--overlay", "--clips")
    wait_for_rows(out / ".frames.partial.csv", 40, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=SUBPROCESS_TIMEOUT)
    # the complete outputs of the first run are untouched; the killed run's are temporary
    assert {p.name: p.read_bytes() for p in out.iterdir()
            if p.is_file() and not p.name.startswith(".")} == before
    assert list(out.glob(".*partial*"))
    for clip in (out / "clips").glob("event*.mp4"):  # clips finished before the kill
        assert read_video(clip)
    # the next run over the same folder works and cleans up
    code, _, err = run_cli(frames, "-o", out, "--max-frames", "50", "--overlay")
    assert code == 0, err
    assert len(rows(out / "frames.csv")) == 50
    assert len(read_video(out / "mask.mkv")) == 50
    assert_every_output_whole(out)


def test_frame_size_change_stops_there_and_keeps_the_outputs(tmp_path, warm_kernels):
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(30):
        img = cv2.imread(str(SAMPLES / "street" / "input" / f"in{i + 1:06d}.jpg"))
        if i >= 20:
            img = cv2.resize(img, (160, 120))
        cv2.imwrite(str(frames / f"in{i:06d}.png"), img)
    out = tmp_path / "o"
    code, _, err = run_cli(frames, "-o", out)
    assert_one_line_error(code, err, "frame 20 is 160x120", "started at 320x240")
    assert len(rows(out / "frames.csv")) == 20
    assert len(read_video(out / "mask.mkv")) == 20
    doc = json.loads((out / "events.json").read_text())
    assert doc["summary"]["frames"] == 20 and "frame 20" in doc["summary"]["error"]
    assert_every_output_whole(out)


def test_model_frame_size_error_names_both_shapes():
    """The Python API's error for the same fault (the CLI's is above)."""
    from bgsub import MixtureSubtractor

    m = MixtureSubtractor()
    m.apply(np.zeros((24, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="16x12x3 differs from the model's 32x24x3"):
        m.apply(np.zeros((12, 16, 3), np.uint8))


def test_live_source_stalled_after_an_error_does_not_hold_the_run(tmp_path, monkeypatch):
    """A frame-size change ends the run while the live source is reconnecting (its read()
    blocked): the reader is woken at once, not after reconnect_timeout."""
    import threading
    import time

    from bgsub.pipeline import run as run_mod
    from bgsub.io.sources import Frame, VideoStream

    class Stalling(VideoStream):
        live, fps = True, 25.0

        def __init__(self):
            self.stop = threading.Event()
            self.sizes = [(24, 32), (24, 32), (30, 40)]

        def read(self):
            if self.sizes:
                h, w = self.sizes.pop(0)
                n = 3 - len(self.sizes) - 1
                return Frame(n, n / 25.0, np.full((h, w, 3), 100, np.uint8))
            self.stop.wait(60)  # reconnecting: nothing until interrupted
            return None

        def interrupt(self):
            self.stop.set()

    monkeypatch.setattr(run_mod, "open_video", lambda *a, **k: Stalling())
    opts = run_mod.RunOptions(display=False, report=False, quiet=True, mask_format="none")
    t0 = time.monotonic()
    summary = run_mod.run_input("stalling", tmp_path / "out", opts)
    assert time.monotonic() - t0 < 20
    assert "stopped there" in summary["error"]


def test_ctrl_c_while_a_live_source_stalls_ends_the_run_at_once(tmp_path, monkeypatch):
    """A KeyboardInterrupt (a second Ctrl-C) on the main thread while the live source is
    reconnecting: reading stops first, so the model stage waiting for its next frame ends too,
    and the frames before are kept."""
    import threading
    import time

    from bgsub.pipeline import run as run_mod
    from bgsub.io.sources import Frame, VideoStream

    class Stalling(VideoStream):
        live, fps = True, 25.0

        def __init__(self):
            self.stop = threading.Event()
            self.n = 0

        def read(self):
            if self.n < 3:
                self.n += 1
                return Frame(self.n - 1, (self.n - 1) / 25.0, np.full((24, 32, 3), 100, np.uint8))
            self.stop.wait(60)  # reconnecting: nothing until interrupted
            return None

        def interrupt(self):
            self.stop.set()

    step = run_mod._Run.step

    def step_then_ctrl_c(self, frame, small, raw=None):
        if frame.index == 2:
            raise KeyboardInterrupt
        return step(self, frame, small, raw)

    monkeypatch.setattr(run_mod, "open_video", lambda *a, **k: Stalling())
    monkeypatch.setattr(run_mod._Run, "step", step_then_ctrl_c)
    opts = run_mod.RunOptions(display=False, report=False, quiet=True, mask_format="none")
    t0 = time.monotonic()
    summary = run_mod.run_input("stalling", tmp_path / "out", opts)
    assert time.monotonic() - t0 < 20
    assert summary["interrupted"] and summary["frames"] == 2
    assert len((tmp_path / "out" / "frames.csv").read_text().splitlines()) == 3  # header + 2


def test_a_stop_ends_the_pause_of_the_display():
    """SIGTERM (or Ctrl-C) while the display is paused: the run stops at once instead of
    waiting for a key."""
    from types import SimpleNamespace

    from bgsub.motion.detector import MotionResult
    from bgsub.pipeline import run as run_mod

    stop = run_mod.StopFlag()

    class PausedDisplay:
        paused = True
        polls = 0

        def show(self, overlay, mask, background):
            return []

        def poll(self, ms):
            self.polls += 1
            if self.polls == 3:
                stop.set("SIGTERM")  # as the signal handler does
            assert self.polls < 100, "still paused after the stop"
            return []

    r = run_mod._Run.__new__(run_mod._Run)
    r.display, r.stop, r.summary, r.frozen = PausedDisplay(), stop, {"frames": 2}, False
    r.zones = []  # no zones drawn
    frame = SimpleNamespace(image=np.zeros((8, 8, 3), np.uint8), time=0.0, index=1)
    result = MotionResult(1, 0.0, None, [], 0.0, False, False)
    r.show(frame, result, np.zeros((8, 8), np.uint8))
    assert stop.is_set() and r.display.polls == 3
