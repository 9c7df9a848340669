"""``--mqtt mqtt://[USER@]HOST[:PORT]/PREFIX``: motion state and events on an MQTT broker,
through paho-mqtt (the optional extra ``bgsub[mqtt]``, imported only here).

Topics (``<name>`` is the input's name or ``--name``):

* ``PREFIX/<name>/motion``: ``ON`` at each event's start, ``OFF`` at its end (retained);
* ``PREFIX/<name>/event``: the webhook's JSON document at each start and end;
* ``PREFIX/<name>/camera``: the webhook's JSON document of each camera move, with
  ``"event_type": "camera_moved"`` (what Home Assistant's MQTT event entities read);
* ``PREFIX/<name>/availability``: ``online`` once connected, ``offline`` at the end of the run
  and as the last will (retained);
* with ``discovery``: Home Assistant's discovery config of a ``binary_sensor`` (device class
  motion) at ``homeassistant/binary_sensor/bgsub_<name>/motion/config`` and of an ``event``
  entity of the camera moves at ``homeassistant/event/bgsub_<name>/camera/config``
  (retained).

paho's own thread connects and reconnects with backoff; the run never waits for the broker.
While there is no connection an event message is counted as failed (not queued: a stale ON
would mislead), and the current motion state is published again on reconnection.
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from bgsub._version import __version__
from bgsub.notify.events import EventRecord, Notifier, NotifyError

EXTRA = 'pip install "bgsub[mqtt]"'
DISCOVERY_PREFIX = "homeassistant"
FIRST_CONNECT_WAIT = 2.0  # the first record waits at most this for the first connection try


class MqttError(ValueError):
    """A URL that cannot be a broker, or paho-mqtt missing (checked before the run starts)."""


@dataclass(frozen=True)
class BrokerUrl:
    host: str
    port: int
    prefix: str
    user: str | None
    tls: bool

    def __str__(self):
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}/{self.prefix}"


def _shown(url: str) -> str:
    """``url`` with a password in it replaced by ``***`` (error lines end up in logs)."""
    p = urlsplit(url)
    if p.password is None:
        return url
    userinfo, _, host = p.netloc.rpartition("@")
    return url.replace(p.netloc, f"{userinfo.split(':', 1)[0]}:***@{host}", 1)


def parse_url(url: str) -> BrokerUrl:
    p = urlsplit(url)
    form = "mqtt://[USER@]HOST[:PORT]/PREFIX or mqtts://..."
    url = _shown(url)
    if p.scheme not in ("mqtt", "mqtts") or not p.hostname:
        raise MqttError(f"--mqtt {url!r}: expected {form}")
    if p.password is not None:
        raise MqttError(f"--mqtt {url!r}: give the password in $BGSUB_MQTT_PASSWORD, "
                        f"not in the URL")
    try:
        port = p.port or (8883 if p.scheme == "mqtts" else 1883)
    except ValueError:
        raise MqttError(f"--mqtt {url!r}: bad port (expected {form})") from None
    prefix = p.path.strip("/") or "bgsub"
    if re.search(r"[+#\s]", prefix) or "//" in prefix or "#" in url or "?" in url:
        raise MqttError(f"--mqtt {url!r}: the topic prefix {prefix!r} may not hold '+', '#', "
                        f"spaces, empty levels or a query")
    return BrokerUrl(p.hostname, port, prefix, unquote(p.username) if p.username else None,
                     p.scheme == "mqtts")


def require_paho():
    try:
        import paho.mqtt.client as mqtt
    except ImportError:
        raise MqttError(f"--mqtt needs paho-mqtt: {EXTRA}") from None
    if not hasattr(mqtt, "CallbackAPIVersion"):
        raise MqttError(f"--mqtt needs paho-mqtt 2.0 or later: {EXTRA}")
    return mqtt


def topic_name(name: str) -> str:
    """``name`` made safe as one topic level (and a discovery object id)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "bgsub"


