"""Trace queries: the trace list from the trace index, one trace's spans with its open spans, counts.

Pages and the JSON API both read through here, so a page never shows what the API would not.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from swarmscope.schema.open_spans import unfinished
from swarmscope.schema.params import fill, in_list, list_param
from swarmscope.schema.resolved_spans import overlay, resolution_of
from swarmscope.schema.store import Store
from swarmscope.schema.times import iso

# Every open span's ids (schema/open_spans.py).
ALL_OPEN_SPAN_KEYS = fill("""
SELECT TraceId, SpanId FROM pending_spans FINAL
WHERE {unfinished}
""", unfinished=unfinished())
_OF_TRACES = "TraceId IN " + in_list("ids")
# The open spans of the traces bound as `ids`.
OPEN_SPANS = fill("""
SELECT * FROM pending_spans FINAL
WHERE {of_traces} AND {unfinished}
""", of_traces=_OF_TRACES, unfinished=unfinished(_OF_TRACES))

LIST_TRACES = """
SELECT TraceId, min(Start) AS start_time, max(End) AS end_time,
    uniqExactMerge(SpanIds) AS span_count, uniqExactMerge(ErrorSpanIds) AS error_count,
    max(RootName) AS root_name, max(RootService) AS root_service,
    groupUniqArrayArray(Services) AS services, groupUniqArrayArray(Agents) AS agents,
    groupUniqArrayArray(RunIds) AS run_ids
FROM traces WHERE {where}
GROUP BY TraceId HAVING {having}
ORDER BY start_time DESC LIMIT {limit:UInt32}"""
# The trace-list filters: (WHERE on the index rows, HAVING on the trace) for each one given.
_SINCE = ("End >= fromUnixTimestamp64Milli({since_ms:Int64})",
          "start_time >= fromUnixTimestamp64Milli({since_ms:Int64})")
_UNTIL = ("Start <= fromUnixTimestamp64Milli({until_ms:Int64})",
          "start_time <= fromUnixTimestamp64Milli({until_ms:Int64})")
_HAS = {"service": "has(services, {service:String})", "agent": "has(agents, {agent:String})",
        "run_id": "has(run_ids, {run_id:String})"}
_STATUS = {"error": "error_count > 0", "ok": "error_count = 0",
           "open": fill("TraceId IN (SELECT TraceId FROM ({open}))", open=ALL_OPEN_SPAN_KEYS)}
OPEN_COUNTS = fill("SELECT TraceId, count() AS n FROM ({open}) GROUP BY TraceId", open=OPEN_SPANS)


def list_traces(store: Store, *, service: str | None = None, agent: str | None = None,
                run_id: str | None = None, status: str | None = None, since_ms: int | None = None,
                until_ms: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The latest traces (newest first) matching every filter given; times are epoch milliseconds."""
    where, having = ["1"], ["1"]
    params: dict[str, Any] = {"limit": limit}
    for bound, name, (on_rows, on_trace) in ((since_ms, "since_ms", _SINCE), (until_ms, "until_ms", _UNTIL)):
        if bound is not None:
            where.append(on_rows)
            having.append(on_trace)
            params[name] = bound
    for name, value in (("service", service), ("agent", agent), ("run_id", run_id)):
        if value:
            having.append(_HAS[name])
            params[name] = value
    if status:
        having.append(_STATUS[status])
    rows = store.rows(fill(LIST_TRACES, where=" AND ".join(where), having=" AND ".join(having)), params)
    open_counts = _open_counts(store, [r["TraceId"] for r in rows])
    return [{
        "trace_id": r["TraceId"],
        "start_time": iso(r["start_time"]),
        "end_time": iso(r["end_time"]),
        "duration_ms": (r["end_time"] - r["start_time"]).total_seconds() * 1000,
        "span_count": r["span_count"],
        "error_count": r["error_count"],
        "open_span_count": open_counts.get(r["TraceId"], 0),
        "root_name": r["root_name"],
        "root_service": r["root_service"],
        "services": sorted(r["services"]),
        "agents": sorted(r["agents"]),
        "run_ids": sorted(r["run_ids"]),
    } for r in rows]


def _open_counts(store: Store, trace_ids: list[str]) -> dict[str, int]:
    if not trace_ids:
        return {}
    rows = store.rows(OPEN_COUNTS, {"ids": list_param(trace_ids)})
    return {r["TraceId"]: r["n"] for r in rows}


