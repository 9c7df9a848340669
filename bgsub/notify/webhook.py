"""``--webhook URL``: each event's start and end POSTed as JSON (:meth:`EventRecord.payload`),
with ``Authorization: Bearer $BGSUB_WEBHOOK_TOKEN`` when that variable is set.

Standard library only (urllib).  Connection errors and 5xx answers are retried with backoff
(:data:`RETRY_DELAYS`) while the receiver is believed up; once a record has failed, the next
ones get one try each until one gets through, so a dead receiver does not hold the queue.
"""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from bgsub._version import __version__
from bgsub.notify.events import EventRecord, Notifier, NotifyError

RETRY_DELAYS = (0.2, 0.4, 0.8)  # then it counts as failed (1.4 s in all, within the drain time)
TIMEOUT = 5.0  # seconds for one request


class WebhookError(ValueError):
    """A URL that cannot be a webhook (checked before the run starts)."""


def check_url(url: str) -> str:
    """``url`` if it can be POSTed to; :class:`WebhookError` otherwise (the message shows the
    URL without its query or credentials: tokens travel there)."""
    parts = urlsplit(url)
    shown = _redacted(url) if parts.netloc else url.split("?", 1)[0]
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError(f"--webhook {shown}: expected an http:// or https:// URL")
    try:
        parts.port
    except ValueError:
        raise WebhookError(f"--webhook {shown}: bad port") from None
    if parts.username is not None:  # urllib would take USER:PASS@HOST for the host name
        raise WebhookError(f"--webhook {shown}: credentials in the URL are not sent; give a "
                           f"bearer token in $BGSUB_WEBHOOK_TOKEN")
    return url


class WebhookNotifier(Notifier):
    name = "webhook"

    def __init__(self, url: str, token: str | None = None, timeout: float = TIMEOUT,
                 retry_delays=RETRY_DELAYS):
        self.url = check_url(url)
        self.token = os.environ.get("BGSUB_WEBHOOK_TOKEN") if token is None else token
        self.timeout = timeout
        self.retry_delays = tuple(retry_delays)
        self.down = False
        self.shown = _redacted(url)

    def send(self, record: EventRecord) -> None:
        body = json.dumps(record.payload()).encode()
        headers = {"Content-Type": "application/json", "User-Agent": f"bgsub/{__version__}"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        delays = () if self.down else self.retry_delays
        for attempt in range(len(delays) + 1):
            retry, why = self._post(body, headers)
            if why is None:
                self.down = False
                return
            if not retry or attempt == len(delays):
                break
            time.sleep(delays[attempt])
        self.down = True
        raise NotifyError(f"webhook {self.shown}: {why}; event messages are counted in the "
                          f"summary until it answers")

    def _post(self, body, headers):
        """(retry?, None on success or why it failed)"""
        req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                resp.read()
            return False, None
        except urllib.error.HTTPError as exc:
            return exc.code >= 500, f"answered {exc.code} {exc.reason}"
        except (TimeoutError, socket.timeout):
            return False, f"no answer within {self.timeout:g} s"
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, (TimeoutError, socket.timeout)):
                return False, f"no answer within {self.timeout:g} s"
            return True, str(getattr(reason, "strerror", None) or reason)
        except (ConnectionError, OSError) as exc:
            return True, str(exc.strerror or exc)


def _redacted(url: str) -> str:
    """The URL without a password or query (tokens sometimes travel there)."""
    p = urlsplit(url)
    host = p.hostname or ""
    try:
        if p.port:
            host += f":{p.port}"
    except ValueError:  # a bad port is shown as given
        host = p.netloc.rpartition("@")[2]
    return f"{p.scheme}://{host}{p.path}"
