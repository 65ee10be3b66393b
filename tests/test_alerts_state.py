"""The alert lifecycle as pure functions: inactive -> pending -> firing -> resolved, keep_firing_for,
and which notification is due (including the repeat interval)."""

from __future__ import annotations

from swarmscope.alerts.notify import fingerprint
from swarmscope.alerts.state import (
    FIRING,
    INACTIVE,
    PENDING,
    RESOLVED,
    Instance,
    Sample,
    advance,
    due_notification,
    notified,
)

MIN = 60_000
HOLDS = Sample({"alertname": "a"}, 1.0)


def run(steps: list[bool], for_s: float = 0, keep_s: float = 0) -> list[str]:
    instance, states = Instance("a", "fp", {"alertname": "a"}), []
    for minute, holds in enumerate(steps):
        instance = advance(instance, HOLDS if holds else None, minute * MIN, for_s, keep_s)
        states.append(instance.state)
    return states


def test_for_keeps_an_alert_pending_until_the_condition_held_that_long():
    assert run([True, True, True, True], for_s=120) == [PENDING, PENDING, FIRING, FIRING]
    assert run([True, False, True], for_s=120) == [PENDING, INACTIVE, PENDING]
    assert run([True, False, False], for_s=0) == [FIRING, RESOLVED, RESOLVED]


def test_keep_firing_for_damps_flapping():
    assert run([True, False, True, False, False, False], keep_s=120) == [
        FIRING, FIRING, FIRING, FIRING, RESOLVED, RESOLVED]


def test_a_resolved_alert_that_comes_back_starts_over():
    states = run([True, False, True], for_s=60)
    assert states == [PENDING, INACTIVE, PENDING]
    assert run([True, False, True, True], for_s=0) == [FIRING, RESOLVED, FIRING, FIRING]


def test_notifications_once_then_on_the_repeat_interval_then_resolved():
    firing = advance(Instance("a", "fp", {}), HOLDS, 0, 0, 0)
    assert due_notification(firing, 0, 3600) == FIRING
    sent = notified(firing, FIRING, 0)
    assert due_notification(sent, 59 * MIN, 3600) is None
    assert due_notification(sent, 60 * MIN, 3600) == FIRING
    resolved = advance(sent, None, 61 * MIN, 0, 0)
    assert due_notification(resolved, 61 * MIN, 3600) == RESOLVED
    assert due_notification(notified(resolved, RESOLVED, 61 * MIN), 62 * MIN, 3600) is None
    pending = advance(Instance("a", "fp", {}), HOLDS, 0, 60, 0)
    assert due_notification(pending, 0, 3600) is None
    # an alert that never fired resolves silently
    assert due_notification(advance(pending, None, MIN, 60, 0), MIN, 3600) is None


def test_fingerprint_is_prometheus_label_set_fingerprint():
    # Values from prometheus/common model: LabelSet{}.Fingerprint() is the FNV-1a offset basis, and
    # the fingerprint does not depend on label order.
    assert fingerprint({}) == "cbf29ce484222325"
    # prometheus/common model/signature_test.go: LabelsToSignature, the same hash as the fingerprint
    labels = {"name": "garland, briggs", "fear": "love is not enough"}
    assert int(fingerprint(labels), 16) == 5799056148416392346
    assert fingerprint({"a": "1", "b": "2"}) == fingerprint({"b": "2", "a": "1"})
    assert fingerprint({"a": "1"}) != fingerprint({"a": "2"})
    assert len(fingerprint({"alertname": "x"})) == 16
