"""Notifiers: motion events sent to the rest of the house as they happen.

* :mod:`bgsub.notify.hooks`: ``--on-event-start`` / ``--on-event-end`` /
  ``--on-camera-moved`` commands;
* :mod:`bgsub.notify.webhook`: ``--webhook URL`` (JSON POSTs, standard library);
* :mod:`bgsub.notify.mqtt`: ``--mqtt URL`` (paho-mqtt, the optional extra ``bgsub[mqtt]``);
* :mod:`bgsub.notify.events`: the event record and the :class:`Dispatcher` that delivers it
  from bounded queues, each notifier on a thread of its own, off the frame path.
"""

from __future__ import annotations

from contextlib import contextmanager

from bgsub.notify.events import Dispatcher, EventRecord, Notifier, NotifyError


class NotifyConfigError(ValueError):
    """A notifier option that cannot work; the message is the one-line error."""


def make_notifiers(opts, name: str) -> list[Notifier]:
    """The notifiers ``opts`` (a :class:`~bgsub.pipeline.run.RunOptions`) asks for, checked:
    :class:`NotifyConfigError` naming the option otherwise.  Each notifier's module is imported
    only when asked for (the webhook's HTTP client alone takes 24 ms of a run's start)."""
    out = []
    if opts.on_event_start or opts.on_event_end:
        from bgsub.notify.hooks import HookError, HookNotifier

        with _config_errors(HookError):
            if opts.on_event_start:
                out.append(HookNotifier("start", opts.on_event_start, opts.hook_timeout))
            if opts.on_event_end:
                out.append(HookNotifier("end", opts.on_event_end, opts.hook_timeout))
    if opts.on_camera_moved:
        from bgsub.notify.hooks import HookError, HookNotifier

        with _config_errors(HookError):
            out.append(HookNotifier("camera_moved", opts.on_camera_moved, opts.hook_timeout))
    if opts.webhook:
        from bgsub.notify.webhook import WebhookError, WebhookNotifier

        with _config_errors(WebhookError):
            out.append(WebhookNotifier(opts.webhook))
    if opts.mqtt:
        from bgsub.notify.mqtt import MqttError, MqttNotifier

        with _config_errors(MqttError):
            out.append(MqttNotifier(opts.mqtt, name, discovery=opts.mqtt_discovery))
    elif opts.mqtt_discovery:
        raise NotifyConfigError("--mqtt-discovery needs --mqtt URL")
    return out


@contextmanager
def _config_errors(kind):
    """A notifier's own configuration error as a :class:`NotifyConfigError`."""
    try:
        yield
    except kind as exc:
        raise NotifyConfigError(str(exc)) from None


def check_options(opts) -> None:
    """Every notifier option of ``opts`` checked before any work (nothing is started)."""
    make_notifiers(opts, opts.name or "check")


__all__ = ["Dispatcher", "EventRecord", "Notifier", "NotifyError", "NotifyConfigError",
           "make_notifiers", "check_options"]
