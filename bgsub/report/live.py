"""A live view of a run in a web browser: the current frame, its mask and the foreground
fraction over time, served by the standard library's HTTP server on a thread.

``/`` the page; ``/frame.mjpg`` and ``/mask.mjpg`` MJPEG streams (``multipart/x-mixed-replace``,
which browsers, VLC and OpenCV read); ``/frame.jpg`` and ``/mask.jpg`` the latest picture;
``/timeline.json`` the recent fractions.  With a token, every request must carry it
(``?token=...``, an ``Authorization: Bearer ...`` header or an ``X-Bgsub-Token`` header); the
page passes it on to the pictures and data it loads.
"""

from __future__ import annotations

import hmac
import html
import ipaddress
import json
import socket
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


class LiveServerError(ValueError):
    """A bad ``--serve`` address, a missing token, or a port that cannot be bound; the message
    is one line."""


def parse_address(spec) -> tuple[str, int]:
    """``PORT``, ``HOST:PORT`` or ``[IPv6]:PORT`` -> (host, port); the host defaults to
    127.0.0.1.  Port 0 asks the system for a free port."""
    s = str(spec).strip()
    host = "127.0.0.1"
    port_s = s
    if s.startswith("["):
        end = s.find("]")
        if end < 0 or not s[end + 1:].startswith(":"):
            raise LiveServerError(f"--serve {spec!r}: expected [IPv6]:PORT")
        host, port_s = s[1:end], s[end + 2:]
    elif ":" in s:
        host, port_s = s.rsplit(":", 1)
        if not host:
            host = "127.0.0.1"
    try:
        port = int(port_s)
        if not 0 <= port <= 65535:
            raise ValueError
    except ValueError:
        raise LiveServerError(f"--serve {spec!r}: expected PORT or HOST:PORT with a port "
                              f"from 0 to 65535") from None
    return host, port


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_serve(spec, token: str | None) -> tuple[str, int]:
    """Parse ``--serve`` and refuse, with one line, a host beyond this machine without a
    token.  Call it before any work; returns (host, port)."""
    host, port = parse_address(spec)
    if not is_loopback(host) and not token:
        raise LiveServerError(f"--serve {spec}: {host} can be reached from other machines; "
                              f"give --token TOKEN (or set BGSUB_TOKEN) to require it on "
                              f"every request")
    return host, port


