"""Read side of the detectors for the API and the CLI: findings, the wait-for graph, tool and agent tables."""

from __future__ import annotations

from collections import Counter
from typing import Any

from swarmscope.schema.params import in_list, list_param

from .config import DetectorConfig
from .persist import SELECT_FINDINGS, row_to_finding
from .sweep import Sweep, fetch_open_spans
from .util import iso_ms, now_ms
from .waitgraph import build_graph

FINDINGS_FILTER = """
WHERE ({kind:String} = '' OR Kind = {kind:String})
  AND ({trace_id:String} = '' OR TraceId = {trace_id:String})
  AND ({run_id:String} = '' OR RunId = {run_id:String})
  AND ({agent:String} = '' OR has(AgentIds, {agent:String}))
  AND ({status:String} = '' OR Status = {status:String})
  AND LastSeen >= fromUnixTimestamp64Milli({since_ms:Int64})
ORDER BY (Status = 'open') DESC, LastSeen DESC, Id
LIMIT {limit:UInt32}
"""


def list_findings(
    store,
    *,
    kind: str | None = None,
    trace_id: str | None = None,
    run_id: str | None = None,
    agent: str | None = None,
    since_ms: int | None = None,
    status: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    rows = store.rows(
        SELECT_FINDINGS + FINDINGS_FILTER,
        {
            "kind": kind or "",
            "trace_id": trace_id or "",
            "run_id": run_id or "",
            "agent": agent or "",
            "status": status or "",
            "since_ms": since_ms or 0,
            "limit": limit,
        },
    )
    return [row_to_finding(r).to_dict() for r in rows]


# Open spans the wait-for graph is made of: waits and declared holders (then task owners and parents).
GRAPH_SPANS = (
    "Operation = 'wait' OR WaitFor != '' OR WaitTaskId != '' OR WaitResource != '' "
    "OR mapContains(SpanAttributes, 'swarmscope.resource.held') "
    "OR mapContains(SpanAttributes, 'swarmscope.leader.group')"
)
GRAPH_OWNERS = (
    f"(Operation = 'invoke_agent' AND TaskId IN {in_list('tasks')}) OR SpanId IN {in_list('parents')}"
)


def wait_graph(store, config: DetectorConfig | None = None, *, run_id: str | None = None) -> dict[str, Any]:
    """The wait-for graph as of now, reading only the open spans it is made of."""
    config = config or DetectorConfig()
    now = now_ms()
    open_spans = fetch_open_spans(store, config, now, GRAPH_SPANS)
    tasks = sorted({s.wait_task_id for s in open_spans if s.is_wait and s.wait_task_id and not s.wait_for})
    parents = sorted({s.parent_span_id for s in open_spans if not s.agent_id and s.parent_span_id})
    if tasks or parents:
        seen = {(s.trace_id, s.span_id) for s in open_spans}
        owners = {"tasks": list_param(tasks), "parents": list_param(parents)}
        more = fetch_open_spans(store, config, now, GRAPH_OWNERS, owners)
        open_spans += [s for s in more if (s.trace_id, s.span_id) not in seen]
    if run_id:
        open_spans = [s for s in open_spans if s.run_id == run_id]
    graph = build_graph(open_spans)
    return {"as_of": iso_ms(now), **graph.to_dict(now)}


TOOLS_SQL = """
SELECT ToolName AS tool, sum(Calls) AS calls, sum(Errors) AS errors, sum(Timeouts) AS timeouts,
    sum(Retries) AS retries, quantilesMerge(0.5, 0.95, 0.99)(DurationQuantiles) AS q
FROM tool_minutes
WHERE Minute >= toStartOfMinute(fromUnixTimestamp64Milli({since_ms:Int64}))
GROUP BY ToolName
ORDER BY calls DESC, tool
LIMIT {limit:UInt32}
"""

TOP_ERRORS_SQL = """
SELECT ToolName AS tool, if(ErrorMessage != '', ErrorMessage, ErrorType) AS message,
    uniqExact(SpanId) AS count
FROM spans_resolved
WHERE Timestamp >= fromUnixTimestamp64Milli({since_ms:Int64}) AND ToolName IN {tools:Array(String)}
  AND (StatusCode = 'Error' OR TimedOut = 1)
GROUP BY tool, message
ORDER BY count DESC, message
LIMIT {per_tool:UInt32} BY tool
"""


def tools(store, *, since_ms: int, limit: int = 200, top_errors: int = 3) -> list[dict[str, Any]]:
    rows = store.rows(TOOLS_SQL, {"since_ms": since_ms, "limit": limit})
    failing = [r["tool"] for r in rows if r["errors"] or r["timeouts"]]
    messages: dict[str, list[dict[str, Any]]] = {}
    if failing:
        for r in store.rows(TOP_ERRORS_SQL, {"since_ms": since_ms, "tools": failing, "per_tool": top_errors}):
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


FAILURES_SQL = """
SELECT TraceId AS trace_id, SpanId AS span_id, toUnixTimestamp64Milli(Timestamp) AS time_ms,
    AgentId AS agent_id, RunId AS run_id, InputHash AS input_hash, Attempt AS attempt, ToolCallId AS call_id,
    IdempotencyKey AS idempotency_key, ErrorType AS error_type, ErrorMessage AS message,
    TimedOut AS timed_out, Duration / 1e6 AS duration_ms
FROM spans_resolved
WHERE ToolName = {tool:String} AND Timestamp >= fromUnixTimestamp64Milli({since_ms:Int64})
  AND (StatusCode = 'Error' OR TimedOut = 1)
ORDER BY Timestamp DESC
LIMIT 1 BY TraceId, SpanId
LIMIT {limit:UInt32}
"""


def tool_known(store, tool: str) -> bool:
    return bool(
        store.scalar("SELECT count() FROM tool_minutes WHERE ToolName = {tool:String}", {"tool": tool})
    )


def tool_failures(store, tool: str, *, since_ms: int, limit: int = 100) -> list[dict[str, Any]]:
    out = []
    for r in store.rows(FAILURES_SQL, {"tool": tool, "since_ms": since_ms, "limit": limit}):
        r["time"] = iso_ms(r.pop("time_ms"))
        r["timed_out"] = bool(r["timed_out"])
        r["duration_ms"] = round(float(r["duration_ms"]), 3)
        for key in (
            "agent_id",
            "run_id",
            "input_hash",
            "call_id",
            "idempotency_key",
            "error_type",
            "message",
        ):
            r[key] = r[key] or None
        out.append(r)
    return out


AGENTS_SQL = """
SELECT AgentId AS agent_id, any(AgentName) AS name, anyIf(AgentRole, AgentRole != '') AS role,
    uniqExactIf(RunId, RunId != '') AS runs,
    uniqExactIf(SpanId, Operation = 'invoke_agent') AS invocations,
    uniqExact(SpanId) AS spans,
    uniqExactIf(SpanId, StatusCode = 'Error') AS errors,
    avgIf(Confidence, Confidence IS NOT NULL) AS mean_confidence,
    greatest(sumIf(InputTokens, Operation = 'invoke_agent'), sumIf(InputTokens, Operation != 'invoke_agent'))
        AS input_tokens,
    greatest(sumIf(OutputTokens, Operation = 'invoke_agent'),
             sumIf(OutputTokens, Operation != 'invoke_agent'))
        AS output_tokens
FROM spans_resolved
WHERE Timestamp >= fromUnixTimestamp64Milli({since_ms:Int64}) AND AgentId != ''
GROUP BY AgentId
ORDER BY invocations DESC, agent_id
LIMIT {limit:UInt32}
"""

AGENT_FINDINGS_SQL = """
SELECT agent, countIf(Status = 'open') AS open, count() AS total
FROM findings FINAL
ARRAY JOIN AgentIds AS agent
WHERE LastSeen >= fromUnixTimestamp64Milli({since_ms:Int64})
GROUP BY agent
"""


def agents(
    store, *, since_ms: int, limit: int = 200, config: DetectorConfig | None = None
) -> list[dict[str, Any]]:
    rows = store.rows(AGENTS_SQL, {"since_ms": since_ms, "limit": limit})
    now = now_ms()
    open_spans = Sweep(store, config or DetectorConfig(), now, now).open_spans()
    open_by_agent = Counter(s.agent_id for s in open_spans if s.agent_id)
    findings = {r["agent"]: r for r in store.rows(AGENT_FINDINGS_SQL, {"since_ms": since_ms})}
    out = []
    for r in rows:
        agent = r["agent_id"]
        conf = r["mean_confidence"]
        f = findings.get(agent, {})
        out.append(
            {
                **r,
                "role": r["role"] or None,
                "error_rate": round(r["errors"] / r["spans"], 4) if r["spans"] else 0.0,
                "mean_confidence": None if conf is None or conf != conf else round(float(conf), 4),
                "open_spans": open_by_agent.get(agent, 0),
                "findings": {"open": f.get("open", 0), "total": f.get("total", 0)},
            }
        )
    return out
