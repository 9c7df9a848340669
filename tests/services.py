"""Real services on 127.0.0.1 for the notifier and watch tests: a Mosquitto broker, an HTTP
receiver, an MQTT subscriber, and a live MJPEG camera whose scene has motion at known frames."""

from __future__ import annotations

import getpass
import http.server
import json
import shutil
import socket
import subprocess
import threading
import time

import cv2
import numpy as np
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout=10.0, what="the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"{what} not met within {timeout} s")


# ---------------------------------------------------------------------------- MQTT
class Broker:
    """Debian's Mosquitto on a free 127.0.0.1 port (with ``users``, only they may connect);
    :meth:`stop` kills it, :meth:`start` starts it again on the same port."""

    def __init__(self, folder, users=None):
        exe = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/sbin")
        if exe is None:
            pytest.skip("mosquitto is not installed (apt-get install mosquitto; .ci/run does)")
        self.exe = exe
        self.port = free_port()
        self.conf = folder / "mosquitto.conf"
        auth = "allow_anonymous true\n"
        if users:  # {user: password}: only they may connect
            pw = folder / "mosquitto.passwd"
            pw.touch(mode=0o600)
            for user, password in users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(pw), user, password], check=True,
                               capture_output=True)
            # run as root, mosquitto would become the user "mosquitto", who cannot read it
            auth = (f"allow_anonymous false\npassword_file {pw}\n"
                    f"user {getpass.getuser()}\n")
        self.conf.write_text(f"listener {self.port} 127.0.0.1\n{auth}persistence false\n")
        self.proc = None

    @property
    def url(self):
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self):
        self.proc = subprocess.Popen([self.exe, "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def up():
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return True
            except OSError:
                assert self.proc.poll() is None, "mosquitto exited at start"
                return False

        wait_for(up, 10, "mosquitto listening")
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Subscriber:
    """A paho client subscribed to ``#`` that records (wall time, topic, payload, retained) and
    resubscribes after a reconnection."""

    def __init__(self, port):
        import paho.mqtt.client as mqtt

        self.messages = []
        self.lock = threading.Lock()
        self.connected = threading.Event()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-sub-{port}")
        c.reconnect_delay_set(1, 2)

        def on_connect(client, userdata, flags, rc, props=None):
            client.subscribe("#", qos=1)
            self.connected.set()

        def on_message(client, userdata, msg):
            with self.lock:
                self.messages.append((time.time(), msg.topic, msg.payload.decode(),
                                      bool(msg.retain)))

        c.on_connect, c.on_message = on_connect, on_message
        c.connect_async("127.0.0.1", port)
        c.loop_start()
        self.client = c
        assert self.connected.wait(10), "the test subscriber could not connect"
        time.sleep(0.2)  # the subscription is acknowledged

    def on(self, topic):
        with self.lock:
            return [(t, p) for t, tp, p, _ in self.messages if tp == topic]

    def events(self, topic):
        return [json.loads(p) for _, p in self.on(topic)]

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


# ---------------------------------------------------------------------------- HTTP
class Receiver:
    """A stdlib HTTP server that records each POST (wall time, headers, JSON body).  ``mode``:
    "ok" (200), "fail N" (500 to the first N requests, then 200), "500" / "404" (always), "hang"
    (reads the request and never answers)."""

    def __init__(self, mode="ok"):
        self.mode = mode
        self.posts = []
        self.attempts = 0
        self.on_post = None  # called with the body, before the answer
        self.release = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.attempts += 1
                n = outer.attempts
                if outer.mode == "hang":
                    outer.release.wait(30)
                    return
                if outer.mode in ("500", "404") or (outer.mode.startswith("fail ")
                                                    and n <= int(outer.mode.split()[1])):
                    self.send_response(int(outer.mode) if outer.mode == "404" else 500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                doc = json.loads(body)
                if outer.on_post is not None:
                    outer.on_post(doc)
                outer.posts.append((time.time(), dict(self.headers), doc))
                self.send_response(204)
                self.end_headers()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


# ---------------------------------------------------------------------------- camera
class MotionCamera:
    """A live MJPEG camera on 127.0.0.1 serving ``total`` frames at ``fps`` once: a flat grey
    160x120 scene where a white square crosses during frames [p*period + on, p*period + off)
    of each period (or ``images`` in turn).  ``sent`` counts the frames served so far."""

    def __init__(self, total=180, fps=60, period=30, on=12, off=20, images=None):
        """``images``: serve these (BGR) in turn instead of the square's period."""
        if images is None:
            images = []
            for k in range(period):
                img = np.full((120, 160, 3), 110, np.uint8)
                if on <= k < off:
                    x = 20 + 8 * (k - on)
                    cv2.rectangle(img, (x, 40), (x + 30, 80), (250, 250, 250), -1)
                images.append(img)
        frames = [cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
                  for img in images]
        self.jpegs, self.total, self.period = frames, total, 1.0 / fps
        self.sent = 0
        self.served = 0
        self.done = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                if outer.served:
                    self.send_error(503)
                    return
                outer.served += 1
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                t0 = time.monotonic()
                try:
                    for i in range(outer.total):
                        jpg = outer.jpegs[i % len(outer.jpegs)]
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\n"
                                         + f"Content-Length: {len(jpg)}\r\n\r\n".encode()
                                         + jpg + b"\r\n")
                        outer.sent = i + 1
                        time.sleep(max(0.0, t0 + (i + 1) * outer.period - time.monotonic()))
                except (BrokenPipeError, ConnectionResetError):
                    pass
                outer.done.set()
                self.close_connection = True

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/cam.mjpg"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
