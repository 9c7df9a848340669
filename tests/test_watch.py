"""``bgsub watch DIR -o OUT``: a video written slowly is processed once complete (size stable and
no writer), into OUT/<stem>/ with OUT/index.html and a ledger; a restart processes only new
files; SIGTERM abandons the file in progress cleanly; watchdog or polling."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
from click.testing import CliRunner

from bgsub.cli import main
from bgsub.pipeline.watch import LEDGER, Settling, writers

from .conftest import SAMPLES, SUBPROCESS_TIMEOUT, bgsub_env, bgsub_popen, wait_for_rows
from .services import wait_for
from .test_faults import assert_every_output_whole

STREET = SAMPLES / "street.mp4"  # 120 frames
PARK = SAMPLES / "park.mp4"

HIDE_WATCHDOG = ("import sys\n"
                 "class Hide:\n"
                 "    def find_spec(self, name, path=None, target=None):\n"
                 "        if name == 'watchdog' or name.startswith('watchdog.'):\n"
                 "            raise ImportError(name)\n"
                 "sys.meta_path.insert(0, Hide())\n"
                 "from bgsub.cli import main\n"
                 "main()\n")


def watch(*args, polling=False):
    args = ["watch", *map(str, args)]
    if polling:  # watchdog hidden from the import system: the polling fallback
        return subprocess.Popen([sys.executable, "-c", HIDE_WATCHDOG, *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=bgsub_env())
    return bgsub_popen(*args)


def ledger(out):
    return json.loads((out / LEDGER).read_text())["files"]


def test_writers_sees_a_file_open_for_writing_only(tmp_path):
    p = tmp_path / "v.mp4"
    p.write_bytes(b"x")
    if writers(p) is None:
        pytest.skip("no /proc here")
    with open(p, "ab"):
        assert os.getpid() in writers(p)
    with open(p, "rb"):
        assert writers(p) == []


def test_settling_waits_for_a_stable_size(tmp_path):
    p = tmp_path / "v.mp4"
    p.write_bytes(b"abc")
    s = Settling(1.0)
    assert not s.complete(p, now=0.0)
    assert not s.complete(p, now=0.5)
    p.write_bytes(b"abcd")  # grew: the clock starts again
    assert not s.complete(p, now=1.2)
    assert not s.complete(p, now=2.0)
    assert s.complete(p, now=2.3)


def slow_copy(src, dest, chunks=4, pause=0.7, hold=1.5):
    """A recorder: writes ``src`` to ``dest`` in chunks, then keeps it open ``hold`` s."""
    code = ("import sys, time\n"
            f"data = open({str(src)!r}, 'rb').read()\n"
            f"n = {chunks}\n"
            f"with open({str(dest)!r}, 'wb') as fh:\n"
            "    for k in range(n):\n"
            "        fh.write(data[k * len(data) // n:(k + 1) * len(data) // n]); fh.flush()\n"
            f"        time.sleep({pause})\n"
            "    print('written', flush=True)\n"
            f"    time.sleep({hold})\n")
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def street_frames():
    cap = cv2.VideoCapture(str(STREET))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            return frames
        frames.append(f)


def write_long(frames, path, times=5):
    """The street sample ``times`` over, as MJPG (600 frames)."""
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (320, 240))
    for _ in range(times):
        for f in frames:
            w.write(f)
    w.release()


@pytest.mark.parametrize("polling", [False, True], ids=["watchdog", "polling"])
def test_a_slowly_written_video_is_processed_once_complete(tmp_path, warm_kernels, polling):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    proc = watch(src, "-o", out, "--settle", "0.5", "--poll", "0.1", "--no-report",
                 polling=polling)
    try:
        writer = slow_copy(STREET, src / "street.mp4")
        assert writer.stdout.readline().strip() == "written"
        # the size stays the same for longer than --settle, but the recorder still has it open
        time.sleep(1.2)
        assert not (out / "street").exists()
        writer.wait()
        wait_for(lambda: (out / LEDGER).exists() and ledger(out).get("street.mp4", {}).get(
            "status", "running") != "running", 60, "street.mp4 processed")
        e = ledger(out)["street.mp4"]
        assert e["status"] == "done" and e["frames"] == 120 and e["events"] == 1
        assert e["output_dir"] == str(out / "street")
        doc = json.loads((out / "street" / "events.json").read_text())
        assert doc["summary"]["frames"] == 120
        assert 'href="street/report.html"' not in (out / "index.html").read_text()  # no report
        assert "street.mp4" in (out / "index.html").read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=SUBPROCESS_TIMEOUT)
    assert proc.returncode == 0, err
    assert ("polling" if polling else "(watchdog)") in err.splitlines()[0]
    assert "Traceback" not in err


def test_a_restart_processes_only_new_files_and_sigterm_abandons_cleanly(tmp_path,
                                                                        warm_kernels):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    shutil.copy(STREET, src / "street.mp4")
    r = CliRunner().invoke(main, ["watch", str(src), "-o", str(out), "--settle", "0",
                                  "--once", "--json"])
    assert r.exit_code == 0, r.output
    assert [s["frames"] for s in json.loads(r.stdout)["inputs"]] == [120]
    first = (out / "street" / "events.json").stat().st_mtime_ns
    # a long recording (the street sample five times over) arrives
    long = src / "long.avi"
    frames = street_frames()
    write_long(frames, tmp_path / "long.avi")
    os.replace(tmp_path / "long.avi", long)
    proc = watch(src, "-o", out, "--settle", "0", "--poll", "0.1")
    wait_for_rows(out / "long" / ".frames.partial.csv", 50, proc)
    proc.send_signal(signal.SIGTERM)  # mid-file
    _, err = proc.communicate(timeout=SUBPROCESS_TIMEOUT)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    e = ledger(out)["long.avi"]
    assert e["status"] == "interrupted" and 50 <= e["frames"] < 600
    assert_every_output_whole(out / "long")
    assert (out / "street" / "events.json").stat().st_mtime_ns == first  # not done again
    # the next start does the interrupted file again, and nothing else
    shutil.copy(PARK, src / "park.mp4")
    r = CliRunner().invoke(main, ["watch", str(src), "-o", str(out), "--settle", "0",
                                  "--once", "--json"])
    assert r.exit_code == 0, r.output
    done = {os.path.basename(s["input"]): s["frames"] for s in json.loads(r.stdout)["inputs"]}
    assert done == {"long.avi": 600, "park.mp4": 120}
    assert (out / "street" / "events.json").stat().st_mtime_ns == first
    assert {n: e["status"] for n, e in ledger(out).items()} == {
        "street.mp4": "done", "long.avi": "done", "park.mp4": "done"}
    index = (out / "index.html").read_text()
    for stem in ("street", "long", "park"):
        assert f'href="{stem}/report.html"' in index


def test_watch_refuses_a_missing_folder_in_one_line(tmp_path):
    r = CliRunner().invoke(main, ["watch", str(tmp_path / "nope"), "-o", str(tmp_path / "o"),
                                  "--once"])
    assert r.exit_code == 2
    assert r.stderr.strip().splitlines() == [f"Error: {tmp_path / 'nope'}: no such folder"]


def test_empty_and_undecodable_files_are_failed_once_and_not_retried(tmp_path):
    """A zero-byte file (a recorder that died) and bytes that are no video: each recorded as
    failed, so that --once ends (it waited for ever on the empty file) and a restart leaves
    them alone until they change."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    (src / "empty.mp4").write_bytes(b"")
    (src / "junk.mkv").write_bytes(os.urandom(50_000))
    args = ["watch", str(src), "-o", str(out), "--settle", "0", "--poll", "0.05", "--once",
            "--no-report", "--json"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 1, r.output
    assert {n: e["status"] for n, e in ledger(out).items()} == {"empty.mp4": "failed",
                                                                "junk.mkv": "failed"}
    assert all(ln.startswith(("Error: ", "watching")) for ln in r.stderr.splitlines())
    r = CliRunner().invoke(main, args)  # a restart: nothing to do
    assert r.exit_code == 0 and json.loads(r.stdout) == {"inputs": []}, r.output
    (src / "empty.mp4").write_bytes(b"now it has bytes")  # changed: tried again
    r = CliRunner().invoke(main, args)
    assert [os.path.basename(s["input"]) for s in json.loads(r.stdout)["inputs"]] == [
        "empty.mp4"]


def test_an_idle_watch_stops_as_soon_as_it_is_told():
    """The idle wait (5 s with inotify) looks at the stop flag: SIGTERM ends it at once."""
    import threading

    from bgsub.pipeline.run import StopFlag
    from bgsub.pipeline.watch import _Wake

    wake, stop = _Wake(Path(".")), StopFlag()
    threading.Timer(0.2, stop.set).start()
    t0 = time.monotonic()
    wake.wait(60.0, stop)
    wake.close()
    assert time.monotonic() - t0 < 30  # not the 60 s asked: it returned when stopped


def test_every_file_s_records_carry_the_folder_s_name(tmp_path):
    """One MQTT connection serves the watch, its topics named after the folder: the hooks'
    BGSUB_NAME (and the JSON's "name") are that name too, not each file's stem."""
    src, out = tmp_path / "porch", tmp_path / "out"
    src.mkdir()
    shutil.copy(STREET, src / "rec-0001.mp4")
    seen = tmp_path / "seen"
    r = CliRunner().invoke(main, ["watch", str(src), "-o", str(out), "--settle", "0",
                                  "--once", "--no-report", "--mask-format", "none",
                                  "--on-event-end", f"sh -c 'echo $BGSUB_NAME >> {seen}'"])
    assert r.exit_code == 0, r.output
    assert seen.read_text().split() == ["porch"]
    assert ledger(out)["rec-0001.mp4"]["output_dir"] == str(out / "rec-0001")


def test_a_file_the_watch_died_on_twice_is_failed_not_retried_for_ever(tmp_path,
                                                                       warm_kernels):
    """A watch killed in the middle of a file (as a decoder crash would end it) tries the file
    again at its next start; after a second death the file is recorded as failed instead of
    taking every later start down with it."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    write_long(street_frames(), src / "long.avi")
    partial = out / "long" / ".frames.partial.csv"
    for k in (1, 2):
        proc = watch(src, "-o", out, "--settle", "0", "--poll", "0.05", "--no-report")
        wait_for(lambda: (out / LEDGER).exists() and ledger(out)["long.avi"]["attempts"] == k,
                 SUBPROCESS_TIMEOUT, f"attempt {k} begun")
        wait_for_rows(partial, 20, proc)
        proc.kill()
        proc.communicate()
        partial.unlink()
        assert ledger(out)["long.avi"]["status"] == "running"
    r = CliRunner().invoke(main, ["watch", str(src), "-o", str(out), "--settle", "0",
                                  "--once", "--no-report", "--json"])
    assert r.exit_code == 1, r.output
    e = ledger(out)["long.avi"]
    assert e["status"] == "failed" and "ended 2 times while processing it" in e["error"]
    assert "Traceback" not in r.stderr
    r = CliRunner().invoke(main, ["watch", str(src), "-o", str(out), "--settle", "0",
                                  "--once", "--no-report", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout) == {"inputs": []}, r.output
