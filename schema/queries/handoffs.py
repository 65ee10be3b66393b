"""The declared hand-offs of a run or trace: who passed the work to whom, when, in which span.

The resolution pass (schema/resolve.py) writes HandoffFrom/HandoffTo per span from every dialect
(`gen_ai.handoff.*`, `transfer_to_<agent>` tools, OpenInference `handoff to X` spans and
`graph.node.parent_id`). One hand-off can be told twice: the OpenAI Agents SDK has a `handoff to coder`
span under the planner (the departure) and `graph.node.parent_id = planner` on the coder's agent span
(the arrival). `chain()` folds an arrival into the departure it completes, so each hand-off is one step.

Read by trace id (the key of `span_resolution`), so the cost is that of the run's own spans.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from swarmscope import _conventions as c
from swarmscope.schema.params import fill, in_list, list_param
from swarmscope.schema.store import Store
from swarmscope.schema.times import iso

# Past this many hand-offs a run's chain is cut (and says so): a page stays readable.
MAX_HANDOFFS = 500

# Resolution rows of these traces that hand off (latest pass per span), with the span's name and
# operation from the finished span or, while it is open, its pending record. The resolution's
# Timestamp may be cut to microseconds (written from Python datetimes): the spans' bound allows for it,
# and the start time is the span's own.
HANDOFFS_SQL = fill("""
WITH r AS (
    SELECT TraceId, SpanId, Timestamp, AgentId, HandoffFrom, HandoffTo
    FROM (SELECT * FROM span_resolution FINAL WHERE TraceId IN {ids})
    WHERE HandoffTo != ''
)
SELECT r.TraceId AS TraceId, r.SpanId AS SpanId,
    if(s.ns > 0, s.ns, toUnixTimestamp64Nano(r.Timestamp)) AS start_ns,
    r.AgentId AS AgentId, r.HandoffFrom AS HandoffFrom, r.HandoffTo AS HandoffTo,
    s.SpanName AS SpanName, s.Operation AS Operation
FROM r
LEFT ANY JOIN (
    SELECT TraceId, SpanId, SpanName, Operation, toUnixTimestamp64Nano(Timestamp) AS ns FROM spans
    WHERE TraceId IN {ids}
        AND Timestamp BETWEEN (SELECT min(Timestamp) FROM r)
            AND (SELECT max(Timestamp) FROM r) + toIntervalMicrosecond(1)
    UNION ALL
    SELECT TraceId, SpanId, SpanName, Operation, toUnixTimestamp64Nano(StartTime) FROM pending_spans FINAL
    WHERE TraceId IN {ids}
) AS s ON s.TraceId = r.TraceId AND s.SpanId = r.SpanId
ORDER BY start_ns, SpanId
LIMIT {limit:UInt32}
""", ids=in_list("ids"))

_EPOCH = datetime(1970, 1, 1)


@dataclass
class Handoff:
    """One hand-off: `from_agent` passed the work to `to_agent` in span `span_id` (the departure: the
    transfer tool call or hand-off span), received in `to_span_id` when the receiving agent span says so."""

    trace_id: str
    span_id: str
    name: str
    start_ns: int
    from_agent: str
    to_agent: str
    to_span_id: str = ""

    @property
    def start_time(self) -> str:
        return iso(_EPOCH + timedelta(microseconds=self.start_ns // 1000))

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "start_time": self.start_time}


def _is_arrival(row: dict[str, Any]) -> bool:
    """The receiving agent's own span names where the work came from (`graph.node.parent_id`)."""
    return (row["Operation"] == c.OP_AGENT and row["AgentId"] == row["HandoffTo"]
            and row["HandoffFrom"] != row["HandoffTo"])


def chain(rows: list[dict[str, Any]]) -> list[Handoff]:
    """Rows of HANDOFFS_SQL (in start order) as hand-off steps: an arrival completes the latest earlier
    departure of the same pair in its trace that has none yet, else it is a step of its own."""
    steps: list[Handoff] = []
    waiting: dict[tuple[str, str, str], list[Handoff]] = {}
    for row in rows:
        pair = (row["TraceId"], row["HandoffFrom"], row["HandoffTo"])
        if _is_arrival(row) and waiting.get(pair):
            waiting[pair].pop().to_span_id = row["SpanId"]
            continue
        step = Handoff(row["TraceId"], row["SpanId"], row["SpanName"] or "", int(row["start_ns"]),
                       row["HandoffFrom"], row["HandoffTo"], row["SpanId"] if _is_arrival(row) else "")
        steps.append(step)
        if not step.to_span_id:
            waiting.setdefault(pair, []).append(step)
    return steps


def agent_chains(steps: list[Handoff]) -> list[list[str]]:
    """Hand-off steps as chains of agents (A → B → C): a step that starts where the last ended extends
    the chain, any other starts a new one."""
    chains: list[list[str]] = []
    for h in steps:
        if chains and chains[-1][-1] == h.from_agent:
            chains[-1].append(h.to_agent)
        else:
            chains.append([h.from_agent, h.to_agent])
    return chains


def handoffs(store: Store, trace_ids: list[str], limit: int = MAX_HANDOFFS) -> list[Handoff]:
    """The hand-offs of these traces, in time order (as resolved by the last detection sweep)."""
    if not trace_ids:
        return []
    return chain(store.rows(HANDOFFS_SQL, {"ids": list_param(trace_ids), "limit": limit}))
