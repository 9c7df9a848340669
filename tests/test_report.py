"""Reports and the live view, checked in a real headless browser (Debian's chromium): each page
loads from file:// (or the live server) with name resolution switched off, every image
resolves, the pictures render, the screenshot is not blank, and the live page moves."""

from __future__ import annotations

import json
import re
import signal
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from .conftest import SAMPLES

BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome")
                if shutil.which(b)), None)
needs_browser = pytest.mark.skipif(
    BROWSER is None, reason="no headless browser: install Debian's chromium "
                            "(apt-get install -y chromium; .ci/run does where it can)")


def browse(url: str, shot: Path, size=(1280, 900)) -> str:
    """Screenshot ``url`` into ``shot`` and return its DOM after scripts ran.  No name
    resolution (MAP * ~NOTFOUND, except 127.0.0.1 for the live server), so anything fetched
    from the network fails."""
    base = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            f"--window-size={size[0]},{size[1]}",
            f"--user-data-dir={shot.parent / ('.chromium-' + shot.stem)}"]
    subprocess.run(base + [f"--screenshot={shot}", url], capture_output=True, timeout=120,
                   check=True)
    dom = subprocess.run(base + ["--dump-dom", url], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert shot.is_file(), f"no screenshot of {url}"
    return dom


def not_blank(shot: Path):
    import cv2

    img = cv2.imread(str(shot))
    assert img is not None
    assert img.std() > 15, f"{shot} looks blank (std {img.std():.1f})"
    colours = np.unique(img[::4, ::4].reshape(-1, 3), axis=0)
    assert len(colours) > 50, f"{shot} has only {len(colours)} colours"
    return img


class Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs, self.refs = [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a)
        for k in ("src", "href"):
            if a.get(k):
                self.refs.append(a[k])


def check_page(html_path: Path):
    """Nothing outside the folder: every src/href is a data: URI, an anchor, or a relative
    path to an existing file inside the page's folder."""
    p = Refs()
    p.feed(html_path.read_text())
    folder = html_path.parent.resolve()
    for ref in p.refs:
        if ref.startswith(("data:", "#")):
            continue
        assert not re.match(r"^[a-z]+:|^//|^/", ref), f"{html_path.name} refers outside: {ref}"
        target = (folder / ref).resolve()
        assert target.is_file(), f"{html_path.name}: {ref} does not exist"
        assert folder in target.parents or target.parent == folder, ref
    return p


def check_dom(dom: str, need_ids=()):
    """Every image loaded, per the page's own check (naturalWidth > 0 after load)."""
    m = re.search(r'data-images="(\d+) images, (\d+) broken"', dom)
    assert m, "the page's image check did not run"
    assert int(m.group(1)) > 0 and m.group(2) == "0", m.group(0)
    p = Refs()
    p.feed(dom)
    for img in p.imgs:
        assert img.get("data-loaded") == "yes", img.get("alt")
    ids = {img.get("id") for img in p.imgs} | {c for img in p.imgs
                                               for c in (img.get("class") or "").split()}
    for need in need_ids:
        assert need in ids, f"no loaded image {need!r}"
    return p.imgs


@pytest.fixture(scope="module")
def street_run(tmp_path_factory, warm_kernels):
    """street.mp4 through MotionDetector and EventTracker into a RunRecorder; a report written
    as a run would write it (with a clip link)."""
    import bgsub
    from bgsub.report import RunRecorder, write_index, write_run_report

    parent = tmp_path_factory.mktemp("runs")
    out = parent / "street_bgsub"
    out.mkdir()
    det = bgsub.MotionDetector()
    tracker = bgsub.EventTracker(2, 10, 5, 5)
    rec = RunRecorder(event_gap=10, min_event_frames=2)
    masks = []
    spent = 0.0
    for f in bgsub.open_video(SAMPLES / "street.mp4"):
        r = det.process(f.image, f.time)
        tracker.update(r)
        t0 = time.perf_counter()
        rec.add(f.index, f.image, r.mask, r.fraction, f.time, r.moving)
        spent += time.perf_counter() - t0
        masks.append(r.mask > 0)
    tracker.finish()
    events = [e.as_dict() for e in tracker.events]
    motion = [e for e in events if e["kind"] == "motion"]
    (out / "clips").mkdir()
    for n, e in enumerate(motion, 1):
        e["clip"] = f"clips/event{n:03d}.mp4"
        (out / e["clip"]).write_bytes(b"")
    for name in ("events.csv", "events.json", "frames.csv", "background.png"):
        (out / name).write_bytes(b"")
    recording = rec.finish(events)
    doc = {"input": str(SAMPLES / "street.mp4"), "fps": 25.0, "summary": {},
           "parameters": {"threshold_area": 0.002, "max_area": 0.7}, "events": events}
    write_run_report(out, doc, recording, det.model.background_image())
    write_index(parent, [{"input": "street.mp4", "output_dir": str(out), "frames": len(masks),
                          "events": len(motion)}])
    print(f"RunRecorder.add: {1000 * spent / len(masks):.3f} ms per frame")
    return parent, out, recording, np.array(masks), motion


def test_recorder_counts_and_thumbnails(street_run):
    _, out, rec, masks, motion = street_run
    assert motion, "street.mp4 should have a motion event"
    np.testing.assert_array_equal(rec.heat, masks.sum(0))
    assert len(rec.frames) == len(masks) and rec.moving.any()
    assert len(rec.thumbnails) == len(motion)
    for (thumb, frame), e in zip(rec.thumbnails, motion):
        assert e["start_frame"] <= frame <= e["end_frame"]
        assert thumb.shape[1] == 320
    for name in ("report.html", "timeline.png", "heatmap.png"):
        assert (out / name).is_file()
    assert not list(out.glob(".*partial*"))


def test_heat_counter_past_255_frames():
    from bgsub.report import RunRecorder

    rec = RunRecorder()
    mask = np.zeros((8, 10), np.uint8)
    mask[2:4, 3:6] = 255
    img = np.zeros((8, 10, 3), np.uint8)
    for i in range(600):
        rec.add(i, img, mask, 0.075, i / 25, i % 50 < 20)
    r = rec.finish([{"kind": "motion", "start_frame": 0, "end_frame": 19}])
    assert r.heat[2, 3] == 600 and r.heat.sum() == 600 * 6
    assert r.thumbnails[0][1] == 0  # the first frame of the stretch (peak ties keep the first)


@needs_browser
def test_run_report_in_a_browser(street_run, tmp_path):
    parent, out, _, _, motion = street_run
    check_page(out / "report.html")
    dom = browse((out / "report.html").as_uri(), tmp_path / "report.png", (1280, 1600))
    imgs = check_dom(dom, need_ids=("timeline", "heatmap", "thumb"))
    assert sum("thumb" in (i.get("class") or "") for i in imgs) == len(motion)
    assert 'href="clips/event001.mp4"' in dom
    not_blank(tmp_path / "report.png")
    check_page(parent / "index.html")
    dom = browse((parent / "index.html").as_uri(), tmp_path / "index.png")
    check_dom(dom)
    assert 'href="street_bgsub/report.html"' in dom


@needs_browser
def test_eval_report_in_a_browser(tmp_path, warm_kernels):
    from click.testing import CliRunner

    from bgsub.cli import main

    out = tmp_path / "eval"
    r = CliRunner().invoke(main, ["eval", str(SAMPLES / "street"), "--report", str(out)])
    assert r.exit_code == 0, r.output
    html = (out / "report.html").read_text()
    for method in ("bgsub", "opencv-mog2", "opencv-knn"):
        assert f"<td>{method}</td>" in html
    check_page(out / "report.html")
    dom = browse((out / "report.html").as_uri(), tmp_path / "eval.png", (1280, 1400))
    imgs = check_dom(dom)
    assert sum(i.get("src", "").startswith("strip_") for i in imgs) == 12  # 4 frames x 3
    assert any(i.get("src", "").startswith("f_") for i in imgs)
    not_blank(tmp_path / "eval.png")


# ---------------------------------------------------------------------------- live view
def _feed(server, stop):
    """Publish street.mp4 in a loop with a frame-difference mask, about 30 frames a second."""
    import cv2

    cap = cv2.VideoCapture(str(SAMPLES / "street.mp4"))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    t0 = time.monotonic()
    i = 0
    while not stop.is_set():
        f, prev = frames[i % len(frames)], frames[(i - 1) % len(frames)]
        mask = (cv2.absdiff(f, prev).max(2) > 25).astype(np.uint8) * 255
        server.publish(f, mask, float(mask.mean() / 255), time.monotonic() - t0)
        i += 1
        time.sleep(0.03)


@pytest.fixture
def live():
    from bgsub.report.live import LiveServer

    server = LiveServer("127.0.0.1", 0, token="s3cret", title="street.mp4",
                        moving_threshold=0.002).start()
    stop = threading.Event()
    feeder = threading.Thread(target=_feed, args=(server, stop), daemon=True)
    feeder.start()
    time.sleep(0.5)
    yield server
    stop.set()
    feeder.join()
    server.close()


def _get(url, **headers):
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, None, b""


def test_live_server_token_and_streams(live):
    base = f"http://127.0.0.1:{live.port}"
    for path in ("/", "/frame.jpg", "/timeline.json", "/frame.mjpg"):
        assert _get(base + path)[0] == 401, path
        assert _get(base + path + "?token=wrong")[0] == 401, path
    code, ctype, body = _get(base + "/?token=s3cret")
    assert code == 200 and "text/html" in ctype and b"frame.jpg?token=s3cret" in body
    code, ctype, body = _get(base + "/frame.jpg", Authorization="Bearer s3cret")
    assert code == 200 and body[:2] == b"\xff\xd8"
    import json

    doc = json.loads(_get(base + "/timeline.json?token=s3cret")[2])
    assert doc["frames"] > 5 and len(doc["t"]) == len(doc["fraction"]) > 5
    with urllib.request.urlopen(base + "/mask.mjpg?token=s3cret", timeout=10) as r:
        assert r.headers["Content-Type"].startswith("multipart/x-mixed-replace")
        head = r.read(200)
        assert head.startswith(b"--frame\r\nContent-Type: image/jpeg") and b"\xff\xd8" in head


def test_live_frame_shows_the_boxes():
    """With a MotionResult, the live frame is drawn with its blobs' boxes (red when moving)."""
    import cv2

    from bgsub.motion.detector import MotionResult
    from bgsub.report.live import LiveServer

    server = LiveServer("127.0.0.1", 0, title="boxes", max_fps=1000).start()
    try:
        frame = np.full((120, 160, 3), 128, np.uint8)
        mask = np.zeros((120, 160), np.uint8)
        mask[40:80, 50:110] = 255
        r = MotionResult(7, 0.28, mask, [(50, 40, 60, 40, 2400)], 0.125, True, False)
        server.publish(frame, mask, r.fraction, r.time, r)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            code, _, body = _get(f"http://127.0.0.1:{server.port}/frame.jpg")
            if code == 200 and body:
                break
            time.sleep(0.05)
        img = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
        b, g, red = (int(v) for v in img[40, 80])  # the box's top edge
        assert red > 200 and g < 80 and b < 80, img[40, 80]
        assert abs(int(img[60, 80, 2]) - 128) < 20  # inside the box: the frame itself
    finally:
        server.close()


def test_live_server_refuses_bad_addresses():
    import socket

    from bgsub.report.live import LiveServer, LiveServerError, check_serve, parse_address

    assert parse_address("8080") == ("127.0.0.1", 8080)
    assert parse_address(":8080") == ("127.0.0.1", 8080)
    assert parse_address("[::1]:9000") == ("::1", 9000)
    assert check_serve("localhost:1", None) == ("localhost", 1)
    for bad in ("abc", "host:", "1.2.3.4:70000"):
        with pytest.raises(LiveServerError, match="PORT"):
            parse_address(bad)
    with pytest.raises(LiveServerError, match="--token") as e:
        check_serve("0.0.0.0:8080", None)
    assert "\n" not in str(e.value)
    assert check_serve("0.0.0.0:8080", "t") == ("0.0.0.0", 8080)
    with pytest.raises(LiveServerError):
        LiveServer("0.0.0.0", 0)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    try:
        with pytest.raises(LiveServerError, match="in use") as e:
            LiveServer("127.0.0.1", s.getsockname()[1]).start()
        assert "\n" not in str(e.value)
    finally:
        s.close()


def test_publish_hands_pictures_over_at_most_max_fps():
    """publish() only records: pictures go to the encoder at most max_fps times a second,
    however fast frames come, and every frame's fraction is on the timeline."""
    from bgsub.report.live import LiveServer

    frame = np.random.default_rng(0).integers(0, 255, (360, 640, 3), np.uint8)
    mask = np.zeros((360, 640), np.uint8)
    with LiveServer("127.0.0.1", 0, max_fps=10) as server:
        t0 = time.monotonic()
        for i in range(300):
            server.publish(frame, mask, 0.01, i / 25)
        elapsed = time.monotonic() - t0
        time.sleep(0.3)  # let the encoder finish the last hand-over
        assert 1 <= server._version <= elapsed * 10 + 2
        doc = server._timeline_doc()
        assert doc["frames"] == 300 and len(doc["fraction"]) == 300


@needs_browser
def test_live_page_moves_in_a_browser(live, tmp_path):
    url = live.url
    assert url.startswith("http://127.0.0.1:") and "token=s3cret" in url
    dom = browse(url, tmp_path / "live1.png")
    check_dom(dom, need_ids=("frame", "mask"))
    time.sleep(2)
    browse(url, tmp_path / "live2.png")
    a, b = not_blank(tmp_path / "live1.png"), not_blank(tmp_path / "live2.png")
    assert a.shape == b.shape and np.abs(a.astype(int) - b.astype(int)).max() > 40, \
        "the live page did not change in 2 s"


# ---------------------------------------------------------------------------- bgsub run
@needs_browser
def test_bgsub_run_writes_its_report_and_an_index(tmp_path, warm_kernels):
    from .conftest import bgsub_popen

    out = tmp_path / "out"
    proc = bgsub_popen("run", "--no-display", SAMPLES / "street.mp4", SAMPLES / "park.mp4",
                       "-o", out, "--clips", "--jobs", "1")
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    for name in ("street", "park"):
        for f in ("report.html", "timeline.png", "heatmap.png"):
            assert (out / name / f).is_file(), (name, f)
        check_page(out / name / "report.html")
    check_page(out / "index.html")
    dom = browse((out / "street" / "report.html").as_uri(), tmp_path / "street.png")
    check_dom(dom, need_ids=("timeline", "heatmap"))
    not_blank(tmp_path / "street.png")
    dom = browse((out / "index.html").as_uri(), tmp_path / "index.png")
    assert "street" in dom and "park" in dom
    proc = bgsub_popen("run", "--no-display", SAMPLES / "street.mp4", "-o", tmp_path / "n",
                       "--no-report")
    proc.communicate(timeout=600)
    assert proc.returncode == 0
    assert not list((tmp_path / "n").glob("*.html")) and not (tmp_path / "n" / "heatmap.png").exists()


def test_bgsub_run_serve_shows_the_run_live(tmp_path, warm_kernels):
    """--serve on a live camera: the page and the pictures answer while the run goes on; a
    token, when given, is required."""
    import socket

    from .conftest import bgsub_popen, wait_for_rows
    from .test_sources import MjpegServer

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with MjpegServer(per_connection=100000, connections=1, fps=25) as cam:
        proc = bgsub_popen("run", "--no-display", cam.url, "-o", tmp_path / "o", "--serve",
                           str(port), "--token", "s3cret")
        try:
            wait_for_rows(tmp_path / "o" / ".frames.partial.csv", 20, proc)
            base = f"http://127.0.0.1:{port}"
            assert _get(base + "/")[0] == 401
            status, ctype, body = _get(base + "/?token=s3cret")
            assert status == 200 and b"<html" in body.lower()
            status, ctype, jpg = _get(base + "/frame.jpg?token=s3cret")
            assert status == 200 and ctype == "image/jpeg" and jpg[:2] == b"\xff\xd8"
            status, _, body = _get(base + "/timeline.json?token=s3cret")
            assert status == 200 and json.loads(body)["frames"] >= 20
        finally:
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=600)
    assert proc.returncode == 130, err
    assert f"live view: http://127.0.0.1:{port}/" in err


@pytest.mark.parametrize("args, message", [
    (["--serve", "0.0.0.0:8765"], "--token"),
    (["--serve", "nonsense:port"], "--serve"),
])
def test_bgsub_run_serve_refuses_at_once(tmp_path, args, message, monkeypatch):
    from click.testing import CliRunner

    from bgsub.cli import main

    monkeypatch.delenv("BGSUB_TOKEN", raising=False)
    res = CliRunner().invoke(main, ["run", "--no-display", str(SAMPLES / "street.mp4"), "-o",
                                    str(tmp_path / "o"), *args])
    assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
