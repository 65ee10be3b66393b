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
from swarmscope.schema.params import fill
from swarmscope.schema.store import Store
from swarmscope.schema.times import iso_ms, now_ms

STATUSES = ("open", "acknowledged", "muted", "resolved", "all")
TRIAGE_ACTIONS = ("acknowledge", "mute", "reopen")
MAX_MUTE_MINUTES = 7 * 24 * 60

SEARCH = fill("""
SELECT f.*, t.State AS triage_state, t.Note AS triage_note,
    if(t.Until IS NULL, NULL, toUnixTimestamp64Milli(assumeNotNull(t.Until))) AS triage_until_ms,
    toUnixTimestamp64Milli(t.At) AS triage_at_ms,
    multiIf(f.Status != 'open', f.Status, t.State = 'acknowledged', 'acknowledged',
            t.State = 'muted' AND t.Until > fromUnixTimestamp64Milli({now_ms:Int64}), 'muted',
            'open') AS effective
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
LEFT JOIN (SELECT FindingId, State, Until, Note, At FROM finding_triage FINAL WHERE State != '') AS t
    ON f.Id = t.FindingId
WHERE {status} = '' OR effective = {status}
ORDER BY (effective = 'open') DESC, indexOf(['critical', 'error', 'warning', 'info'], f.Severity),
    f.last_ms DESC, f.Id
LIMIT {limit:UInt32}
""", base=SELECT_FINDINGS.strip(), status="if({status:String} = 'all', '', {status:String})")

TRIAGE = """
INSERT INTO finding_triage (FindingId, State, Until, Note, At, Version)
SELECT {id:String}, {state:String},
    if({until_ms:Int64} = 0, NULL, fromUnixTimestamp64Milli({until_ms:Int64}, 'UTC')),
    {note:String}, fromUnixTimestamp64Milli({at_ms:Int64}, 'UTC'), {version:UInt64}
"""
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
        state = row["triage_state"]
        item["triage"] = {"state": state, "until": iso_ms(row["triage_until_ms"]), "note": row["triage_note"],
                          "at": iso_ms(row["triage_at_ms"])} if state else None
        out.append(item)
    return out


def finding_known(store: Store, finding_id: str) -> bool:
    return bool(store.scalar(KNOWN, {"id": finding_id}))


def triage(store: Store, finding_id: str, action: str, *, minutes: int = 60, note: str = "",
           now: int | None = None) -> dict[str, Any]:
    """Acknowledge, mute for `minutes`, or reopen (clear the triage) one finding. Returns the triage."""
    if action not in TRIAGE_ACTIONS:
        raise ValueError(f"action must be one of {', '.join(TRIAGE_ACTIONS)}")
    if action == "mute" and not 1 <= minutes <= MAX_MUTE_MINUTES:
        raise ValueError(f"mute minutes must be between 1 and {MAX_MUTE_MINUTES}")
    now = now_ms() if now is None else now
    state = {"acknowledge": "acknowledged", "mute": "muted", "reopen": ""}[action]
    until = now + minutes * 60_000 if action == "mute" else 0
    store.command(TRIAGE, {"id": finding_id, "state": state, "until_ms": until, "note": note[:500],
                           "at_ms": now, "version": time.time_ns()})
    return {"id": finding_id, "state": state or None, "until": iso_ms(until) if until else None}