class MqttNotifier(Notifier):
    name = "mqtt"
    drain_seconds = 3.0

    def __init__(self, url: str, name: str, discovery: bool = False,
                 password: str | None = None):
        self.broker = parse_url(url)
        self.mqtt = require_paho()
        self.node = topic_name(name)
        self.display_name = name
        self.discovery = discovery
        self.password = os.environ.get("BGSUB_MQTT_PASSWORD") if password is None else password
        base = f"{self.broker.prefix}/{self.node}"
        self.t_motion, self.t_event = f"{base}/motion", f"{base}/event"
        self.t_camera = f"{base}/camera"
        self.t_avail = f"{base}/availability"
        self.state = "OFF"
        self.lock = threading.Lock()
        self.client = None
        self.first_try = threading.Event()  # the first connection made, or failed
        self.refused = None  # why the broker refused the last connection (bad password...)
        self.waited = False

    # ------------------------------------------------------------------ connection
    def start(self) -> None:
        mqtt = self.mqtt
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                        client_id=f"bgsub-{self.node}-{os.getpid()}-{id(self) & 0xffff:x}")
        if self.broker.user:
            c.username_pw_set(self.broker.user, self.password)
        if self.broker.tls:
            c.tls_set()
        c.will_set(self.t_avail, "offline", qos=1, retain=True)
        c.reconnect_delay_set(1, 10)
        c.on_connect = self._on_connect
        c.on_connect_fail = lambda client, userdata: self.first_try.set()
        self.client = c
        try:
            c.connect_async(self.broker.host, self.broker.port, keepalive=30)
        except (OSError, ValueError) as exc:
            raise NotifyError(f"mqtt {self.broker}: {exc}") from None
        c.loop_start()  # connects, and reconnects, on paho's thread

    def _on_connect(self, client, userdata, flags, reason_code, properties=None):
        if getattr(reason_code, "is_failure", False):
            self.refused = str(reason_code)
            self.first_try.set()
            return
        self.refused = None
        if self.discovery:
            for topic, config in self.discovery_configs().items():
                client.publish(topic, json.dumps(config), qos=1, retain=True)
        client.publish(self.t_avail, "online", qos=1, retain=True)
        with self.lock:
            state = self.state
        client.publish(self.t_motion, state, qos=1, retain=True)
        self.first_try.set()

    def discovery_configs(self) -> dict:
        """{topic: config} of Home Assistant's discovery: the motion ``binary_sensor`` (the
        event documents as its attributes) and the camera moves' ``event`` entity, one
        device."""
        uid = f"bgsub_{self.node}"
        common = {"availability_topic": self.t_avail, "payload_available": "online",
                  "payload_not_available": "offline",
                  "device": {"identifiers": [uid], "name": f"bgsub {self.display_name}",
                             "manufacturer": "bgsub", "model": "bgsub motion detector",
                             "sw_version": __version__}}
        return {
            f"{DISCOVERY_PREFIX}/binary_sensor/{uid}/motion/config": {
                "name": "Motion", "unique_id": f"{uid}_motion", "object_id": f"{uid}_motion",
                "device_class": "motion", "state_topic": self.t_motion,
                "payload_on": "ON", "payload_off": "OFF", "json_attributes_topic": self.t_event,
                **common},
            f"{DISCOVERY_PREFIX}/event/{uid}/camera/config": {
                "name": "Camera moved", "unique_id": f"{uid}_camera",
                "object_id": f"{uid}_camera", "icon": "mdi:cctv", "state_topic": self.t_camera,
                "event_types": ["camera_moved"], **common}}

    # ------------------------------------------------------------------ records
    def send(self, record: EventRecord) -> None:
        with self.lock:
            if record.type in ("start", "end"):  # a camera move leaves the motion state
                self.state = "ON" if record.type == "start" else "OFF"
            state = self.state
        if not self.waited:  # connecting takes a moment: an event at once is not lost
            self.waited = True
            self.first_try.wait(FIRST_CONNECT_WAIT)
        c = self.client
        if c is None or not c.is_connected():
            why = f" (it refused: {self.refused})" if self.refused else ""
            raise NotifyError(f"mqtt {self.broker}: no connection to the broker{why}; event "
                              f"messages are counted in the summary until it is back")
        if record.type == "camera_moved":  # its own topic: the motion state stays as it is
            doc = {"event_type": record.type, **record.payload()}
            infos = [c.publish(self.t_camera, json.dumps(doc), qos=1)]
        else:
            infos = [c.publish(self.t_event, json.dumps(record.payload()), qos=1),
                     c.publish(self.t_motion, state, qos=1, retain=True)]
        if any(i.rc != self.mqtt.MQTT_ERR_SUCCESS for i in infos):
            raise NotifyError(f"mqtt {self.broker}: publishing failed "
                              f"({self.mqtt.error_string(max(i.rc for i in infos))})")

    def close(self) -> None:
        c, self.client = self.client, None
        if c is None:
            return
        try:
            if c.is_connected():
                c.publish(self.t_avail, "offline", qos=1, retain=True).wait_for_publish(1.0)
            c.disconnect()
        except (OSError, ValueError, RuntimeError):
            pass
        c.loop_stop()
