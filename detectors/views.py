"""Read side of the detectors for the API and the pages: findings, the wait-for graph, the agent table.

The reads that need no detector (traces, tools) are in schema/queries/.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from swarmscope import _conventions as c
from swarmscope.schema.params import fill, in_list, list_param
from swarmscope.schema.resolved_spans import resolved_spans
from swarmscope.schema.sql import first_of
from swarmscope.schema.times import iso_ms, now_ms

from .config import DetectorConfig
from .persist import SELECT_FINDINGS, row_to_finding
from .sweep import OpenSpan, Sweep, fetch_open_spans
from .waitgraph import build_graph

LIST_FINDINGS = SELECT_FINDINGS + """
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
        LIST_FINDINGS,
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
GRAPH_SPANS = fill(
    "Operation = 'wait' OR WaitFor != '' OR WaitTaskId != '' OR WaitResource != '' "
    "OR {held} != '' OR {leader_group} != ''",
    held=first_of("SpanAttributes", c.RESOURCE_HELD), leader_group=first_of("SpanAttributes", c.LEADER_GROUP),
)
GRAPH_OWNERS = fill(
    "(Operation = 'invoke_agent' AND TaskId IN {tasks}) OR SpanId IN {parents}",
    tasks=in_list("tasks"), parents=in_list("parents"),
)

# GRAPH_SPANS and their GRAPH_OWNERS as one condition on the rows of a set of open spans (OPEN_SPANS_SQL's
# columns), for a query that reads the open spans once (detectors/live.py): the owners' task ids and
# parent ids are gathered by windows over the whole set (as 64-bit hashes, like schema/open_spans.py)
# instead of subqueries, each of which would read the open spans again.
GRAPH_ROW = ("(operation = 'wait' OR wait_for != '' OR wait_task_id != '' OR wait_resource != '' "
             "OR held != '' OR leader_group != '')")
GRAPH_OR_OWNER_ROW = fill("""({graph}
    OR (operation = 'invoke_agent' AND has(groupUniqArrayIf(cityHash64(wait_task_id),
        wait_task_id != '' AND wait_for = '') OVER (), cityHash64(task_id)))
    OR has(groupUniqArrayIf(cityHash64(parent_span_id), {graph} AND agent_id = '' AND parent_span_id != '')
        OVER (), cityHash64(span_id)))""", graph=GRAPH_ROW)

def wait_graph(store, config: DetectorConfig | None = None, *, run_id: str | None = None) -> dict[str, Any]:
    """The wait-for graph as of now, reading only the open spans it is made of."""
    config = config or DetectorConfig()
    now = now_ms()
    open_spans = graph_open_spans(store, config, now)
    if run_id:
        open_spans = [s for s in open_spans if s.run_id == run_id]
    graph = build_graph(open_spans)
    return {"as_of": iso_ms(now), **graph.to_dict(now)}


def graph_open_spans(store, config: DetectorConfig, now: int) -> list[OpenSpan]:
    """The open spans the wait-for graph is made of: waits, holders, leaders, and the agents owning them."""
    open_spans = fetch_open_spans(store, config, now, GRAPH_SPANS)
    tasks = sorted({s.wait_task_id for s in open_spans if s.is_wait and s.wait_task_id and not s.wait_for})
    parents = sorted({s.parent_span_id for s in open_spans if not s.agent_id and s.parent_span_id})
    if tasks or parents:
        seen = {(s.trace_id, s.span_id) for s in open_spans}
        owners = {"tasks": list_param(tasks), "parents": list_param(parents)}
        more = fetch_open_spans(store, config, now, GRAPH_OWNERS, owners)
        open_spans += [s for s in more if (s.trace_id, s.span_id) not in seen]
    return open_spans


# Per agent, every span its agent is resolved to (a framework's tool and model spans name none).
SINCE = "Timestamp >= fromUnixTimestamp64Milli({since_ms:Int64})"
AGENTS_SQL = fill("""
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
FROM {resolved}
WHERE AgentId != ''
GROUP BY AgentId
ORDER BY invocations DESC, agent_id
LIMIT {limit:UInt32}
""", resolved=resolved_spans(SINCE, SINCE))

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