def span_fields(r: dict[str, Any]) -> dict[str, Any]:
    """The API keys that a finished span row (`spans`) and an open one (`pending_spans`) share."""
    return {
        "trace_id": r["TraceId"],
        "span_id": r["SpanId"],
        "parent_span_id": r["ParentSpanId"],
        "name": r["SpanName"],
        "kind": r["SpanKind"],
        "service_name": r["ServiceName"],
        "operation": r["Operation"],
        "agent_id": r["AgentId"],
        "agent_name": r["AgentName"],
        "agent_role": r["AgentRole"],
        "tool_name": r["ToolName"],
        "model": r["Model"],
        "input_tokens": r["InputTokens"],
        "output_tokens": r["OutputTokens"],
        "confidence": r["Confidence"],
        "run_id": r["RunId"],
        "task_id": r["TaskId"],
        "task_status": r["TaskStatus"],
        "wait_for": r["WaitFor"],
        "wait_task_id": r["WaitTaskId"],
        "wait_resource": r["WaitResource"],
        "wait_timeout_ms": r["WaitTimeoutMs"],
        "input_hash": r["InputHash"],
        "output_hash": r["OutputHash"],
        "attempt": r["Attempt"],
        "idempotency_key": r["IdempotencyKey"],
        "error_type": r["ErrorType"],
        "attributes": dict(r["SpanAttributes"]),
        "resource_attributes": dict(r["ResourceAttributes"]),
    }


TRACE_BOUNDS = ("SELECT min(Start) AS s, max(End) AS e FROM traces WHERE TraceId = {id:String} "
                "HAVING count() > 0")
FINISHED_SPANS = """
SELECT * FROM spans FINAL
WHERE TraceId = {id:String} AND Timestamp BETWEEN {s:DateTime64(9)} AND {e:DateTime64(9)}
ORDER BY Timestamp"""
OPEN_SPANS_BY_START = OPEN_SPANS + " ORDER BY StartTime"


def get_trace(store: Store, trace_id: str) -> list[dict[str, Any]] | None:
    """Every span of the trace (finished and open), by start time; None for an unknown trace."""
    bounds = store.rows(TRACE_BOUNDS, {"id": trace_id})
    if not bounds:
        return None
    finished = store.rows(FINISHED_SPANS, {"id": trace_id, "s": bounds[0]["s"], "e": bounds[0]["e"]})
    resolution = resolution_of(store, [trace_id])  # framework spans' agents, runs, tokens
    spans = []
    for r in finished:
        span = span_fields(overlay(r, resolution))
        end = r["Timestamp"].timestamp() + r["Duration"] / 1e9
        span.update({
            "start_time": iso(r["Timestamp"]),
            "end_time": iso(datetime.utcfromtimestamp(end)),
            "duration_ms": r["Duration"] / 1e6,
            "status_code": r["StatusCode"],
            "status_message": r["StatusMessage"],
            "open": False,
            "last_seen": None,
            "heartbeat_interval_ms": None,
            "events": [{"time": iso(t), "name": n, "attributes": dict(a)} for t, n, a in
                       zip(r["Events.Timestamp"], r["Events.Name"], r["Events.Attributes"], strict=True)],
            "links": [{"trace_id": t, "span_id": s, "attributes": dict(a)} for t, s, a in
                      zip(r["Links.TraceId"], r["Links.SpanId"], r["Links.Attributes"], strict=True)],
        })
        spans.append(span)
    for r in store.rows(OPEN_SPANS_BY_START, {"ids": list_param([trace_id])}):
        span = span_fields(overlay(r, resolution))
        span.update({
            "start_time": iso(r["StartTime"]),
            "end_time": None,
            "duration_ms": None,
            "status_code": "Unset",
            "status_message": "",
            "open": True,
            "last_seen": iso(r["LastSeen"]),
            "heartbeat_interval_ms": r["HeartbeatIntervalMs"],
            "events": [],
            "links": [],
        })
        spans.append(span)
    spans.sort(key=lambda s: s["start_time"] or "")
    return spans


# One query, not four: clients poll this, and each query pays its own round trip and planning.
# Span rows as stored: a re-sent span counts twice until the background merge folds it (exact FINAL
# counting reads every key).
STATS = fill("""
SELECT
    (SELECT count() FROM spans) AS spans,
    (SELECT uniqExact(TraceId) FROM traces) AS traces,
    (SELECT count() FROM pending_spans FINAL) AS pending_spans,
    (SELECT count() FROM ({open})) AS open_spans
""", open=ALL_OPEN_SPAN_KEYS)


def stats(store: Store) -> dict[str, int]:
    row = store.rows(STATS)[0]
    return {name: int(value or 0) for name, value in row.items()}