class LiveServer:
    """Serves the live view of one run.

    ``start()`` binds and starts the server thread (raises :class:`LiveServerError` with one
    line when the address is bad or the port taken); ``publish(frame_bgr, mask, fraction,
    time)`` hands it the latest frame, from any one thread, at any rate: it only records the
    fraction and, at most ``max_fps`` times a second, a reference to the images, which a
    thread of the server encodes as JPEG; ``close()`` stops it (idempotent).  Also a context
    manager."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8080, token: str | None = None,
                 title: str = "bgsub", max_fps: float = 10.0, max_width: int = 960,
                 history: int = 3000, moving_threshold: float | None = None):
        self.host, self.port = host, int(port)
        if not is_loopback(host) and not token:
            raise LiveServerError(f"{host} can be reached from other machines: a token is "
                                  f"required (--token or BGSUB_TOKEN)")
        self.token = token or None
        self.title = title
        self.interval = 1.0 / max_fps if max_fps > 0 else 0.0
        self.max_width = int(max_width)
        self.threshold = moving_threshold
        self.zones = ()  # bgsub.motion.zones.Zone s drawn on the frame
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._timeline = deque(maxlen=int(history))
        self._pending = None  # (frame, mask) waiting for the encoder
        self._jpegs = {"frame": None, "mask": None}
        self._version = 0
        self._last_publish = 0.0
        self._frames = 0
        self._closed = False
        self._httpd = None
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "LiveServer":
        server = self

        class Handler(_Handler):
            live = server

        try:
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET

            class Server(ThreadingHTTPServer):
                address_family = family
                daemon_threads = True
                allow_reuse_address = True

                def handle_error(self, request, client_address):
                    import sys

                    if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
                        super().handle_error(request, client_address)  # a real bug: shown

            self._httpd = Server((self.host, self.port), Handler)
        except OSError as exc:
            why = exc.strerror or str(exc)
            if isinstance(exc, socket.gaierror):
                why = f"unknown host ({why})"
            raise LiveServerError(f"cannot serve on {self.host}:{self.port}: {why}") from None
        self.port = self._httpd.server_address[1]
        for target, name in ((self._httpd.serve_forever, "bgsub-live-http"),
                             (self._encode_loop, "bgsub-live-encoder")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if host in ("0.0.0.0", "[::]"):
            host = socket.gethostname()
        q = f"?token={quote(self.token)}" if self.token else ""
        return f"http://{host}:{self.port}/{q}"

    def close(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        for t in self._threads:
            t.join(timeout=5)

    def __enter__(self):
        return self.start() if self._httpd is None else self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ producer side
    def publish(self, frame_bgr, mask, fraction: float, time_s: float, result=None) -> None:
        """Record one frame (cheap: no encoding here; pictures at most ``max_fps`` a second).
        ``frame_bgr`` and ``mask`` must not be modified afterwards.  With ``result`` (a
        :class:`~bgsub.motion.MotionResult`), the frame shows its blobs' boxes and status,
        drawn on the encoder's thread."""
        now = time.monotonic()
        with self._lock:
            self._frames += 1
            self._timeline.append((round(float(time_s), 3), round(float(fraction), 6)))
            if now - self._last_publish < self.interval:
                return
            self._last_publish = now
            self._pending = (frame_bgr, mask, result, time_s)
            self._cond.notify_all()

    def _encode_loop(self):
        import cv2

        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                frame, mask, result, time_s = self._pending
                self._pending = None
            if result is not None and frame is not None:
                from bgsub.io.sinks import draw_overlay
                from bgsub.io.sources import timecode

                frame = draw_overlay(frame, result, f"{timecode(time_s)}  ", self.zones)
            out = {}
            for key, img in (("frame", frame), ("mask", mask)):
                if img is None:
                    continue
                h, w = img.shape[:2]
                if w > self.max_width:
                    img = cv2.resize(img, (self.max_width, round(h * self.max_width / w)),
                                     interpolation=cv2.INTER_AREA)
                ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])
                if ok:
                    out[key] = buf.tobytes()
            with self._cond:
                self._jpegs.update(out)
                self._version += 1
                self._cond.notify_all()

    # ------------------------------------------------------------------ consumer side
    def _wait_picture(self, key, seen):
        """The next picture after version ``seen``: (version, jpeg), or None when closed."""
        with self._cond:
            while not self._closed and (self._version == seen or self._jpegs[key] is None):
                self._cond.wait(timeout=1.0)
            if self._closed:
                return None
            return self._version, self._jpegs[key]

    def _latest(self, key):
        with self._lock:
            return self._jpegs[key]

    def _timeline_doc(self):
        with self._lock:
            pts = list(self._timeline)
            frames = self._frames
        return {"frames": frames, "threshold": self.threshold,
                "t": [p[0] for p in pts], "fraction": [p[1] for p in pts]}

    def _authorised(self, handler) -> bool:
        if self.token is None:
            return True
        q = parse_qs(urlsplit(handler.path).query).get("token", [""])[0]
        auth = handler.headers.get("Authorization", "")
        given = [q, handler.headers.get("X-Bgsub-Token", ""),
                 auth[7:] if auth.startswith("Bearer ") else ""]
        want = self.token.encode()
        return any(g and hmac.compare_digest(g.encode(), want) for g in given)


class _Handler(BaseHTTPRequestHandler):
    live: LiveServer
    protocol_version = "HTTP/1.1"
    server_version = "bgsub-live"

    def log_message(self, *args):  # quiet: the run's own output is on stderr
        pass

    def _send(self, code, body: bytes, ctype):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        live = self.live
        if not live._authorised(self):
            self._send(401, b"a valid token is required (?token=...)\n", "text/plain")
            return
        path = urlsplit(self.path).path
        if path in ("/", "/index.html"):
            self._send(200, _live_page(live).encode(), "text/html; charset=utf-8")
        elif path in ("/frame.mjpg", "/mask.mjpg"):
            self._stream(path[1:-5])
        elif path in ("/frame.jpg", "/mask.jpg"):
            jpg = live._latest(path[1:-4])
            if jpg is None:
                self._send(503, b"no picture yet\n", "text/plain")
            else:
                self._send(200, jpg, "image/jpeg")
        elif path == "/timeline.json":
            self._send(200, json.dumps(live._timeline_doc()).encode(), "application/json")
        else:
            self._send(404, b"not found\n", "text/plain")

    def _stream(self, key):
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        seen = -1
        try:
            while True:
                got = self.live._wait_picture(key, seen)
                if got is None:
                    return
                seen, jpg = got
                self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                 + str(len(jpg)).encode() + b"\r\n\r\n" + jpg + b"\r\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            return


