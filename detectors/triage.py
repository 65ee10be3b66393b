"""Findings for the findings page and its JSON twin: filtered, with their triage (acknowledged, or muted
until a time) joined from `finding_triage`, and the triage writes.

A finding's effective status: `resolved` (the detector saw the condition clear), else `acknowledged`
or `muted` (a person said so; a mute ends by itself), else `open`. The open list is only the last.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from swarmscope.detectors.persist import SELECT_FINDINGS, row_to_finding
from swarmscope.schema.params import fill, in_list, list_param
from swarmscope.schema.store import Store
from swarmscope.schema.times import iso_ms, now_ms

STATUSES = ("open", "acknowledged", "muted", "resolved", "all")
TRIAGE_ACTIONS = ("acknowledge", "mute", "reopen")
MAX_MUTE_MINUTES = 7 * 24 * 60

# A finding row `f` (with Id and Status) joined to its triage `t`, and the effective status.
TRIAGE_COLUMNS = """t.State AS triage_state, t.Note AS triage_note, t.By AS triage_by,
    if(t.Until IS NULL, NULL, toUnixTimestamp64Milli(assumeNotNull(t.Until))) AS triage_until_ms,
    toUnixTimestamp64Milli(t.At) AS triage_at_ms,
    multiIf(f.Status != 'open', f.Status, t.State = 'acknowledged', 'acknowledged',
            t.State = 'muted' AND t.Until > fromUnixTimestamp64Milli({now_ms:Int64}), 'muted',
            'open') AS effective"""
TRIAGE_JOIN = """LEFT JOIN (
    SELECT FindingId, State, Until, Note, By, At FROM finding_triage FINAL WHERE State != '') AS t
    ON f.Id = t.FindingId"""

SEARCH = fill("""
SELECT f.*, {columns}
FROM ({base}
      WHERE LastSeen >= fromUnixTimestamp64Milli({since_ms:Int64})
        AND FirstSeen <= fromUnixTimestamp64Milli({until_ms:Int64})
        AND ({kind:String} = '' OR Kind = {kind:String})
        AND ({severity:String} = '' OR Severity = {severity:String})
        AND ({agent:String} = '' OR has(AgentIds, {agent:String}))
        AND ({run_id:String} = '' OR RunId = {run_id:String} OR TraceId = {run_id:String})
        AND ({service:String} = '' OR TraceId IN (SELECT TraceId FROM traces
             WHERE has(Services, {service:String})))
        AND ({tool:String} = '' OR TraceId IN (SELECT DISTINCT TraceId FROM spans
             WHERE ToolName = {tool:String} AND Timestamp >= fromUnixTimestamp64Milli({since_ms:Int64})))
     ) AS f
{join}
WHERE {status} = '' OR effective = {status}
ORDER BY (effective = 'open') DESC, indexOf(['critical', 'error', 'warning', 'info'], f.Severity),
    f.last_ms DESC, f.Id
LIMIT {limit:UInt32}
""", base=SELECT_FINDINGS.strip(), status="if({status:String} = 'all', '', {status:String})",
    columns=TRIAGE_COLUMNS, join=TRIAGE_JOIN)
# The triage of findings by id (for lists read without it, such as /api/findings).
TRIAGE_OF = fill("""SELECT f.Id AS Id, {columns}
FROM (SELECT Id, Status FROM findings FINAL WHERE Id IN {ids}) AS f {join}""",
                 columns=TRIAGE_COLUMNS, join=TRIAGE_JOIN, ids=in_list("ids"))

TRIAGE = """
INSERT INTO finding_triage (FindingId, State, Until, Note, By, At, Version)
SELECT {id:String}, {state:String},
    if({until_ms:Int64} = 0, NULL, fromUnixTimestamp64Milli({until_ms:Int64}, 'UTC')),
    {note:String}, {by:String}, fromUnixTimestamp64Milli({at_ms:Int64}, 'UTC'), {version:UInt64}
"""
MAX_BY = 100
KNOWN = "SELECT count() FROM findings WHERE Id = {id:String}"


@dataclass
class FindingFilters:
    status: str = "open"
    kind: str | None = None
    severity: str | None = None
    agent: str | None = None
    tool: str | None = None
    service: str | None = None
    run_id: str | None = None
    since_ms: int = 0
    until_ms: int | None = None


def search(store: Store, filters: FindingFilters, *, limit: int = 100, now: int | None = None
           ) -> list[dict[str, Any]]:
    """Findings matching `filters`: open first, then by severity (critical first), then newest; each
    with `status` (effective, see the module doc), `detector_status` (what the detector says) and
    `triage` (or None)."""
    now = now_ms() if now is None else now
    params = {
        "now_ms": now, "since_ms": filters.since_ms,
        "until_ms": filters.until_ms if filters.until_ms is not None else now + 86_400_000,
        "kind": filters.kind or "", "severity": filters.severity or "", "agent": filters.agent or "",
        "run_id": filters.run_id or "", "service": filters.service or "", "tool": filters.tool or "",
        "status": filters.status or "all", "limit": limit,
    }
    out = []
    for row in store.rows(SEARCH, params):
        item = row_to_finding(row).to_dict()
        item["detector_status"] = item["status"]
        item["status"] = row["effective"]
        item["triage"] = _triage_of_row(row)
        out.append(item)
    return out


def _triage_of_row(row: dict[str, Any]) -> dict[str, Any] | None:
    if not row["triage_state"]:
        return None
    return {"state": row["triage_state"], "until": iso_ms(row["triage_until_ms"]), "note": row["triage_note"],
            "by": row["triage_by"], "at": iso_ms(row["triage_at_ms"])}


def with_triage(store: Store, items: list[dict[str, Any]], now: int | None = None) -> list[dict[str, Any]]:
    """Finding dicts (Finding.to_dict) with what `search` adds: `triage` (or None) and
    `effective_status` (open, acknowledged, muted or resolved); `status` stays the detector's."""
    if not items:
        return items
    now = now_ms() if now is None else now
    params = {"ids": list_param([i["id"] for i in items]), "now_ms": now}
    rows = {r["Id"]: r for r in store.rows(TRIAGE_OF, params)}
    for item in items:
        row = rows.get(item["id"])
        item["triage"] = _triage_of_row(row) if row else None
        item["effective_status"] = row["effective"] if row else item["status"]
    return items


def finding_known(store: Store, finding_id: str) -> bool:
    return bool(store.scalar(KNOWN, {"id": finding_id}))


def triage(store: Store, finding_id: str, action: str, *, minutes: int = 60, note: str = "", by: str = "",
           now: int | None = None) -> dict[str, Any]:
    """Acknowledge, mute for `minutes`, or reopen (clear the triage) one finding, on behalf of `by` (a
    name, or the channel it came through). Returns the triage."""
    if action not in TRIAGE_ACTIONS:
        raise ValueError(f"action must be one of {', '.join(TRIAGE_ACTIONS)}")
    if action == "mute" and not 1 <= minutes <= MAX_MUTE_MINUTES:
        raise ValueError(f"mute minutes must be between 1 and {MAX_MUTE_MINUTES}")
    now = now_ms() if now is None else now
    state = {"acknowledge": "acknowledged", "mute": "muted", "reopen": ""}[action]
    until = now + minutes * 60_000 if action == "mute" else 0
    by = by.strip()[:MAX_BY]
    store.command(TRIAGE, {"id": finding_id, "state": state, "until_ms": until, "note": note[:500], "by": by,
                           "at_ms": now, "version": time.time_ns()})
    return {"id": finding_id, "state": state or None, "until": iso_ms(until) if until else None, "by": by}
