"""Tool queries: per-tool call tables (from the per-minute aggregates) and a tool's recent failures."""

from __future__ import annotations

from typing import Any

from swarmscope.schema.params import fill, in_list, list_param
from swarmscope.schema.resolved_spans import resolved_spans, traces_of
from swarmscope.schema.store import Store
from swarmscope.schema.times import iso_ms

TOOLS_SQL = """
SELECT ToolName AS tool, sum(Calls) AS calls, sum(Errors) AS errors, sum(Timeouts) AS timeouts,
    sum(Retries) AS retries, quantilesMerge(0.5, 0.95, 0.99)(DurationQuantiles) AS q
FROM tool_minutes
WHERE Minute >= toStartOfMinute(fromUnixTimestamp64Milli({since_ms:Int64}))
GROUP BY ToolName
ORDER BY calls DESC, tool
LIMIT {limit:UInt32}
"""

# Failures with their resolved error message (schema/resolved_spans.py: only the window's resolution).
SINCE = "Timestamp >= fromUnixTimestamp64Milli({since_ms:Int64})"
FAILED = "(StatusCode = 'Error' OR TimedOut = 1)"
TOOLS_FAILED = fill("{since} AND ToolName IN {tools} AND {failed}", since=SINCE, tools=in_list("tools"),
                    failed=FAILED)
TOOL_FAILED = fill("ToolName = {tool:String} AND {since} AND {failed}", since=SINCE, failed=FAILED)
TOP_ERRORS_SQL = fill("""
SELECT ToolName AS tool, if(ErrorMessage != '', ErrorMessage, ErrorType) AS message,
    uniqExact(SpanId) AS count
FROM {failures}
GROUP BY tool, message
ORDER BY count DESC, message
LIMIT {per_tool:UInt32} BY tool
""", failures=resolved_spans(TOOLS_FAILED, traces_of(TOOLS_FAILED, SINCE)))


def tools(store: Store, *, since_ms: int, limit: int = 200, top_errors: int = 3) -> list[dict[str, Any]]:
    rows = store.rows(TOOLS_SQL, {"since_ms": since_ms, "limit": limit})
    failing = [r["tool"] for r in rows if r["errors"] or r["timeouts"]]
    messages: dict[str, list[dict[str, Any]]] = {}
    if failing:
        params = {"since_ms": since_ms, "tools": list_param(failing), "per_tool": top_errors}
        for r in store.rows(TOP_ERRORS_SQL, params):
            messages.setdefault(r["tool"], []).append({"message": r["message"], "count": r["count"]})
    out = []
    for r in rows:
        p50, p95, p99 = (round(float(q) / 1e6, 3) for q in r["q"])
        out.append(
            {
                "tool": r["tool"],
                "calls": r["calls"],
                "errors": r["errors"],
                "error_rate": round(r["errors"] / r["calls"], 4) if r["calls"] else 0.0,
                "timeouts": r["timeouts"],
                "retries": r["retries"],
                "p50_ms": p50,
                "p95_ms": p95,
                "p99_ms": p99,
                "top_errors": messages.get(r["tool"], []),
            }
        )
    return out


FAILURES_SQL = fill("""
SELECT TraceId AS trace_id, SpanId AS span_id, toUnixTimestamp64Milli(Timestamp) AS time_ms,
    AgentId AS agent_id, RunId AS run_id, InputHash AS input_hash, Attempt AS attempt, ToolCallId AS call_id,
    IdempotencyKey AS idempotency_key, ErrorType AS error_type, ErrorMessage AS message,
    TimedOut AS timed_out, Duration / 1e6 AS duration_ms
FROM {failures}
ORDER BY Timestamp DESC
LIMIT 1 BY TraceId, SpanId
LIMIT {limit:UInt32}
""", failures=resolved_spans(TOOL_FAILED, traces_of(TOOL_FAILED, SINCE)))
TOOL_KNOWN_SQL = "SELECT count() FROM tool_minutes WHERE ToolName = {tool:String}"
# Empty strings of a failure row that the API gives as null.
_OPTIONAL = ("agent_id", "run_id", "input_hash", "call_id", "idempotency_key", "error_type", "message")


def tool_known(store: Store, tool: str) -> bool:
    return bool(store.scalar(TOOL_KNOWN_SQL, {"tool": tool}))


def tool_failures(store: Store, tool: str, *, since_ms: int, limit: int = 100) -> list[dict[str, Any]]:
    out = []
    for r in store.rows(FAILURES_SQL, {"tool": tool, "since_ms": since_ms, "limit": limit}):
        r["time"] = iso_ms(r.pop("time_ms"))
        r["timed_out"] = bool(r["timed_out"])
        r["duration_ms"] = round(float(r["duration_ms"]), 3)
        for key in _OPTIONAL:
            r[key] = r[key] or None
        out.append(r)
    return out
