"""Evaluates every rule, keeps each instance's state in the store, and hands due notifications to the
Notifier. `step(now_ms)` is one evaluation of every rule at an explicit time (tests drive it with a
simulated clock); EvaluationLoop calls it on an interval inside `swarmscope serve`.

State survives a restart: on its first step an evaluator reads the stored state, including when each
instance was last notified, so a firing alert stays firing and is not sent again before its repeat
interval, and one that resolved while the server was down is still announced as resolved.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace

from swarmscope.schema.times import now_ms

from . import store as alert_store
from .conditions import Conditions
from .notify import Delivery, Notification, Notifier, fingerprint
from .rules import AlertConfig, Rule
from .state import (
    ERROR,
    FIRING,
    INACTIVE,
    NODATA,
    OK,
    PENDING,
    RESOLVED,
    Instance,
    advance,
    due_notification,
    notified,
)

log = logging.getLogger("swarmscope.alerts")

RESOLVED_SHOWN_MS = 3_600_000  # a resolved instance stays listed (and in memory) this long


@dataclass
class RuleHealth:
    health: str = OK  # ok | nodata | error
    error: str = ""
    last_eval_ms: int | None = None
    duration_ms: float | None = None


class Evaluator:
    def __init__(self, store, config: AlertConfig, notifier: Notifier | None = None,
                 clock: Callable[[], int] = now_ms) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.conditions = Conditions(store)
        self.notifier = notifier
        self.instances: dict[tuple[str, str], Instance] = {}
        self.health: dict[str, RuleHealth] = {r.name: RuleHealth() for r in config.rules}
        self.steps = 0
        self.last_duration_s: float | None = None
        self._loaded = False
        self._lock = threading.Lock()

    # ---- one evaluation of every rule ---------------------------------------------------------

    def step(self, now_ms: int | None = None) -> None:
        with self._lock:
            started = time.perf_counter()
            now = self.clock() if now_ms is None else now_ms
            if not self._loaded:
                self._load(now)
            for rule in self.config.rules:
                self._evaluate(rule, now)
            self.steps += 1
            self.last_duration_s = time.perf_counter() - started

    def _load(self, now_ms: int) -> None:
        instances, health = alert_store.load(self.store)
        known = {r.name for r in self.config.rules}
        for key, instance in instances.items():
            if key[0] in known and instance.state != INACTIVE and not self._expired(instance, now_ms):
                self.instances[key] = instance
        for name, (state, error) in health.items():
            if name in self.health:
                self.health[name] = RuleHealth(state, error)
        self._loaded = True

    @staticmethod
    def _expired(instance: Instance, now_ms: int) -> bool:
        return (instance.state == RESOLVED and instance.notified_state != FIRING
                and now_ms - (instance.resolved_at_ms or now_ms) > RESOLVED_SHOWN_MS)

    def _evaluate(self, rule: Rule, now: int) -> None:
        started = time.perf_counter()
        try:
            evaluation = self.conditions.evaluate(rule, now)
        except Exception as exc:  # one broken rule must not stop the others; its instances keep their state
            log.warning("alert rule %s failed to evaluate: %s", rule.name, exc)
            self._set_health(rule, ERROR, f"{type(exc).__name__}: {exc}"[:2000], now, started)
            return
        self._set_health(rule, OK if evaluation.has_data else NODATA, "", now, started)
        present = {fingerprint(s.labels): s for s in evaluation.samples}
        mine = {fp: i for (name, fp), i in self.instances.items() if name == rule.name}
        receivers = self.config.receivers_for(rule)
        repeat_s = self.config.repeat_interval_s if rule.repeat_interval_s is None else rule.repeat_interval_s
        writes, transitions, due = [], [], []
        for fp in present.keys() | mine.keys():
            sample = present.get(fp)
            before = mine.get(fp) or Instance(rule.name, fp, sample.labels if sample else {})
            after = advance(before, sample, now, rule.for_s, rule.keep_firing_for_s)
            status = due_notification(after, now, repeat_s)
            if status is not None and receivers:
                after = notified(after, status, now)
                due.append(after)
            elif status == RESOLVED:  # nobody to tell: it is done
                after = notified(after, RESOLVED, now)
            if after.state != before.state:
                transitions.append((before, after))
            # live instances are written every step (last true / last eval times survive a restart)
            if after.state in (PENDING, FIRING) or _changed(before, after):
                writes.append(after)
            if after.state == INACTIVE or self._expired(after, now):
                self.instances.pop((rule.name, fp), None)
            else:
                self.instances[(rule.name, fp)] = after
        # Enqueued before the state is saved: if the store fails now, the alert may be sent again
        # after a restart, never lost.
        if due and self.notifier is not None:
            self._notify(rule, due, receivers, now, repeat_s)
        alert_store.save_instances(self.store, writes)
        alert_store.save_transitions(self.store, transitions, now)

    def _notify(self, rule: Rule, alerts: list[Instance], receivers, now: int, repeat_s: float) -> None:
        status = FIRING if any(a.state == FIRING for a in alerts) else RESOLVED
        for receiver in receivers:
            self.notifier.enqueue(Notification(receiver, rule.name, status, alerts, self.config.external_url,
                                               now, resend_s=repeat_s))

    def _set_health(self, rule: Rule, health: str, error: str, now: int, started: float) -> None:
        previous = self.health.get(rule.name)
        if previous is None or (previous.health, previous.error) != (health, error):
            alert_store.save_health(self.store, rule.name, health, error, now)
        self.health[rule.name] = RuleHealth(health, error, now, (time.perf_counter() - started) * 1000)

    # ---- reading -----------------------------------------------------------------------------

    # Readers run on other threads while a step rewrites the dicts: they copy first (one C-level
    # call, atomic under the GIL) instead of waiting on the step's lock for a whole evaluation.
    def state_counts(self) -> Counter[str]:
        return Counter(i.state for i in list(self.instances.values()))

    def snapshot(self) -> dict:
        """Rules with their health and instances, for /api/alerts."""
        rules, current, health = [], list(self.instances.items()), dict(self.health)
        for rule in self.config.rules:
            h = health.get(rule.name, RuleHealth())
            instances = sorted((i for (name, _), i in current if name == rule.name),
                               key=lambda i: (i.state != FIRING, i.fingerprint))
            states = Counter(i.state for i in instances)
            rules.append({**rule.to_dict(), "health": h.health, "error": h.error,
                          "last_eval_ms": h.last_eval_ms, "eval_duration_ms": h.duration_ms,
                          "state": FIRING if states[FIRING] else PENDING if states[PENDING] else INACTIVE,
                          "instances": [i.to_dict() for i in instances]})
        receivers = [{"name": r.name, "type": r.type} for r in self.config.receivers]
        return {"rules": rules, "receivers": receivers}

    def log_delivery(self, delivery: Delivery) -> None:
        """Record one delivery attempt (called by the Notifier's thread)."""
        receiver = next((r for r in self.config.receivers if r.name == delivery.receiver), None)
        alert_store.log_delivery(
            self.store, at_ms=self.clock(), Receiver=delivery.receiver,
            ReceiverType=receiver.type if receiver else "", Rule=delivery.rule, Status=delivery.status,
            Alerts=0, Attempt=delivery.attempt, Result=delivery.result, HttpStatus=delivery.http_status,
            Error=delivery.error, DurationMs=delivery.duration_ms)

    def close(self) -> None:
        self.conditions.close()


def _changed(before: Instance, after: Instance) -> bool:
    return replace(after, last_eval_ms=0) != replace(before, last_eval_ms=0)


class EvaluationLoop:
    """Evaluates every `config.interval_s` seconds on a daemon thread; notifications go out on the
    Notifier's own thread."""

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> EvaluationLoop:
        if self.evaluator.notifier is not None:
            self.evaluator.notifier.start()
        self._thread = threading.Thread(target=self._run, name="swarmscope-alerts", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        interval = self.evaluator.config.interval_s
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.evaluator.step()
                self.last_error = None
            except Exception as exc:  # the store may be back next time
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("alert evaluation failed")
            self._stop.wait(max(0.0, interval - (time.monotonic() - started)))

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.evaluator.notifier is not None:
            self.evaluator.notifier.stop()
        self.evaluator.close()


def build(store, config: AlertConfig, clock: Callable[[], int] = now_ms,
          **notifier_options) -> Evaluator:
    """An evaluator whose notifier logs every delivery attempt to the store."""
    evaluator = Evaluator(store, config, clock=clock)
    evaluator.notifier = Notifier(log_delivery=evaluator.log_delivery, **notifier_options)
    return evaluator
