"""Spans with their resolved values (schema/resolve.py), for readers that count per agent, run or retry.

`resolved_spans(where, bounds)` is a subquery: the rows of `spans` matching `where`, with AgentId,
AgentName, RunId, InputTokens, OutputTokens, InputHash (and InputHash64), Attempt taken from
`span_resolution` where the span has a resolution row, plus ErrorMessage, HandoffFrom and HandoffTo
(the columns of the `spans_resolved` view, m021) and OwnInputTokens (the span's own figure, where the
resolved one is 0 because its descendants report the same tokens: the context an agent was given).
Unlike that view, it reads only the resolution rows inside `bounds` (a condition on TraceId/Timestamp
true for every span `where` selects: the time window, the trace ids), not the whole table: a time
bound reads only its days' partitions, a trace bound is a primary-key read.
Measurements: docs/detectors.md, "Cost".

Conditions on resolved columns (`AgentId != ''`) belong outside, on the subquery's rows: inside
`where` they would see the unresolved values.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .params import fill, in_list, list_param

# The two sides meet on one UInt64 (the ids' hash): joining on the two id strings cost twice as much.
_RESOLVED_SPANS = """(
SELECT s.* EXCEPT (_key) REPLACE (
        if(r._key != 0, r.AgentId, s.AgentId) AS AgentId,
        if(r._key != 0, r.AgentName, s.AgentName) AS AgentName,
        if(r._key != 0, r.RunId, s.RunId) AS RunId,
        if(r._key != 0, r.InputTokens, s.InputTokens) AS InputTokens,
        if(r._key != 0, r.OutputTokens, s.OutputTokens) AS OutputTokens,
        if(r._key != 0, r.InputHash, s.InputHash) AS InputHash,
        if(r._key != 0, if(r.InputHash = '', 0, cityHash64(r.InputHash)), s.InputHash64) AS InputHash64,
        if(r._key != 0, r.Attempt, s.Attempt) AS Attempt),
    s.InputTokens AS OwnInputTokens,
    if(r._key != 0 AND r.ErrorMessage != '', r.ErrorMessage, s.StatusMessage) AS ErrorMessage,
    r.HandoffFrom AS HandoffFrom,
    r.HandoffTo AS HandoffTo
FROM (SELECT *, InputHash64, cityHash64(TraceId, SpanId) AS _key FROM spans WHERE {where}) AS s
LEFT ANY JOIN (
    SELECT cityHash64(TraceId, SpanId) AS _key, AgentId, AgentName, RunId, InputTokens, OutputTokens,
        InputHash, Attempt, ErrorMessage, HandoffFrom, HandoffTo
    FROM span_resolution FINAL
    WHERE {bounds}
) AS r ON s._key = r._key
)"""


# resolved_spans' columns where no span has a resolution row (no join to pay for).
_AS_RESOLVED = """(
SELECT *, InputHash64, InputTokens AS OwnInputTokens, StatusMessage AS ErrorMessage, '' AS HandoffFrom,
    '' AS HandoffTo
FROM spans WHERE {where}
)"""


def unresolved_spans(where: str) -> str:
    """resolved_spans() for spans known to have no resolution rows: the same columns, no join."""
    return fill(_AS_RESOLVED, where=where)


def traces_of(where: str, bounds: str) -> str:
    """Bounds for a `where` that few spans match: the traces of those spans (within `bounds`), a
    primary-key read of the resolution instead of a whole window's (the join reads its right side in
    full before the left)."""
    return fill(_TRACES_OF, where=where, bounds=bounds)


_TRACES_OF = "{bounds} AND TraceId IN (SELECT TraceId FROM spans WHERE {where})"


def resolved_spans(where: str, bounds: str) -> str:
    """SQL (a parenthesized subquery, for FROM) of the spans matching `where` with resolved values.
    `bounds`, a condition on TraceId and Timestamp only (the columns both tables have) that holds
    for every span `where` selects, limits the resolution rows read."""
    return fill(_RESOLVED_SPANS, where=where, bounds=bounds)


RESOLUTION_OF_TRACES = fill("""
SELECT TraceId, SpanId, AgentId, AgentName, RunId, InputTokens, OutputTokens, InputHash, Attempt,
    ErrorMessage, HandoffFrom, HandoffTo
FROM span_resolution FINAL WHERE TraceId IN {ids}
""", ids=in_list("ids"))
# The span columns a resolution row replaces (ErrorMessage, HandoffFrom/To are added beside them).
REPLACED = ("AgentId", "AgentName", "RunId", "InputTokens", "OutputTokens", "InputHash", "Attempt")


# Span rows of a few traces (a subquery with TraceId, SpanId and the REPLACED columns but InputHash and
# Attempt, keyed by trace ids bound as `ids`) with their resolved agents, runs and tokens. The join
# reads the traces' resolution by primary key; for a 10,000-span trace it costs ~8 ms where reading the
# resolution into Python and laying it over each row cost ~20 ms more.
_WITH_RESOLVED_AGENTS = """
SELECT s.* REPLACE (
        if(r.SpanId != '', r.AgentId, s.AgentId) AS AgentId,
        if(r.SpanId != '', r.AgentName, s.AgentName) AS AgentName,
        if(r.SpanId != '', r.RunId, s.RunId) AS RunId,
        if(r.SpanId != '', r.InputTokens, s.InputTokens) AS InputTokens,
        if(r.SpanId != '', r.OutputTokens, s.OutputTokens) AS OutputTokens)
FROM ({rows}) AS s
LEFT ANY JOIN (
    SELECT TraceId, SpanId, AgentId, AgentName, RunId, InputTokens, OutputTokens
    FROM span_resolution FINAL WHERE TraceId IN {ids}
) AS r ON s.TraceId = r.TraceId AND s.SpanId = r.SpanId"""


def with_resolved_agents(rows: str) -> str:
    """SQL of `rows` (span rows of the traces bound as `ids`) with resolved agents, runs and tokens."""
    return fill(_WITH_RESOLVED_AGENTS, rows=rows, ids=in_list("ids"))


def resolution_of(store, trace_ids: Iterable[str]) -> dict[tuple[str, str], dict[str, Any]]:
    """{(trace id, span id): resolution row} of these traces (a primary-key read)."""
    ids = sorted(set(trace_ids))
    if not ids:
        return {}
    rows = store.rows(RESOLUTION_OF_TRACES, {"ids": list_param(ids)})
    return {(r["TraceId"], r["SpanId"]): r for r in rows}


def overlay(row: dict[str, Any], resolution: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    """A span row (of `spans` or `pending_spans`) with its resolved values, in place; the row gains
    ErrorMessage, HandoffFrom and HandoffTo as `resolved_spans` gives them."""
    found = resolution.get((row["TraceId"], row["SpanId"]))
    status = row.get("StatusMessage", "")
    if found is None:
        row.update(ErrorMessage=status, HandoffFrom="", HandoffTo="")
        return row
    row.update({k: found[k] for k in REPLACED if k in row})
    row.update(ErrorMessage=found["ErrorMessage"] or status, HandoffFrom=found["HandoffFrom"],
               HandoffTo=found["HandoffTo"])
    return row
