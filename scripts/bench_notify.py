"""What the notifiers cost (issue 24): on a video, and on a synthetic 640x360 video with an
event every second (a white square crossing a grey scene, 1,800 frames, 60 events),

* latency on loopback from the frame where an event starts or ends (the moment the run queues
  the record) to its MQTT message at a subscriber and its POST at an HTTP receiver;
* the run's frame rate with hooks, webhook and MQTT on against off (alternating runs, median).

Needs mosquitto and paho-mqtt.  Usage:
    python scripts/bench_notify.py [VIDEO] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.services import Broker, Receiver, Subscriber  # noqa: E402

DEFAULT = ROOT.parent / "shared" / "data" / "videos" / "bridge_traffic_640x360.mp4"


def latency(video, broker, tmp):
    """Queue -> delivery, per record, in ms: (mqtt list, webhook list)."""
    from bgsub.notify import events
    from bgsub.pipeline.run import RunOptions, run_input

    queued = {}
    publish = events.Dispatcher.publish

    def logged(self, record):
        queued[(record.type, record.event_id)] = record.created
        publish(self, record)

    events.Dispatcher.publish = logged
    rx = Receiver("ok")
    sub = Subscriber(broker.port)
    try:
        opts = RunOptions(display=False, quiet=True, report=False, mask_format="none",
                          webhook=rx.url, mqtt=f"{broker.url}/bench", name="bench")
        s = run_input(video, Path(tmp) / "lat", opts)
        time.sleep(1.0)
    finally:
        events.Dispatcher.publish = publish
        rx.close()
        sub.close()
    mq = {(d["type"], d["event_id"]): t for (t, p) in sub.on("bench/bench/event")
          for d in [json.loads(p)]}
    wh = {(d["type"], d["event_id"]): t for t, _, d in rx.posts}
    ms = lambda got: [1000 * (got[k] - t0) for k, t0 in queued.items() if k in got]  # noqa
    return s, ms(mq), ms(wh)


def fps(video, tmp, notify: bool, broker, rx) -> float:
    args = [sys.executable, "-m", "bgsub.cli", "run", str(video), "-o", f"{tmp}/fps",
            "--no-display", "--json", "-q"]
    if notify:
        args += ["--on-event-start", "true", "--on-event-end", "true", "--webhook", rx.url,
                 "--mqtt", f"{broker.url}/bench", "--name", "bench"]
    r = subprocess.run(args, capture_output=True, text=True, check=True)
    s = json.loads(r.stdout)["inputs"][0]
    if notify:
        assert sum(v["sent"] for v in s["notifications"].values()) == 6 * s["events"], s
    return s["fps"]


def synthetic(path, frames=1800, period=30, on=12, off=20):
    """A 640x360 MJPG .avi at 30 fps: a white square crosses frames [on, off) of each period."""
    import cv2
    import numpy as np

    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 360))
    for i in range(frames):
        k = i % period
        img = np.full((360, 640, 3), 110, np.uint8)
        if on <= k < off:
            x = 60 + 30 * (k - on)
            cv2.rectangle(img, (x, 120), (x + 90, 240), (250, 250, 250), -1)
        w.write(img)
    w.release()
    return path


def quiet_wait():
    while Path("/tmp/bgsub-quiet").exists():
        time.sleep(30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("video", nargs="?", default=str(DEFAULT))
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        broker = Broker(Path(tmp)).start()
        videos = [a.video, str(synthetic(Path(tmp) / "events.avi"))]
        try:
            for video in videos:
                quiet_wait()
                s, mq, wh = latency(video, broker, tmp)
                print(f"{video}: {s['frames']} frames, {s['events']} events", flush=True)
                for name, v in (("MQTT", mq), ("webhook POST", wh)):
                    print(f"  latency to {name}: {len(v)} messages, median "
                          f"{statistics.median(v):.1f} ms, max {max(v):.1f} ms", flush=True)
            rx = Receiver("ok")
            for video in videos:
                on, off = [], []
                for _ in range(a.repeats):
                    quiet_wait()
                    off.append(fps(video, tmp, False, broker, rx))
                    on.append(fps(video, tmp, True, broker, rx))
                m_on, m_off = statistics.median(on), statistics.median(off)
                print(f"{video}: fps off {off} median {m_off}; on {on} median {m_on}; "
                      f"on/off {m_on / m_off:.3f}", flush=True)
            rx.close()
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
