"""Notifications: one JSON event per happening, POSTed to every `--notify URL`, never in a reconcile's way.

    Daemon ── emit(event) ──▶ per receiver: a bounded queue ──▶ its own sender thread ── POST ──▶ URL
               (never blocks: a full queue drops the event          (retries with backoff on connection
                and counts it)                                       errors, 429 and 5xx; then drops it
                                                                     and counts it)

Each receiver has its own queue and thread, so a dead or hanging receiver delays only its own
events. An event is a JSON object with `event` (drift_found, apply_done, apply_failed,
commit_rejected, enterprise_suspended, enterprise_resumed), `enterprise`, `commit`, `time`, the
facts of the happening, and a Slack-compatible `text` (Slack's incoming webhooks show it as is; other
receivers read the fields). A receiver URL can hold a secret (Slack's do): it is never logged or shown;
metrics and logs name the receiver by scheme and host only.
"""

from __future__ import annotations

import datetime as dt
import json
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from controller.daemon.metrics import Metrics
from controller.logs import get_logger

QUEUE_SIZE = 1000  # events waiting per receiver; past it new events are dropped (and counted)
ATTEMPTS = 4       # per event: the first try and three retries
BACKOFF = 0.5      # seconds before the first retry, doubling
TIMEOUT = 5.0      # seconds per HTTP attempt
EVENTS = ("drift_found", "apply_done", "apply_failed", "commit_rejected", "enterprise_suspended",
          "enterprise_resumed")


def receiver_name(url: str) -> str:
    """scheme://host[:port] of a receiver: what logs and metrics may say about it (no path, no user)."""
    u = urlsplit(url)
    host = u.hostname or "?"
    return f"{u.scheme}://{host}" + (f":{u.port}" if u.port else "")


def slack_escape(text: str) -> str:
    """Slack's mrkdwn reserves &, < and > (https://api.slack.com/reference/surfaces/formatting)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Retryable(Exception):
    pass


@dataclass
class Receiver:
    url: str
    name: str
    queue: queue.Queue[dict[str, Any] | None]
    thread: threading.Thread | None = None


class Notifier:
    def __init__(self, urls: Iterable[str], metrics: Metrics, queue_size: int = QUEUE_SIZE,
                 attempts: int = ATTEMPTS, backoff: float = BACKOFF, timeout: float = TIMEOUT):
        self.metrics = metrics
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.timeout = timeout
        self.log = get_logger(component="notify")
        self._stop = threading.Event()
        self.receivers = [Receiver(u, receiver_name(u), queue.Queue(maxsize=queue_size)) for u in urls]
        for r in self.receivers:
            for outcome in ("sent",):
                metrics.notifications.labels(r.name, outcome)
            for reason in ("queue_full", "undeliverable"):
                metrics.notifications_dropped.labels(r.name, reason)

    def __bool__(self) -> bool:
        return bool(self.receivers)

    def start(self) -> None:
        for i, r in enumerate(self.receivers):
            r.thread = threading.Thread(target=self._run, args=(r,), name=f"notify-{i}", daemon=True)
            r.thread.start()

    def emit(self, event: str, text: str, enterprise: str | None = None, commit: str | None = None,
             **facts: Any) -> None:
        """Queue one event for every receiver; never blocks, never raises."""
        if not self.receivers:
            return
        body = {"event": event, "enterprise": enterprise, "commit": commit, "time": now_iso(),
                "text": text, **facts}
        for r in self.receivers:
            try:
                r.queue.put_nowait(body)
            except queue.Full:
                self.metrics.notifications_dropped.labels(r.name, "queue_full").inc()
                self.log.warning("notification_dropped", receiver=r.name, event_type=event, reason="queue_full")

    def stop(self, timeout: float = 2.0) -> None:
        """Deliver what is queued for up to `timeout` seconds, then give up on the rest."""
        deadline = time.monotonic() + timeout
        for r in self.receivers:
            try:
                r.queue.put_nowait(None)
            except queue.Full:
                pass
        for r in self.receivers:
            if r.thread is not None:
                r.thread.join(max(0.0, deadline - time.monotonic()))
        self._stop.set()

    # -- one receiver

    def _run(self, r: Receiver) -> None:
        while True:
            event = r.queue.get()
            if event is None:
                return
            self._deliver(r, event)

    def _deliver(self, r: Receiver, event: dict[str, Any]) -> None:
        data = json.dumps(event, default=str).encode()
        delay = self.backoff
        last = ""
        for attempt in range(1, self.attempts + 1):
            try:
                self._post(r.url, data)
                self.metrics.notifications.labels(r.name, "sent").inc()
                return
            except Retryable as e:
                last = str(e)
            except urllib.error.HTTPError as e:  # 4xx but 429: the receiver refuses this event
                last = f"HTTP {e.code}"
                break
            if attempt < self.attempts:
                self.metrics.notification_retries.labels(r.name).inc()
                if self._stop.wait(delay):
                    break
                delay *= 2
        self.metrics.notifications_dropped.labels(r.name, "undeliverable").inc()
        self.log.warning("notification_dropped", receiver=r.name, event_type=event.get("event"),
                         reason="undeliverable", error=last)

    def _post(self, url: str, data: bytes) -> None:
        req = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "User-Agent": "controller-daemon"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                resp.read(1 << 16)
        except urllib.error.HTTPError as e:
            if e.code == 429 or e.code >= 500:
                raise Retryable(f"HTTP {e.code}") from None
            raise
        except (OSError, ValueError) as e:  # refused, reset, timed out, DNS
            raise Retryable(f"{type(e).__name__}: {e}") from None
