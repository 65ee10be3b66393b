"""Per-instance alert state: pure functions of (previous state, is the condition true now, now).

    inactive --true--> pending --true for `for`--> firing --false past keep_firing_for--> resolved
    (`for` = 0 goes straight to firing; a pending instance whose condition clears goes back to inactive;
    a resolved one whose condition comes back starts over at pending)

Which notification is due is a pure function too, so the whole lifecycle is testable without a store.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

INACTIVE, PENDING, FIRING, RESOLVED = "inactive", "pending", "firing", "resolved"
STATES = (INACTIVE, PENDING, FIRING, RESOLVED)
# A rule's own health, next to its instances' states.
OK, NODATA, ERROR = "ok", "nodata", "error"


@dataclass(frozen=True)
class Instance:
    rule: str
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    state: str = INACTIVE
    value: float | None = None
    active_at_ms: int | None = None  # when the condition became true (this episode)
    fired_at_ms: int | None = None
    resolved_at_ms: int | None = None
    last_true_ms: int | None = None
    last_eval_ms: int = 0
    notified_state: str = ""  # "" (never), "firing" or "resolved": what receivers were last told
    notified_at_ms: int | None = None
    link: str = ""  # the UI path of the run or trace it is about

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Sample:
    """One instance the condition holds for, as evaluated now."""

    labels: dict[str, str]
    value: float | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    link: str = ""


def advance(previous: Instance, sample: Sample | None, now_ms: int, for_s: float,
            keep_firing_for_s: float) -> Instance:
    """The instance after one evaluation: `sample` is None when the condition does not hold."""
    if sample is not None:
        current = replace(previous, value=sample.value, annotations=sample.annotations,
                          link=sample.link, last_true_ms=now_ms, last_eval_ms=now_ms)
        if previous.state in (INACTIVE, RESOLVED):
            current = replace(current, state=PENDING, active_at_ms=now_ms, fired_at_ms=None,
                              resolved_at_ms=None)
        active_at = now_ms if current.active_at_ms is None else current.active_at_ms
        if current.state == PENDING and now_ms - active_at >= for_s * 1000:
            current = replace(current, state=FIRING, fired_at_ms=now_ms)
        return current
    current = replace(previous, last_eval_ms=now_ms)
    if previous.state == PENDING:
        return replace(current, state=INACTIVE, active_at_ms=None)
    if previous.state == FIRING:
        quiet_ms = now_ms - (now_ms if previous.last_true_ms is None else previous.last_true_ms)
        if quiet_ms >= keep_firing_for_s * 1000:
            return replace(current, state=RESOLVED, resolved_at_ms=now_ms)
    return current


def due_notification(instance: Instance, now_ms: int, repeat_interval_s: float) -> str | None:
    """"firing" or "resolved" when receivers should hear about this instance now, else None."""
    if instance.state == FIRING:
        if instance.notified_state != FIRING:
            return FIRING
        if instance.notified_at_ms is None or now_ms - instance.notified_at_ms >= repeat_interval_s * 1000:
            return FIRING  # the repeat interval: still firing, say so again
        return None
    if instance.state == RESOLVED and instance.notified_state == FIRING:
        return RESOLVED
    return None


def notified(instance: Instance, status: str, now_ms: int) -> Instance:
    return replace(instance, notified_state=status, notified_at_ms=now_ms)