def _live_page(live: LiveServer) -> str:
    from bgsub.report.run_report import CHECK_IMAGES

    q = f"?token={quote(live.token)}" if live.token else ""
    title = html.escape(live.title)
    q_attr = html.escape(q)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} (live)</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{{font:15px/1.4 system-ui,sans-serif;margin:0;padding:12px 20px;background:#111;color:#eee}}
h1{{font-size:20px;margin:4px 0 10px}}#state{{color:#9c9;font-size:14px;margin-left:10px}}
.row{{display:flex;flex-wrap:wrap;gap:12px}}.pane{{flex:1 1 420px;background:#000;
border:1px solid #333;border-radius:6px;padding:6px}}.pane h2{{font-size:14px;margin:0 0 4px;
color:#bbb;font-weight:normal}}img{{width:100%;height:auto;display:block;min-height:60px}}
canvas{{width:100%;height:200px;display:block;background:#fff;border-radius:6px;margin-top:12px}}
</style></head><body>
<h1>{title} <span id="state">connecting&hellip;</span></h1>
<div class="row">
<div class="pane"><h2>frame</h2><img id="frame" src="frame.jpg{q_attr}" alt="live frame"></div>
<div class="pane"><h2>foreground mask (white: moving)</h2><img id="mask" src="mask.jpg{q_attr}" alt="live mask"></div>
</div>
<canvas id="timeline" width="1200" height="200"></canvas>
<script>
var Q = {json.dumps(q)}, SEP = Q ? '&' : '?', N = 0;
// each picture is reloaded when the previous one has arrived (about 10 a second): works in
// every browser and never leaves the page loading; /frame.mjpg is there for other players
function refresh(id) {{
  var img = new Image();
  img.onload = function () {{ document.getElementById(id).src = img.src; setTimeout(function () {{ refresh(id); }}, 100); }};
  img.onerror = function () {{ setTimeout(function () {{ refresh(id); }}, 1000); }};
  img.src = id + '.jpg' + Q + SEP + 'n=' + (N++);
}}
window.addEventListener('load', function () {{ refresh('frame'); refresh('mask'); poll(); }});
function draw(d) {{
  var c = document.getElementById('timeline'), g = c.getContext('2d');
  var W = c.width, H = c.height, L = 60, R = 10, T = 14, B = 30;
  g.fillStyle = '#fff'; g.fillRect(0, 0, W, H);
  var t = d.t, f = d.fraction, n = t.length;
  var ymax = 0.005; for (var i = 0; i < n; i++) ymax = Math.max(ymax, f[i] * 1.1);
  if (d.threshold) ymax = Math.max(ymax, d.threshold * 2);
  var t0 = n ? t[0] : 0, t1 = n ? Math.max(t[n - 1], t0 + 1) : 1;
  function X(v) {{ return L + (v - t0) / (t1 - t0) * (W - L - R); }}
  function Y(v) {{ return H - B - v / ymax * (H - T - B); }}
  g.strokeStyle = '#ccc'; g.fillStyle = '#333'; g.font = '13px sans-serif';
  for (var k = 0; k <= 4; k++) {{
    var v = ymax * k / 4; g.beginPath(); g.moveTo(L, Y(v)); g.lineTo(W - R, Y(v)); g.stroke();
    g.fillText((v * 100).toFixed(v * 100 < 1 ? 2 : 1) + '%', 6, Y(v) + 4);
  }}
  g.fillText(t0.toFixed(1) + ' s', L, H - 8);
  g.fillText(t1.toFixed(1) + ' s', W - R - 60, H - 8);
  g.fillText('foreground fraction over time', L + 200, H - 8);
  if (d.threshold) {{
    g.strokeStyle = '#d55e00'; g.setLineDash([6, 4]); g.beginPath();
    g.moveTo(L, Y(d.threshold)); g.lineTo(W - R, Y(d.threshold)); g.stroke(); g.setLineDash([]);
  }}
  g.strokeStyle = '#0072b2'; g.lineWidth = 2; g.beginPath();
  for (var j = 0; j < n; j++) {{ if (j) g.lineTo(X(t[j]), Y(f[j])); else g.moveTo(X(t[j]), Y(f[j])); }}
  g.stroke(); g.lineWidth = 1;
  document.getElementById('state').textContent = d.frames + ' frames' +
    (n ? ', now ' + (f[n - 1] * 100).toFixed(2) + '% foreground at ' + t[n - 1].toFixed(1) + ' s' : '');
}}
function poll() {{
  fetch('timeline.json' + Q, {{cache: 'no-store'}}).then(function (r) {{ return r.json(); }})
    .then(function (d) {{ draw(d); setTimeout(poll, 500); }})
    .catch(function () {{ document.getElementById('state').textContent = 'disconnected';
                         setTimeout(poll, 2000); }});
}}
</script>
{CHECK_IMAGES}
</body></html>
"""
