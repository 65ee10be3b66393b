"""span_resolution: per-trace facts about spans, written after ingest by schema/resolve.py.

A span's agent inherited from its nearest agent ancestor, its outermost run, tokens not counted twice,
an input fingerprint and attempt number derived from content, the error message from an exception
event, hand-offs. One row per (TraceId, SpanId), latest ResolvedAt wins: a trace is resolved again
when more of its spans arrive (children come before parents, across requests).

`spans_resolved` is `spans` with those columns taken from the resolution where there is one; readers
that count per agent, per run or per retry read it instead of `spans`.
"""

from __future__ import annotations

VERSION = 21

STATEMENTS = [
    """CREATE TABLE IF NOT EXISTS span_resolution (
    TraceId String,
    SpanId String,
    Timestamp DateTime64(9),
    AgentId String,
    AgentName String,
    RunId String,
    InputTokens UInt64,
    OutputTokens UInt64,
    InputHash String,
    Attempt UInt32,
    ErrorMessage String,
    HandoffFrom String,
    HandoffTo String,
    ResolvedAt DateTime64(3) DEFAULT now64(3)
) ENGINE = ReplacingMergeTree(ResolvedAt)
PARTITION BY toDate(Timestamp)
ORDER BY (TraceId, SpanId)
TTL toDateTime(Timestamp) + toIntervalDay(30)""",
    """CREATE VIEW IF NOT EXISTS spans_resolved AS
SELECT s.* REPLACE (
        if(r.SpanId != '', r.AgentId, s.AgentId) AS AgentId,
        if(r.SpanId != '', r.AgentName, s.AgentName) AS AgentName,
        if(r.SpanId != '', r.RunId, s.RunId) AS RunId,
        if(r.SpanId != '', r.InputTokens, s.InputTokens) AS InputTokens,
        if(r.SpanId != '', r.OutputTokens, s.OutputTokens) AS OutputTokens,
        if(r.SpanId != '', r.InputHash, s.InputHash) AS InputHash,
        if(r.SpanId != '', r.Attempt, s.Attempt) AS Attempt),
    if(r.SpanId != '' AND r.ErrorMessage != '', r.ErrorMessage, s.StatusMessage) AS ErrorMessage,
    r.HandoffFrom AS HandoffFrom,
    r.HandoffTo AS HandoffTo
FROM spans AS s
LEFT ANY JOIN (SELECT * FROM span_resolution FINAL) AS r ON s.TraceId = r.TraceId AND s.SpanId = r.SpanId""",
]

TTL_TABLES = {"span_resolution": "toDateTime(Timestamp)"}
