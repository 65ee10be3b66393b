"""Notifications: Alertmanager's webhook body (version 4), Slack incoming-webhook messages, and posts to
an Alertmanager's `/api/v2/alerts`; delivered by a thread of their own, retried with backoff, logged.

The evaluator only enqueues (a bounded queue; when it is full the oldest message is dropped and logged),
so a slow or failing receiver never holds up evaluation, detection or ingest.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .rules import Receiver
from .state import FIRING, RESOLVED, Instance

log = logging.getLogger("swarmscope.alerts")

MAX_ALERTS_PER_MESSAGE = 100  # more go uncounted in `truncatedAlerts`, as Alertmanager does
ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt of an alert still firing
_FNV_OFFSET, _FNV_PRIME, _SEPARATOR = 14695981039346656037, 1099511628211, 0xFF


def fingerprint(labels: dict[str, str]) -> str:
    """Prometheus' label-set fingerprint (FNV-1a 64 over sorted name, 0xff, value, 0xff), 16 hex
    digits: the same alert has the same fingerprint here and in Alertmanager."""
    h = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name.encode(), labels[name].encode()):
            for byte in (*part, _SEPARATOR):
                h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def rfc3339(ms: int | None) -> str:
    if ms is None:
        return ZERO_TIME
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Notification:
    receiver: Receiver
    rule: str
    status: str  # "firing" or "resolved": the group's status
    alerts: list[Instance]
    external_url: str
    created_ms: int
    resend_s: float = 3600.0  # Alertmanager API: a firing alert's endsAt is 4x this ahead
    attempts: int = 0


def _generator_url(n: Notification, instance: Instance) -> str:
    return n.external_url + (instance.link or "/alerts")


def _alert_status(instance: Instance) -> str:
    return RESOLVED if instance.state == RESOLVED else FIRING


def _common(maps: list[dict[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    return {k: v for k, v in maps[0].items() if all(m.get(k) == v for m in maps[1:])}


def webhook_body(n: Notification) -> dict[str, Any]:
    """Alertmanager's webhook payload, version 4 (prometheus.io/docs/alerting/latest/configuration/
    #webhook_config)."""
    shown = n.alerts[:MAX_ALERTS_PER_MESSAGE]
    alerts = [{
        "status": _alert_status(i),
        "labels": i.labels,
        "annotations": i.annotations,
        "startsAt": rfc3339(i.fired_at_ms or i.active_at_ms),
        "endsAt": rfc3339(i.resolved_at_ms) if i.state == RESOLVED else ZERO_TIME,
        "generatorURL": _generator_url(n, i),
        "fingerprint": i.fingerprint,
    } for i in shown]
    return {
        "version": "4",
        # the route's matchers ({}: the root route) and the group labels; rule names are plain names
        "groupKey": '{}:{alertname="' + n.rule + '"}',
        "truncatedAlerts": len(n.alerts) - len(shown),
        "status": n.status,
        "receiver": n.receiver.name,
        "groupLabels": {"alertname": n.rule},
        "commonLabels": _common([i.labels for i in shown]),
        "commonAnnotations": _common([i.annotations for i in shown]),
        "externalURL": n.external_url,
        "alerts": alerts,
    }


def alertmanager_body(n: Notification) -> list[dict[str, Any]]:
    """POST /api/v2/alerts: postableAlerts. A firing alert ends by itself 4 resend intervals ahead
    unless sent again (what Prometheus does); a resolved one ends when it resolved."""
    ahead_ms = n.created_ms + int(4 * n.resend_s * 1000)
    return [{
        "labels": i.labels,
        "annotations": i.annotations,
        "startsAt": rfc3339(i.fired_at_ms or i.active_at_ms or n.created_ms),
        "endsAt": rfc3339(i.resolved_at_ms if i.state == RESOLVED else ahead_ms),
        "generatorURL": _generator_url(n, i),
    } for i in n.alerts]


