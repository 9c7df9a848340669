"""Notifiers against real parts: hooks (real commands), a webhook (a stdlib HTTP receiver) and
MQTT (Debian's Mosquitto started here), fed by ``bgsub run`` on a live camera served on
127.0.0.1 and on the street sample: events as they happen, a broker killed and restarted
mid-run, receivers that fail or never answer, a dead broker and webhook from the start, a hook
that hangs."""

import csv
import json
import os
import sys
import time

import pytest
from click.testing import CliRunner

from bgsub.cli import main
from bgsub.notify.events import Dispatcher, EventRecord, Notifier, NotifyError

from .conftest import SAMPLES, SUBPROCESS_TIMEOUT, bgsub_env, bgsub_popen
from .services import Broker, MotionCamera, Receiver, Subscriber, free_port, wait_for
from .test_faults import assert_every_output_whole

STREET = SAMPLES / "street.mp4"  # 120 frames, one motion event (frames 29-119)
PAYLOAD_KEYS = {"type", "name", "source", "event_id", "start", "end", "start_frame",
                "end_frame", "peak", "zones"}
LIVE = ("--no-display", "--reconnect-timeout", "0.5", "--event-gap", "5", "--no-report",
        "--mask-format", "none")


def run(*args, env=None):
    res = CliRunner().invoke(main, ["run", *map(str, args)], env=env)
    return res


def warnings(stderr):
    """Warning lines, less the live camera's own end ('no frame for 0.5 s')."""
    return [ln for ln in stderr.splitlines() if ln.startswith("Warning") and
            "no frame for" not in ln]


