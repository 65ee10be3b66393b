"""Findings in the store: one row per condition, rewritten (not appended) as it persists or clears.

- a condition seen again keeps its id and first_seen; last_seen moves (rewritten at most every
  `touch_interval_s` unless something else about it changed);
- an open finding of a live kind that a sweep no longer sees is resolved (status, resolved_at);
- a resolved condition that comes back is reopened (same id, same first_seen).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from swarmscope.schema.params import fill, in_list, list_param

from .model import Finding

COLUMNS = [
    "Id",
    "Kind",
    "Key",
    "Severity",
    "TraceId",
    "RunId",
    "SpanIds",
    "AgentIds",
    "Summary",
    "Evidence",
    "FirstSeen",
    "LastSeen",
    "Status",
    "ResolvedAt",
    "Version",
]

SELECT_FINDINGS = """
SELECT Id, Kind, Key, Severity, TraceId, RunId, SpanIds, AgentIds, Summary, Evidence,
    toUnixTimestamp64Milli(FirstSeen) AS first_ms, toUnixTimestamp64Milli(LastSeen) AS last_ms,
    Status, if(ResolvedAt IS NULL, NULL, toUnixTimestamp64Milli(assumeNotNull(ResolvedAt))) AS resolved_ms
FROM findings FINAL
"""

_version_lock = threading.Lock()
_last_version = 0


def _version() -> int:
    global _last_version
    with _version_lock:
        _last_version = max(time.time_ns(), _last_version + 1)
        return _last_version


def row_to_finding(row: dict[str, Any]) -> Finding:
    finding = Finding(
        kind=row["Kind"],
        key=row["Key"],
        severity=row["Severity"],
        summary=row["Summary"],
        evidence=json.loads(row["Evidence"]) if row["Evidence"] else {},
        trace_id=row["TraceId"],
        run_id=row["RunId"],
        span_ids=list(row["SpanIds"]),
        agent_ids=list(row["AgentIds"]),
        first_seen_ms=row["first_ms"],
        last_seen_ms=row["last_ms"],
        status=row["Status"],
        resolved_at_ms=row["resolved_ms"],
    )
    return finding


# What a sweep needs to know about stored findings to merge its own (no evidence, no summary).
SELECT_STATE = fill("""
SELECT Id, Kind, Status, Severity, SpanIds, AgentIds,
    toUnixTimestamp64Milli(FirstSeen) AS first_ms, toUnixTimestamp64Milli(LastSeen) AS last_ms
FROM findings FINAL
WHERE Id IN {ids}
   OR (Status = 'open' AND Kind IN {kinds})
""", ids=in_list("ids"), kinds=in_list("kinds"))
LOAD_SQL = SELECT_FINDINGS + " WHERE Id IN " + in_list("ids")


def load(store, ids: list[str]) -> dict[str, Finding]:
    """Whole findings by id."""
    rows = store.rows(LOAD_SQL, {"ids": list_param(ids)})
    return {r["Id"]: row_to_finding(r) for r in rows}


def _ts(ms: int | None) -> str | None:
    """A DateTime64(3) as JSONEachRow takes it: seconds with exactly three decimals (no float)."""
    return None if ms is None else f"{ms // 1000}.{ms % 1000:03d}"


def _json_row(f: Finding) -> str:
    return json.dumps(
        {
            "Id": f.id,
            "Kind": f.kind,
            "Key": f.key,
            "Severity": f.severity,
            "TraceId": f.trace_id,
            "RunId": f.run_id,
            "SpanIds": f.span_ids,
            "AgentIds": f.agent_ids,
            "Summary": f.summary,
            "Evidence": json.dumps(f.evidence, default=str, sort_keys=True),
            "FirstSeen": _ts(f.first_seen_ms),
            "LastSeen": _ts(f.last_seen_ms),
            "Status": f.status,
            "ResolvedAt": _ts(f.resolved_at_ms),
            "Version": _version(),
        }
    )


def write(store, findings: list[Finding]) -> None:
    """One insert for all of them, as JSONEachRow: the server parses it (in C++), so a cold sweep's
    tens of thousands of findings cost one statement, not a Python-side row-by-row encoding."""
    if findings:
        block = "\n".join(_json_row(f) for f in findings).encode()
        store.client.raw_insert("findings", COLUMNS, insert_block=block, fmt="JSONEachRow")


def save(
    store, detected: list[Finding], resolvable_kinds: list[str], now_ms: int, touch_interval_ms: int
) -> tuple[list[Finding], list[Finding]]:
    """Merge this sweep's findings into the table. Returns (detected with their stored state, resolved)."""
    # Several detectors may report one condition in one sweep; the last one wins.
    unique = {f.id: f for f in detected}
    state = {"ids": list_param(unique), "kinds": list_param(resolvable_kinds)}
    previous = {r["Id"]: r for r in store.rows(SELECT_STATE, state)}
    writes: list[Finding] = []
    for f in unique.values():
        before = previous.get(f.id)
        if before is not None and before["Status"] == "open":
            f.first_seen_ms = before["first_ms"]
            changed = (
                f.severity != before["Severity"]
                or f.span_ids != list(before["SpanIds"])
                or f.agent_ids != list(before["AgentIds"])
            )
            if changed or now_ms - before["last_ms"] >= touch_interval_ms:
                f.last_seen_ms = now_ms
                writes.append(f)
            else:
                f.last_seen_ms = before["last_ms"]
        else:
            f.first_seen_ms = before["first_ms"] if before is not None else now_ms
            f.last_seen_ms = now_ms
            writes.append(f)
        f.status, f.resolved_at_ms = "open", None
    cleared = [
        fid
        for fid, before in previous.items()
        if fid not in unique and before["Status"] == "open" and before["Kind"] in resolvable_kinds
    ]
    resolved = list(load(store, cleared).values()) if cleared else []
    for before in resolved:
        before.status, before.resolved_at_ms = "resolved", now_ms
        writes.append(before)
    write(store, writes)
    return list(unique.values()), resolved