def _slack_escape(text: str) -> str:
    """Slack's three control characters; labels and summaries come from span content."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(n: Notification) -> dict[str, Any]:
    firing = sum(1 for i in n.alerts if i.state != RESOLVED)
    title = f"[{n.status.upper()}:{firing if n.status == FIRING else len(n.alerts)}] {_slack_escape(n.rule)}"
    lines = []
    for i in n.alerts[:MAX_ALERTS_PER_MESSAGE]:
        summary = i.annotations.get("summary") or ", ".join(f"{k}={v}" for k, v in i.labels.items())
        lines.append(f"• {_slack_escape(summary)} (<{_generator_url(n, i)}|open>)")
    if len(n.alerts) > MAX_ALERTS_PER_MESSAGE:
        lines.append(f"… and {len(n.alerts) - MAX_ALERTS_PER_MESSAGE} more")
    return {
        "text": title,
        "attachments": [{"color": "danger" if n.status == FIRING else "good", "title": title,
                         "text": "\n".join(lines), "mrkdwn_in": ["text"]}],
    }


BODIES: dict[str, Callable[[Notification], Any]] = {
    "webhook": webhook_body, "slack": slack_body, "alertmanager": alertmanager_body,
}


def _url(receiver: Receiver) -> str:
    if receiver.type == "alertmanager":
        return receiver.url.rstrip("/") + "/api/v2/alerts"
    return receiver.url


def post(receiver: Receiver, body: Any, timeout: float = 10.0) -> int:
    """POST the JSON body; the HTTP status (an HTTPError's too). Network errors raise OSError."""
    request = urllib.request.Request(
        _url(receiver), data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "swarmscope-alerts",
                 **receiver.headers})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@dataclass
class RetryPolicy:
    attempts: int = 5
    first_delay_s: float = 1.0
    max_delay_s: float = 60.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1, 2, 4, ... capped)."""
        return min(self.max_delay_s, self.first_delay_s * 2 ** (attempt - 1))


@dataclass
class Delivery:
    receiver: str
    rule: str
    status: str
    attempt: int
    result: str  # ok | retry | failed | dropped
    http_status: int = 0
    error: str = ""
    duration_ms: float = 0.0


class Notifier:
    """Delivers notifications on its own thread. `log_delivery(Delivery)` records each attempt (the
    evaluator writes them to the store); `sleep(seconds)` waits between retries (tests pass one that
    records instead of waiting; by default it is the stop event, so stop() cuts a wait short)."""

    def __init__(self, log_delivery: Callable[[Delivery], None] | None = None,
                 retry: RetryPolicy | None = None, sleep: Callable[[float], Any] | None = None,
                 max_queue: int = 1000, timeout_s: float = 10.0) -> None:
        self._queue: queue.Queue[Notification | None] = queue.Queue()
        self._log_delivery = log_delivery or (lambda d: None)
        self.retry = retry or RetryPolicy()
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait
        self.max_queue = max_queue
        self.timeout_s = timeout_s
        self.results: Counter[tuple[str, str]] = Counter()  # (receiver, result) -> count
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> Notifier:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="swarmscope-notify", daemon=True)
                self._thread.start()
        return self

    def enqueue(self, notification: Notification) -> None:
        """Never blocks: past `max_queue` waiting messages the oldest is dropped (and logged)."""
        while self._queue.qsize() >= self.max_queue:
            try:
                old = self._queue.get_nowait()
            except queue.Empty:
                break
            if old is not None:
                self._record(old, Delivery(old.receiver.name, old.rule, old.status, old.attempts, "dropped",
                                           error="delivery queue full"))
            self._queue.task_done()
        self._queue.put(notification)

    def wait_idle(self, timeout: float) -> bool:
        """True once every enqueued notification is delivered or given up on."""
        with self._queue.all_tasks_done:
            return self._queue.all_tasks_done.wait_for(lambda: self._queue.unfinished_tasks == 0, timeout)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    def deliver(self, n: Notification) -> Delivery:
        """Every attempt for one notification, on the calling thread; the last attempt's outcome."""
        body = BODIES[n.receiver.type](n)
        while True:
            n.attempts += 1
            started = time.perf_counter()
            try:
                status, error = post(n.receiver, body, self.timeout_s), ""
            except OSError as exc:
                status, error = 0, f"{type(exc).__name__}: {exc}"
            ok = 200 <= status < 300
            final = ok or n.attempts >= self.retry.attempts or self._stop.is_set()
            if not ok and not error:
                error = f"HTTP {status}"
            result = "ok" if ok else ("failed" if final else "retry")
            delivery = Delivery(n.receiver.name, n.rule, n.status, n.attempts, result, status, error,
                                (time.perf_counter() - started) * 1000)
            self._record(n, delivery)
            if final:
                if not ok:
                    log.warning("notification %s/%s to %s failed after %d attempts: %s", n.rule, n.status,
                                n.receiver.name, n.attempts, error)
                return delivery
            self._sleep(self.retry.delay(n.attempts))

    def _record(self, n: Notification, delivery: Delivery) -> None:
        self.results[(delivery.receiver, delivery.result)] += 1
        try:
            self._log_delivery(delivery)
        except Exception:  # the log is best effort; the delivery itself already happened
            log.exception("could not log a delivery of %s", n.rule)

    def _run(self) -> None:
        while True:
            n = self._queue.get()
            try:
                if n is None:
                    return
                self.deliver(n)
            except Exception:
                log.exception("notification %s failed", n.rule if n else "?")
            finally:
                self._queue.task_done()
