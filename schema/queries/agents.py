"""Per-agent time series (runs, errors, tokens, latency per bucket) for the agents pages' sparklines, and
per-agent latency; bounded in time like every page query. The agent table itself is
detectors.views.agents (the same call as /api/agents)."""

from __future__ import annotations

from typing import Any

from swarmscope.schema.params import fill
from swarmscope.schema.resolved_spans import resolved_spans
from swarmscope.schema.store import Store
from swarmscope.schema.times import now_ms

METRICS = ("runs", "invocations", "errors", "tokens", "latency_ms")

# Agents, runs and tokens resolved (schema/resolved_spans.py): a framework's tool and model spans
# count for the agent above them, each model call's tokens once.
SERIES_SINCE = "Timestamp >= toDateTime({start_s:Int64})"
SERIES_SQL = fill("""
SELECT AgentId AS agent,
    intDiv(toUnixTimestamp(Timestamp) - {start_s:Int64}, {step_s:Int64}) AS bucket,
    uniqExactIf(RunId, RunId != '') AS runs,
    uniqExactIf(SpanId, Operation = 'invoke_agent') AS invocations,
    uniqExactIf(SpanId, StatusCode = 'Error') AS errors,
    sum(InputTokens + OutputTokens) AS tokens,
    avgIf(Duration, Operation = 'invoke_agent') / 1e6 AS latency_ms
FROM {resolved}
WHERE AgentId != '' AND ({agent:String} = '' OR AgentId = {agent:String})
GROUP BY agent, bucket
""", resolved=resolved_spans(SERIES_SINCE, SERIES_SINCE))

SINCE = "Timestamp >= fromUnixTimestamp64Milli({since_ms:Int64})"
LATENCY_SQL = fill("""
SELECT AgentId AS agent, quantiles(0.5, 0.95)(Duration) AS q, avg(Duration) / 1e6 AS mean_ms
FROM {resolved}
WHERE AgentId != '' AND ({agent:String} = '' OR AgentId = {agent:String})
GROUP BY AgentId
""", resolved=resolved_spans(fill("{since} AND Operation = 'invoke_agent'", since=SINCE), SINCE))


def series(store: Store, *, since_ms: int, buckets: int = 24, agent: str | None = None,
           now: int | None = None) -> dict[str, dict[str, list[float]]]:
    """{agent id: {metric: [value per bucket, oldest first]}} over [since, now)."""
    now = now_ms() if now is None else now
    start_s = since_ms // 1000
    step_s = max(1, -(-(now // 1000 + 1 - start_s) // buckets))
    out: dict[str, dict[str, list[float]]] = {}
    for r in store.rows(SERIES_SQL, {"start_s": start_s, "step_s": step_s, "agent": agent or ""}):
        metrics = out.setdefault(r["agent"], {m: [0.0] * buckets for m in METRICS})
        i = int(r["bucket"])
        if 0 <= i < buckets:
            for m in METRICS:
                value = r[m]
                metrics[m][i] = 0.0 if value is None or value != value else float(value)
    return out


def latency(store: Store, *, since_ms: int, agent: str | None = None) -> dict[str, dict[str, Any]]:
    """{agent id: {p50_ms, p95_ms, mean_ms}} of its agent spans (invocations)."""
    out = {}
    for r in store.rows(LATENCY_SQL, {"since_ms": since_ms, "agent": agent or ""}):
        p50, p95 = (float(q) / 1e6 for q in r["q"])
        out[r["agent"]] = {"p50_ms": round(p50, 3), "p95_ms": round(p95, 3),
                           "mean_ms": round(float(r["mean_ms"]), 3)}
    return out
