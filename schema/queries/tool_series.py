"""Per-tool time series for sparklines (from the `tool_minutes` aggregate, never a raw span scan) and a
tool's failures grouped by error message (its dead letters), with the agents and runs that hit them."""

from __future__ import annotations

from typing import Any

from swarmscope.schema.store import Store
from swarmscope.schema.times import iso_ms, now_ms

METRICS = ("calls", "errors", "error_rate", "timeouts", "retries", "p50_ms", "p95_ms", "p99_ms")

SERIES_SQL = """
SELECT ToolName AS tool,
    intDiv(toUnixTimestamp(Minute) - {start_s:Int64}, {step_s:Int64}) AS bucket,
    sum(Calls) AS calls, sum(Errors) AS errors, sum(Timeouts) AS timeouts, sum(Retries) AS retries,
    quantilesMerge(0.5, 0.95, 0.99)(DurationQuantiles) AS q
FROM tool_minutes
WHERE Minute >= toDateTime({start_s:Int64}) AND Minute < toDateTime({end_s:Int64})
  AND ({tool:String} = '' OR ToolName = {tool:String})
GROUP BY tool, bucket
"""


def series(store: Store, *, since_ms: int, buckets: int = 24, tool: str | None = None,
           now: int | None = None) -> dict[str, dict[str, list[float]]]:
    """{tool: {metric: [value per bucket, oldest first]}} over [since, now), `buckets` equal steps
    (a bucket without calls is 0; latency there is 0 too)."""
    now = now_ms() if now is None else now
    start_s = since_ms // 60_000 * 60
    end_s = now // 1000 + 60
    step_s = max(60, -(-(end_s - start_s) // buckets))
    rows = store.rows(SERIES_SQL, {"start_s": start_s, "end_s": end_s, "step_s": step_s, "tool": tool or ""})
    out: dict[str, dict[str, list[float]]] = {}
    for r in rows:
        metrics = out.setdefault(r["tool"], {m: [0.0] * buckets for m in METRICS})
        i = int(r["bucket"])
        if not 0 <= i < buckets:
            continue
        p50, p95, p99 = (float(q) / 1e6 for q in r["q"])
        values = {"calls": r["calls"], "errors": r["errors"], "timeouts": r["timeouts"],
                  "retries": r["retries"],
                  "error_rate": r["errors"] / r["calls"] if r["calls"] else 0.0,
                  "p50_ms": p50, "p95_ms": p95, "p99_ms": p99}
        for metric, value in values.items():
            metrics[metric][i] = float(value)
    return out


DEAD_LETTERS_SQL = """
SELECT multiIf(StatusMessage != '', StatusMessage, ErrorType != '', ErrorType,
               TimedOut = 1, 'timed out', 'error (no message)') AS message,
    anyIf(ErrorType, ErrorType != '') AS error_type,
    uniqExact(SpanId) AS count, countIf(TimedOut = 1) AS timeouts,
    toUnixTimestamp64Milli(min(Timestamp)) AS first_ms, toUnixTimestamp64Milli(max(Timestamp)) AS last_ms,
    groupUniqArray(20)(AgentId) AS agents,
    groupUniqArray(20)((RunId, TraceId)) AS runs,
    uniqExact(if(RunId != '', RunId, TraceId)) AS run_count,
    argMax(TraceId, Timestamp) AS trace_id, argMax(SpanId, Timestamp) AS span_id
FROM spans
WHERE ToolName = {tool:String} AND Timestamp >= fromUnixTimestamp64Milli({since_ms:Int64})
  AND (StatusCode = 'Error' OR TimedOut = 1)
GROUP BY message
ORDER BY count DESC, message
LIMIT {limit:UInt32}
"""


def dead_letters(store: Store, tool: str, *, since_ms: int, limit: int = 50) -> list[dict[str, Any]]:
    """The tool's failures since `since_ms`, one group per error message, most frequent first."""
    out = []
    for r in store.rows(DEAD_LETTERS_SQL, {"tool": tool, "since_ms": since_ms, "limit": limit}):
        runs: dict[str, dict[str, str | None]] = {}
        for run_id, trace_id in sorted(r["runs"]):
            key = run_id or trace_id
            runs.setdefault(key, {"run_id": run_id or None, "trace_id": trace_id})
        out.append({
            "message": r["message"], "error_type": r["error_type"] or None, "count": r["count"],
            "timeouts": r["timeouts"], "first": iso_ms(r["first_ms"]), "last": iso_ms(r["last_ms"]),
            "agents": sorted(a for a in r["agents"] if a), "runs": list(runs.values()),
            "run_count": r["run_count"], "example": {"trace_id": r["trace_id"], "span_id": r["span_id"]},
        })
    return out
