"""Alert state, history and the delivery log in the store (tables of migration m030)."""

from __future__ import annotations

import json
from typing import Any

# One Version clock and one DateTime64 encoding for every ReplacingMergeTree row the server writes.
from swarmscope.detectors.persist import _ts, _version

from .state import Instance

STATE_COLUMNS = ["Rule", "Fingerprint", "Labels", "Annotations", "State", "Value", "ActiveAt", "FiredAt",
                 "ResolvedAt", "LastTrueAt", "LastEvalAt", "NotifiedState", "NotifiedAt", "Link", "Error",
                 "Version"]
HISTORY_COLUMNS = ["At", "Rule", "Fingerprint", "FromState", "ToState", "Labels", "Value"]
DELIVERY_COLUMNS = ["At", "Receiver", "ReceiverType", "Rule", "Status", "Alerts", "Attempt", "Result",
                    "HttpStatus", "Error", "DurationMs"]


SELECT_STATE = """
SELECT Rule, Fingerprint, Labels, Annotations, State, Value,
    if(ActiveAt IS NULL, NULL, toUnixTimestamp64Milli(assumeNotNull(ActiveAt))) AS ActiveAt,
    if(FiredAt IS NULL, NULL, toUnixTimestamp64Milli(assumeNotNull(FiredAt))) AS FiredAt,
    if(ResolvedAt IS NULL, NULL, toUnixTimestamp64Milli(assumeNotNull(ResolvedAt))) AS ResolvedAt,
    if(LastTrueAt IS NULL, NULL, toUnixTimestamp64Milli(assumeNotNull(LastTrueAt))) AS LastTrueAt,
    toUnixTimestamp64Milli(LastEvalAt) AS LastEvalAt, NotifiedState,
    if(NotifiedAt IS NULL, NULL, toUnixTimestamp64Milli(assumeNotNull(NotifiedAt))) AS NotifiedAt,
    Link, Error
FROM alert_state FINAL
"""
SELECT_HISTORY = """
SELECT toUnixTimestamp64Milli(At) AS at_ms, Rule AS rule, Fingerprint AS fingerprint,
    FromState AS from_state, ToState AS to_state, Labels AS labels, Value AS value
FROM alert_history
WHERE ({rule:String} = '' OR Rule = {rule:String})
ORDER BY At DESC LIMIT {limit:UInt32}
"""
SELECT_DELIVERIES = """
SELECT toUnixTimestamp64Milli(At) AS at_ms, Receiver AS receiver, ReceiverType AS receiver_type,
    Rule AS rule, Status AS status, Alerts AS alerts, Attempt AS attempt, Result AS result,
    HttpStatus AS http_status, Error AS error, DurationMs AS duration_ms
FROM alert_deliveries
WHERE ({rule:String} = '' OR Rule = {rule:String})
ORDER BY At DESC LIMIT {limit:UInt32}
"""

def _insert(store, table: str, columns: list[str], rows: list[dict[str, Any]]) -> None:
    if rows:
        block = "\n".join(json.dumps(r, default=str) for r in rows).encode()
        store.client.raw_insert(table, columns, insert_block=block, fmt="JSONEachRow")


def load(store) -> tuple[dict[tuple[str, str], Instance], dict[str, tuple[str, str]]]:
    """(instances by (rule, fingerprint), rule health by rule: (health, error))."""
    instances, health = {}, {}
    for r in store.rows(SELECT_STATE):
        if r["Fingerprint"] == "":
            health[r["Rule"]] = (r["State"], r["Error"])
            continue
        instances[(r["Rule"], r["Fingerprint"])] = Instance(
            rule=r["Rule"], fingerprint=r["Fingerprint"], labels=dict(r["Labels"]),
            annotations=dict(r["Annotations"]), state=r["State"], value=r["Value"],
            active_at_ms=r["ActiveAt"], fired_at_ms=r["FiredAt"], resolved_at_ms=r["ResolvedAt"],
            last_true_ms=r["LastTrueAt"], last_eval_ms=r["LastEvalAt"], notified_state=r["NotifiedState"],
            notified_at_ms=r["NotifiedAt"], link=r["Link"])
    return instances, health


def save_instances(store, instances: list[Instance]) -> None:
    _insert(store, "alert_state", STATE_COLUMNS, [{
        "Rule": i.rule, "Fingerprint": i.fingerprint, "Labels": i.labels, "Annotations": i.annotations,
        "State": i.state, "Value": i.value, "ActiveAt": _ts(i.active_at_ms), "FiredAt": _ts(i.fired_at_ms),
        "ResolvedAt": _ts(i.resolved_at_ms), "LastTrueAt": _ts(i.last_true_ms),
        "LastEvalAt": _ts(i.last_eval_ms), "NotifiedState": i.notified_state,
        "NotifiedAt": _ts(i.notified_at_ms), "Link": i.link, "Error": "", "Version": _version(),
    } for i in instances])


def save_health(store, rule: str, health: str, error: str, now_ms: int) -> None:
    _insert(store, "alert_state", ["Rule", "Fingerprint", "State", "Error", "LastEvalAt", "Version"], [
        {"Rule": rule, "Fingerprint": "", "State": health, "Error": error, "LastEvalAt": _ts(now_ms),
         "Version": _version()}])


def save_transitions(store, transitions: list[tuple[Instance, Instance]], now_ms: int) -> None:
    _insert(store, "alert_history", HISTORY_COLUMNS, [{
        "At": _ts(now_ms), "Rule": after.rule, "Fingerprint": after.fingerprint,
        "FromState": before.state, "ToState": after.state, "Labels": after.labels, "Value": after.value,
    } for before, after in transitions])


def log_delivery(store, **row: Any) -> None:
    row["At"] = _ts(row.pop("at_ms"))
    _insert(store, "alert_deliveries", DELIVERY_COLUMNS, [row])


def history(store, rule: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    return store.rows(SELECT_HISTORY, {"rule": rule or "", "limit": limit})


def deliveries(store, rule: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    return store.rows(SELECT_DELIVERIES, {"rule": rule or "", "limit": limit})