def rows(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def broker(tmp_path):
    pytest.importorskip("paho.mqtt.client", reason='paho-mqtt missing: pip install "bgsub[mqtt]"')
    b = Broker(tmp_path).start()
    yield b
    b.stop()


def motion_events(out):
    return [e for e in json.loads((out / "events.json").read_text())["events"]
            if e["kind"] == "motion"]


def test_events_reach_hooks_webhook_and_mqtt_while_the_camera_runs(tmp_path, broker,
                                                                   warm_kernels):
    """Every event's start and end, with the same numbers as events.json, through all three
    notifiers; each start arrives while the camera is still sending frames."""
    rx = Receiver("ok")
    sub = Subscriber(broker.port)
    cam = MotionCamera(total=180, fps=60)
    out = tmp_path / "out"
    sent_at_start = []
    rx.on_post = lambda doc: sent_at_start.append(cam.sent) if doc["type"] == "start" else None
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    script = ("import os, sys, json; e = {k: v for k, v in os.environ.items() "
              "if k.startswith('BGSUB_')}; "
              "open(os.path.join(sys.argv[1], e['BGSUB_EVENT_TYPE'] + e['BGSUB_EVENT_ID']), "
              "'w').write(json.dumps(e))")
    hook = f"{sys.executable} -c \"{script}\" {hooks}"
    try:
        res = run(cam.url, "-o", out, *LIVE, "--name", "porch", "--zone",
                  "left:0,0 80,0 80,119 0,119", "--zone", "right:80,0 159,0 159,119 80,119",
                  "--on-event-start", hook, "--on-event-end", hook, "--webhook", rx.url,
                  "--mqtt", f"{broker.url}/home", "--mqtt-discovery", "--json",
                  env={"BGSUB_WEBHOOK_TOKEN": "s3cret"})
        assert res.exit_code == 0, res.output
        assert warnings(res.stderr) == []
        summary = json.loads(res.stdout)["inputs"][0]
        events = motion_events(out)
        n = len(events)
        assert n >= 3
        wait_for(lambda: len(sub.events("home/porch/event")) == 2 * n, 5, "MQTT events")
    finally:
        rx.close()
        sub.close()
        cam.close()
    assert summary["notifications"] == {
        "on_event_start": {"sent": n, "dropped": 0, "failed": 0},
        "on_event_end": {"sent": n, "dropped": 0, "failed": 0},
        "webhook": {"sent": 2 * n, "dropped": 0, "failed": 0},
        "mqtt": {"sent": 2 * n, "dropped": 0, "failed": 0}}
    # the starts went out while frames were still coming (not at the end of the run)
    assert len(sent_at_start) == n and all(s < cam.total for s in sent_at_start)
    # the webhook: JSON with exactly the keys, the bearer token
    docs = [d for _, _, d in rx.posts]
    assert all(h["Authorization"] == "Bearer s3cret" for _, h, _ in rx.posts)
    assert all(set(d) == PAYLOAD_KEYS for d in docs)
    starts = [d for d in docs if d["type"] == "start"]
    ends = sorted((d for d in docs if d["type"] == "end"), key=lambda d: d["event_id"])
    assert [d["event_id"] for d in starts] == list(range(1, n + 1))
    for e, s, d in zip(events, starts, ends):
        assert s["name"] == d["name"] == "porch" and s["source"] == cam.url
        assert s["end"] is None and s["end_frame"] is None
        assert (s["start_frame"], s["start"]) == (e["start_frame"], e["start_seconds"])
        assert (d["start_frame"], d["end_frame"]) == (e["start_frame"], e["end_frame"])
        assert (d["start"], d["end"]) == (e["start_seconds"], e["end_seconds"])
        assert d["peak"] == e["peak_fraction"] and d["zones"] == e["zones"]
        assert set(s["zones"]) <= set(d["zones"])
    # the square crosses from the left half into the right one in every period
    assert all(e["zones"] == ["left", "right"] for e in events[1:])
    # MQTT: the same documents, motion ON/OFF retained, availability, discovery
    assert sub.events("home/porch/event") == docs
    assert [p for _, p in sub.on("home/porch/motion")][-2 * n:] == ["ON", "OFF"] * n
    assert [p for _, p in sub.on("home/porch/availability")] == ["online", "offline"]
    cfg = json.loads(sub.on("homeassistant/binary_sensor/bgsub_porch/motion/config")[0][1])
    assert cfg["device_class"] == "motion" and cfg["state_topic"] == "home/porch/motion"
    assert cfg["availability_topic"] == "home/porch/availability"
    assert (cfg["payload_on"], cfg["payload_off"]) == ("ON", "OFF")
    # the hooks: one run per start and end, with the event in their environment
    for k, (e, d) in enumerate(zip(events, ends), start=1):
        env_s = json.loads((hooks / f"start{k}").read_text())
        env_e = json.loads((hooks / f"end{k}").read_text())
        assert env_s["BGSUB_END"] == env_s["BGSUB_END_FRAME"] == ""
        assert env_e["BGSUB_NAME"] == "porch" and env_e["BGSUB_SOURCE"] == cam.url
        assert env_e["BGSUB_START_FRAME"] == str(e["start_frame"])
        assert env_e["BGSUB_END_FRAME"] == str(e["end_frame"])
        assert float(env_e["BGSUB_START"]) == pytest.approx(e["start_seconds"], abs=1e-3)
        assert float(env_e["BGSUB_END"]) == pytest.approx(e["end_seconds"], abs=1e-3)
        assert float(env_e["BGSUB_PEAK"]) == pytest.approx(e["peak_fraction"], abs=1e-5)
        assert env_e["BGSUB_ZONES"].split() == e["zones"]
    assert len(list(hooks.iterdir())) == 2 * n


def test_a_bumped_camera_reaches_its_hook_the_webhook_and_mqtt(tmp_path, broker, warm_kernels):
    """A live camera whose view is bumped 4 px left and 2 down at frame 40: one camera move,
    with its dx and dy, through --on-camera-moved, the webhook and MQTT's camera topic (what
    the discovered Home Assistant event entity reads); the event topic and the retained motion
    state are only the motion events'."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(2)
    big = cv2.GaussianBlur(rng.uniform(0, 255, (140, 180, 3)).astype(np.float32), (0, 0), 1.5)
    big = (big - big.min()) / (big.max() - big.min()) * 200 + 25
    images = [np.clip(rng.normal(0, 1.5, (120, 160, 3)) + (
        big[10:130, 10:170] if t < 40 else big[8:128, 14:174]), 0, 255).astype(np.uint8)
        for t in range(120)]
    rx, sub = Receiver("ok"), Subscriber(broker.port)
    cam = MotionCamera(total=120, fps=60, images=images)
    out, hooks = tmp_path / "out", tmp_path / "hooks"
    hooks.mkdir()
    script = ("import os, sys, json; e = {k: v for k, v in os.environ.items() "
              "if k.startswith('BGSUB_')}; "
              "open(os.path.join(sys.argv[1], e['BGSUB_EVENT_TYPE'] + e['BGSUB_EVENT_ID']), "
              "'w').write(json.dumps(e))")
    try:
        res = run(cam.url, "-o", out, *LIVE, "--name", "porch", "--camera-settle", 20,
                  "--on-camera-moved", f"{sys.executable} -c \"{script}\" {hooks}",
                  "--webhook", rx.url, "--mqtt", f"{broker.url}/home", "--mqtt-discovery",
                  "--json")
        assert res.exit_code == 0, res.output
        assert warnings(res.stderr) == []
        summary = json.loads(res.stdout)["inputs"][0]
        n = len(motion_events(out))
        wait_for(lambda: len(sub.events("home/porch/event")) == 2 * n
                 and len(sub.events("home/porch/camera")) == 1, 5, "MQTT events")
    finally:
        rx.close()
        sub.close()
        cam.close()
    (move,) = [e for e in json.loads((out / "events.json").read_text())["events"]
               if e["kind"] == "camera_moved"]
    assert (move["start_frame"], move["dx"], move["dy"]) == (40, -4, 2)
    assert summary["camera_moves"] == 1
    assert summary["notifications"]["on_camera_moved"] == {"sent": 1, "dropped": 0, "failed": 0}
    (doc,) = [d for _, _, d in rx.posts if d["type"] == "camera_moved"]
    assert set(doc) == PAYLOAD_KEYS | {"dx", "dy"} and (doc["dx"], doc["dy"]) == (-4, 2)
    assert (doc["event_id"], doc["start_frame"], doc["end_frame"]) == (
        1, move["start_frame"], move["end_frame"])
    assert sub.events("home/porch/camera") == [{"event_type": "camera_moved", **doc}]
    cfg = json.loads(sub.on("homeassistant/event/bgsub_porch/camera/config")[0][1])
    assert cfg["state_topic"] == "home/porch/camera" and cfg["event_types"] == ["camera_moved"]
    assert cfg["device"]["identifiers"] == ["bgsub_porch"]
    assert cfg["availability_topic"] == "home/porch/availability"
    states = [p for _, p in sub.on("home/porch/motion")]  # OFF once connected, then events'
    assert states[-2 * n - 1:] == ["OFF"] + ["ON", "OFF"] * n
    env = json.loads((hooks / "camera_moved1").read_text())
    assert (env["BGSUB_DX"], env["BGSUB_DY"], env["BGSUB_NAME"]) == ("-4", "2", "porch")
    assert env["BGSUB_START_FRAME"] == "40" and list(hooks.iterdir()) == [hooks / "camera_moved1"]


def test_broker_killed_and_restarted_mid_run(tmp_path, broker, warm_kernels):
    """Messages published after the broker is back arrive; not one frame is lost meanwhile
    (frame indices of a live camera skip when the run falls behind)."""
    sub = Subscriber(broker.port)
    cam = MotionCamera(total=360, fps=60)  # 6 s, an event a half-second
    out = tmp_path / "out"
    import threading

    def outage():
        wait_for(lambda: cam.sent >= 70, 20, "the camera's first second")
        broker.stop()
        time.sleep(1.0)
        broker.start()
        sub.connected.clear()

    t = threading.Thread(target=outage)
    t.start()
    try:
        res = run(cam.url, "-o", out, *LIVE, "--name", "cam", "--mqtt", f"{broker.url}/b",
                  "--json")
        t.join()
        assert res.exit_code == 0, res.output
        summary = json.loads(res.stdout)["inputs"][0]
        events = motion_events(out)
        wait_for(lambda: any(d["event_id"] == len(events) and d["type"] == "end"
                             for d in sub.events("b/cam/event")), 5, "the last event's end")
    finally:
        sub.close()
        cam.close()
    got = {(d["type"], d["event_id"]) for d in sub.events("b/cam/event")}
    m = summary["notifications"]["mqtt"]
    assert m["sent"] + m["failed"] + m["dropped"] == 2 * len(events)
    assert m["failed"] >= 1  # some were published while it was down
    # everything after the reconnection arrived: the last three events, start and end
    for k in range(len(events) - 2, len(events) + 1):
        assert ("start", k) in got and ("end", k) in got
    assert sub.on("b/cam/availability")[-1][1] == "offline"
    w = warnings(res.stderr)
    assert len(w) == 1 and w[0].startswith("Warning: mqtt"), res.stderr
    frames = [int(r["frame"]) for r in rows(out / "frames.csv")]
    assert frames == list(range(len(frames))) and len(frames) >= cam.total - 10


def test_dead_broker_and_webhook_from_the_start(tmp_path, warm_kernels):
    """Nobody listens: exit 0, every output written, one warning line per notifier."""
    out = tmp_path / "out"
    port = free_port()
    proc = bgsub_popen("run", STREET, "-o", out, "--no-display", "--overlay", "--clips",
                       "--webhook", f"http://127.0.0.1:{port}/x",
                       "--mqtt", f"mqtt://127.0.0.1:{port}/p", "--json")
    stdout, err = proc.communicate(timeout=SUBPROCESS_TIMEOUT)
    assert proc.returncode == 0, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 2 and all(ln.startswith("Warning: ") for ln in lines), err
    assert any("webhook" in ln and "refused" in ln.lower() for ln in lines), err
    assert any(ln.startswith("Warning: mqtt") for ln in lines), err
    assert_every_output_whole(out)
    for f in ("events.json", "events.csv", "frames.csv", "mask.mkv", "overlay.mp4",
              "report.html", "clips/event001.mp4"):
        assert (out / f).is_file(), f
    n = json.loads(stdout)["inputs"][0]["notifications"]
    assert n["webhook"]["sent"] == n["mqtt"]["sent"] == 0
    for k in ("webhook", "mqtt"):
        assert n[k]["failed"] + n[k]["dropped"] == 2


def test_webhook_retries_a_receiver_that_answers_500(tmp_path):
    rx = Receiver("fail 2")  # 500 twice, then 204
    try:
        res = run(STREET, "-o", tmp_path / "out", "--no-display", "--no-report",
                  "--webhook", rx.url, "--json")
    finally:
        rx.close()
    assert res.exit_code == 0, res.output
    assert "Warning" not in res.stderr
    assert rx.attempts == 4 and [d["type"] for _, _, d in rx.posts] == ["start", "end"]
    n = json.loads(res.stdout)["inputs"][0]["notifications"]
    assert n == {"webhook": {"sent": 2, "dropped": 0, "failed": 0}}


def test_webhook_receiver_that_always_answers_500(tmp_path):
    rx = Receiver("500")
    try:
        res = run(STREET, "-o", tmp_path / "out", "--no-display", "--no-report",
                  "--webhook", rx.url, "--json")
    finally:
        rx.close()
    assert res.exit_code == 0, res.output
    assert res.stderr.count("Warning") == 1 and "answered 500" in res.stderr, res.stderr
    assert rx.attempts == 5  # the start: tried 4 times; the end, once (the receiver is down)
    n = json.loads(res.stdout)["inputs"][0]["notifications"]
    assert n == {"webhook": {"sent": 0, "dropped": 0, "failed": 2}}


def test_webhook_does_not_retry_a_4xx_answer(tmp_path):
    rx = Receiver("404")
    try:
        res = run(STREET, "-o", tmp_path / "out", "--no-display", "--no-report",
                  "--webhook", rx.url, "--json")
    finally:
        rx.close()
    assert res.exit_code == 0, res.output
    assert res.stderr.count("Warning") == 1 and "answered 404" in res.stderr, res.stderr
    assert rx.attempts == 2  # the start and the end, once each
    n = json.loads(res.stdout)["inputs"][0]["notifications"]
    assert n == {"webhook": {"sent": 0, "dropped": 0, "failed": 2}}


def test_webhook_receiver_that_never_answers(tmp_path):
    rx = Receiver("hang")
    out = tmp_path / "out"
    try:
        res = run(STREET, "-o", out, "--no-display", "--webhook", rx.url, "--json")
    finally:
        rx.close()
    assert res.exit_code == 0, res.output
    assert res.stderr.count("Warning") == 1 and "not delivered" in res.stderr, res.stderr
    n = json.loads(res.stdout)["inputs"][0]["notifications"]["webhook"]
    assert n["sent"] == 0 and n["dropped"] == 2
    assert_every_output_whole(out)
    assert (out / "report.html").is_file()


def test_hook_that_hangs_is_killed_at_the_timeout_and_a_failing_hook_is_reported(tmp_path):
    pidfile = tmp_path / "pid"
    res = run(STREET, "-o", tmp_path / "out", "--no-display", "--no-report",
              "--on-event-start", f"sh -c 'echo $$ > {pidfile}; exec sleep 60'",
              "--on-event-end", "sh -c 'exit 3' token=hunter2", "--hook-timeout", "0.5",
              "--json")
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 2, res.stderr
    assert "--on-event-start hook for event 1" in res.stderr
    assert "still running after --hook-timeout 0.5 s; killed" in res.stderr
    assert "--on-event-end hook for event 1 (sh)" in res.stderr and "status 3" in res.stderr
    assert "hunter2" not in res.stderr  # the program is named, not its arguments
    pid = int(pidfile.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    n = json.loads(res.stdout)["inputs"][0]["notifications"]
    assert n["on_event_start"] == {"sent": 0, "dropped": 0, "failed": 1}
    assert n["on_event_end"] == {"sent": 0, "dropped": 0, "failed": 1}


def test_clip_is_complete_when_the_end_hook_runs(tmp_path):
    seen = tmp_path / "seen"
    res = run(STREET, "-o", tmp_path / "out", "--no-display", "--no-report", "--clips",
              "--on-event-end", f"sh -c 'ls -l \"$BGSUB_CLIP\" > {seen}'")
    assert res.exit_code == 0, res.output
    clip = tmp_path / "out" / "clips" / "event001.mp4"
    assert str(clip) in seen.read_text() and clip.stat().st_size > 0


@pytest.mark.parametrize("args, words", [
    (["--mqtt", "http://127.0.0.1/x"], ["--mqtt", "mqtt://"]),
    (["--mqtt", "mqtt://u:hunter2@127.0.0.1/x"], ["BGSUB_MQTT_PASSWORD", "u:***@"]),
    (["--webhook", "http://u:hunter2@127.0.0.1/x"], ["credentials", "BGSUB_WEBHOOK_TOKEN"]),
    (["--webhook", "http://127.0.0.1:x/x?token=hunter2"], ["bad port"]),
    (["--mqtt", "mqtt://127.0.0.1/a/#"], ["'+', '#'"]),
    (["--mqtt-discovery"], ["--mqtt-discovery needs --mqtt"]),
    (["--webhook", "ftp://127.0.0.1/x"], ["--webhook", "http://"]),
    (["--on-event-start", "no-such-program-here --x"], ["no-such-program-here", "not found"]),
    (["--on-event-end", "sh -c 'unbalanced"], ["--on-event-end", "quotation"]),
    (["--on-camera-moved", "no-such-program-here"], ["--on-camera-moved", "not found"]),
    (["--name", "a", STREET], ["--name names one input"]),
])
def test_bad_notifier_options_are_refused_in_one_line(tmp_path, args, words):
    res = run(STREET, "-o", tmp_path / "out", "--no-display", *args)
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.stderr
    for w in words:
        assert w in res.stderr
    assert "hunter2" not in res.output  # a secret in the URL is not echoed
    assert not (tmp_path / "out").exists()


def test_without_paho_mqtt_the_error_names_the_extra(tmp_path):
    """paho hidden from the import system: one line naming pip install "bgsub[mqtt]"."""
    import subprocess

    code = ("import sys\n"
            "class Hide:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'paho' or name.startswith('paho.'):\n"
            "            raise ImportError(name)\n"
            "sys.meta_path.insert(0, Hide())\n"
            "from bgsub.cli import main\n"
            "main()\n")
    r = subprocess.run([sys.executable, "-c", code, "run", str(STREET), "-o",
                        str(tmp_path / "out"), "--no-display", "--mqtt", "mqtt://127.0.0.1/x"],
                       capture_output=True, text=True, env=bgsub_env(),
                       timeout=SUBPROCESS_TIMEOUT)
    assert r.returncode == 2
    assert r.stderr.strip() == 'Error: --mqtt needs paho-mqtt: pip install "bgsub[mqtt]"'


class _Gate(Notifier):
    """A notifier that holds every record until released (to fill its queue)."""

    name = "gate"

    def __init__(self):
        import threading

        self.open = threading.Event()
        self.got = []

    def send(self, record):
        self.open.wait(10)
        if record.event_id % 2:
            raise NotifyError(f"gate: odd {record.event_id}")
        self.got.append(record.event_id)


def test_full_queue_drops_and_counts_and_publish_never_waits():
    warnings = []
    gate = _Gate()
    d = Dispatcher([gate], warn=warnings.append, queue_size=8).start()
    for k in range(1, 31):
        d.publish(EventRecord("start", "n", "s", k, 0.0, 0, 0.1))
    gate.open.set()
    counts = d.close()["gate"]
    assert counts["sent"] + counts["failed"] + counts["dropped"] == 30
    assert counts["dropped"] in (21, 22)  # 8 queued, one perhaps already taken
    assert all(k % 2 == 0 for k in gate.got) and counts["sent"] == len(gate.got)
    assert counts["failed"] == sum(1 for _ in range(30 - counts["dropped"])) - counts["sent"]
    # odd ids fail, even ones succeed: each failure follows a success, so each is one warning
    assert len(warnings) == counts["failed"] >= 4


def test_a_run_that_fails_mid_event_still_sends_the_event_s_end(tmp_path):
    """Frames that change size stop the run with an error while an event is open: its end is
    sent all the same (else MQTT's retained motion stays ON and start hooks are never undone)."""
    import cv2
    import numpy as np

    seq = tmp_path / "seq"
    seq.mkdir()
    for i in range(70):
        img = np.full((120, 160, 3), 110, np.uint8)
        if i >= 30:
            cv2.rectangle(img, (10 + 2 * (i - 30), 40), (40 + 2 * (i - 30), 80), (250,) * 3, -1)
        if i == 60:  # the stream changes size mid-event: the run stops with an error
            img = cv2.resize(img, (200, 120))
        cv2.imwrite(str(seq / f"{i:04d}.png"), img)
    rx = Receiver("ok")
    try:
        res = run(seq, "-o", tmp_path / "out", "--no-display", "--no-report", "--webhook",
                  rx.url, "--on-event-end", f"sh -c 'echo $BGSUB_EVENT_ID > {tmp_path}/end'")
    finally:
        rx.close()
    assert res.exit_code == 1 and "frame 60 is 200x120" in res.stderr, res.output
    docs = [d for _, _, d in rx.posts]
    assert [(d["type"], d["event_id"]) for d in docs] == [("start", 1), ("end", 1)]
    assert docs[1]["end_frame"] == 59 and docs[1]["start_frame"] == docs[0]["start_frame"]
    assert (tmp_path / "end").read_text().strip() == "1"


def test_an_event_at_once_waits_for_the_first_connection(broker):
    """A record published before the broker has answered (an event in the first moments of a
    run) is delivered, not counted failed with a warning."""
    from bgsub.notify.mqtt import MqttNotifier

    sub = Subscriber(broker.port)
    warned = []
    try:
        d = Dispatcher([MqttNotifier(f"{broker.url}/x", "cam")], warn=warned.append).start()
        d.publish(EventRecord("start", "cam", "s", 1, 0.0, 0, 0.1))
        d.publish(EventRecord("end", "cam", "s", 1, 0.0, 0, 0.1, end=1.0, end_frame=9))
        counts = d.close()
        # the events and the motion state travel on two topics: wait for both (the OFF may
        # come after the second event on a busy machine)
        wait_for(lambda: len(sub.events("x/cam/event")) == 2
                 and [p for _, p in sub.on("x/cam/motion")][-1:] == ["OFF"], 5,
                 "both messages and the motion state")
    finally:
        sub.close()
    assert counts == {"mqtt": {"sent": 2, "dropped": 0, "failed": 0}} and warned == []
    assert [p for _, p in sub.on("x/cam/motion")][-2:] == ["ON", "OFF"]


def test_a_hook_left_running_at_the_end_is_killed(tmp_path):
    """The end of a run waits --hook-timeout + 1 s; a hook that started late in that time is
    killed with it, not left running in its own session for ever."""
    from bgsub.notify.hooks import HookNotifier

    pids = tmp_path / "pids"
    hook = HookNotifier("end", f"sh -c 'echo $$ >> {pids}; exec sleep 60'", timeout=1.0)
    d = Dispatcher([hook], warn=lambda line: None).start()
    for k in (1, 2):  # the first is killed at 1 s; the second is still running at 2 s
        d.publish(EventRecord("end", "n", "s", k, 0.0, 0, 0.1, end=1.0, end_frame=9))
    counts = d.close()["on_event_end"]
    assert counts == {"sent": 0, "dropped": 1, "failed": 1}
    started = [int(p) for p in pids.read_text().split()]
    assert len(started) == 2
    alive = []
    for pid in started:
        try:
            os.kill(pid, 0)
            alive.append(pid)
            os.kill(pid, 9)  # clean up after a failure
        except ProcessLookupError:
            pass
    assert alive == []


def test_the_mqtt_password_comes_from_the_environment(tmp_path, monkeypatch):
    """A broker that wants a password: with $BGSUB_MQTT_PASSWORD the records arrive; with a
    wrong one, one warning saying the broker refused, and the password is nowhere in it."""
    pytest.importorskip("paho.mqtt.client", reason='paho-mqtt missing: pip install "bgsub[mqtt]"')
    from bgsub.notify.mqtt import MqttNotifier

    b = Broker(tmp_path, users={"cam": "hunter2"}).start()
    try:
        got = []
        for password in ("hunter2", "wrong-one"):
            monkeypatch.setenv("BGSUB_MQTT_PASSWORD", password)
            warned = []
            d = Dispatcher([MqttNotifier(f"mqtt://cam@127.0.0.1:{b.port}/x", "cam")],
                           warn=warned.append).start()
            d.publish(EventRecord("start", "cam", "s", 1, 0.0, 0, 0.1))
            got.append((d.close()["mqtt"], warned))
    finally:
        b.stop()
    assert got[0] == ({"sent": 1, "dropped": 0, "failed": 0}, [])
    counts, warned = got[1]
    assert counts == {"sent": 0, "dropped": 0, "failed": 1} and len(warned) == 1
    assert "refused" in warned[0] and "wrong-one" not in warned[0], warned


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_hook_gets_the_users_environment_without_bgsubs_own_settings(tmp_path, jobs):
    """bgsub sets thread-pool and logging variables for its own process; a hook runs with the
    environment the user gave bgsub (their own values of the same variables kept), also from
    the worker processes of ``--jobs 2``, which inherit bgsub's settings."""
    import subprocess

    ours = ("OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT",
            "NUMBA_THREADING_LAYER_PRIORITY", "OPENCV_LOG_LEVEL", "OPENCV_FFMPEG_LOGLEVEL",
            "BGSUB_SET_ENV")
    env = {k: v for k, v in bgsub_env().items() if k not in ours}
    env["OPENCV_LOG_LEVEL"] = "ERROR"  # the user's own setting
    inputs = [STREET] if jobs == 1 else [STREET, SAMPLES / "park.mp4"]
    seen = tmp_path / "env"
    seen.mkdir()
    r = subprocess.run([sys.executable, "-m", "bgsub.cli", "run", *map(str, inputs), "-o",
                        str(tmp_path / "out"), "-q", "--no-report", "--jobs", str(jobs),
                        "--on-event-start", f"sh -c 'env > {seen}/$$'"], env=env,
                       capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT)
    assert r.returncode == 0, r.stderr
    dumps = list(seen.iterdir())
    assert len(dumps) >= len(inputs)
    for dump in dumps:
        got = dict(ln.split("=", 1) for ln in dump.read_text().splitlines() if "=" in ln)
        assert got["BGSUB_EVENT_TYPE"] == "start"
        assert got["OPENCV_LOG_LEVEL"] == "ERROR"
        assert [k for k in ours if k in got] == ["OPENCV_LOG_LEVEL"], dump.name
