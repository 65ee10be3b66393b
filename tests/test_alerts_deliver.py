"""Alerts end to end on a real embedded store and a real local HTTP receiver: a planted four-agent
deadlock notifies within two evaluation steps and resolves when the waits end; a receiver answering
500 is retried with backoff and logged, off the evaluation path; a restart neither re-notifies early
nor forgets a firing alert. The evaluator runs on explicit steps of a simulated clock."""

from __future__ import annotations

import threading

import pytest
from alerts_helpers import MIN, Clock, Receiver, config, evaluator, plant_deadlock, settle
from scenarios import detect
from swarmscope.alerts import store as alert_store

DEADLOCK_RULE = {
    "name": "SwarmDeadlocked", "kind": "finding", "finding_kind": "deadlock", "min_severity": "error",
    "for": "30s", "labels": {"severity": "page", "team": "agents"},
    "annotations": {"summary": "Deadlock in run {run_id}: {summary}", "runbook_url": "https://runbooks.test/dl"},
}
STEP = 30_000  # the evaluation interval of these tests


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_deadlock_notifies_within_two_steps_and_resolves_when_the_waits_end(store, receiver):
    clock = Clock(1_800_000_000_000)
    ev = evaluator(store, config(receiver, DEADLOCK_RULE), clock)
    ev.step()
    assert ev.health["SwarmDeadlocked"].health == "ok" and ev.instances == {}

    sc, waits = plant_deadlock(store)
    assert [f.kind for f in detect(store)] == ["deadlock"]
    ev.step(clock.advance(STEP))  # pending: `for` is 30 s
    settle(ev)
    assert receiver.bodies() == []
    ev.step(clock.advance(STEP))  # second step after the deadlock: firing, notified
    settle(ev)
    [firing] = receiver.bodies()
    assert firing["status"] == "firing" and firing["receiver"] == "hook"
    [alert] = firing["alerts"]
    assert alert["labels"]["alertname"] == "SwarmDeadlocked" and alert["labels"]["run_id"] == "run-ring"
    assert alert["labels"]["finding_kind"] == "deadlock" and alert["labels"]["severity"] == "page"
    assert alert["annotations"]["summary"].startswith("Deadlock in run run-ring: ")
    assert "coder -> tester -> docs -> planner -> coder" in alert["annotations"]["summary"]
    assert alert["generatorURL"] == "http://swarmscope.test:4318/runs/run-ring"

    ev.step(clock.advance(STEP))  # still firing: nothing new before the repeat interval
    settle(ev)
    assert len(receiver.received) == 1

    for wait in waits.values():
        sc.finish(wait, end=0)
    sc.insert(store)
    assert detect(store) == []
    ev.step(clock.advance(STEP))
    settle(ev)
    resolved = receiver.bodies()[1]
    assert resolved["status"] == "resolved"
    assert resolved["alerts"][0]["status"] == "resolved"
    assert resolved["alerts"][0]["fingerprint"] == alert["fingerprint"]
    assert resolved["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"
    history = reversed(alert_store.history(store, "SwarmDeadlocked"))
    assert [(h["from_state"], h["to_state"]) for h in history] == [
        ("inactive", "pending"), ("pending", "firing"), ("firing", "resolved")]
    ev.step(clock.advance(STEP))
    settle(ev)
    assert len(receiver.received) == 2  # resolved is said once


def deadlock_through(store, receiver: Receiver) -> tuple:
    """A deadlock rule firing at once, one evaluation step, every delivery attempt made; the
    evaluator and the backoff waits the notifier asked for."""
    sleeps: list[float] = []
    try:
        rule = {**DEADLOCK_RULE, "for": "0s"}
        ev = evaluator(store, config(receiver, rule), Clock(1_800_000_000_000), sleeps)
        plant_deadlock(store)
        detect(store)
        ev.step()
        settle(ev)
    finally:
        receiver.close()
    return ev, sleeps


def test_failing_receiver_is_retried_with_backoff_and_logged(store):
    receiver = Receiver(statuses=[500, 500, 200])
    ev, sleeps = deadlock_through(store, receiver)
    assert len(receiver.received) == 3
    assert receiver.bodies()[0] == receiver.bodies()[2]  # the same message, again
    assert sleeps == [1.0, 2.0]  # exponential backoff between attempts
    log = sorted(alert_store.deliveries(store), key=lambda d: d["attempt"])
    assert [(d["attempt"], d["result"], d["http_status"]) for d in log] == [
        (1, "retry", 500), (2, "retry", 500), (3, "ok", 200)]
    assert log[0]["error"] == "HTTP 500" and log[0]["receiver_type"] == "webhook"
    assert ev.notifier.results[("hook", "ok")] == 1 and ev.notifier.results[("hook", "retry")] == 2


def test_a_receiver_that_never_answers_ok_is_given_up_after_the_last_attempt(store):
    receiver = Receiver(statuses=[503])
    ev, sleeps = deadlock_through(store, receiver)
    assert len(receiver.received) == 4 and sleeps == [1.0, 2.0, 4.0]
    results = [d["result"] for d in sorted(alert_store.deliveries(store), key=lambda d: d["attempt"])]
    assert results == ["retry", "retry", "retry", "failed"]
    assert ev.instances and next(iter(ev.instances.values())).state == "firing"


def test_delivery_never_blocks_evaluation(store):
    """The receiver holds the request open; evaluation steps still complete."""
    receiver = Receiver(gate=threading.Event())
    try:
        clock = Clock(1_800_000_000_000)
        ev = evaluator(store, config(receiver, {**DEADLOCK_RULE, "for": "0s"}), clock)
        plant_deadlock(store)
        detect(store)
        ev.step()
        assert receiver.arrived.wait(30), "the notification never reached the receiver"
        ev.step(clock.advance(STEP))  # returns while the delivery is still hanging
        ev.step(clock.advance(STEP))
        assert ev.steps == 3 and not ev.notifier.wait_idle(timeout=0)
        receiver.gate.set()
        settle(ev)
    finally:
        receiver.close()
    assert len(receiver.received) == 1


def test_restart_neither_renotifies_early_nor_forgets_a_firing_alert(store, receiver):
    clock = Clock(1_800_000_000_000)
    rule = {**DEADLOCK_RULE, "for": "0s", "repeat_interval": "1h"}
    first = evaluator(store, config(receiver, rule), clock)
    sc, waits = plant_deadlock(store)
    detect(store)
    first.step()
    settle(first)
    assert len(receiver.received) == 1
    first.notifier.stop()
    first.close()

    # a new process: a new evaluator on the same store
    second = evaluator(store, config(receiver, rule), clock)
    second.step(clock.advance(5 * MIN))
    settle(second)
    assert len(receiver.received) == 1  # not re-notified on start
    [instance] = second.instances.values()
    assert instance.state == "firing" and instance.fired_at_ms == clock.now - 5 * MIN
    second.step(clock.advance(55 * MIN))  # the repeat interval has passed: said again
    settle(second)
    assert [b["status"] for b in receiver.bodies()] == ["firing", "firing"]
    assert receiver.bodies()[1]["alerts"][0]["startsAt"] == receiver.bodies()[0]["alerts"][0]["startsAt"]
    second.notifier.stop()
    second.close()

    # the deadlock ends while no evaluator runs: the next one still sends "resolved"
    for wait in waits.values():
        sc.finish(wait, end=0)
    sc.insert(store)
    detect(store)
    third = evaluator(store, config(receiver, rule), clock)
    third.step(clock.advance(MIN))
    settle(third)
    assert [b["status"] for b in receiver.bodies()] == ["firing", "firing", "resolved"]
