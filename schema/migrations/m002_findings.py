"""Findings: one row per detected condition, rewritten in place (ReplacingMergeTree on Version).

A finding's Id is a stable hash of its kind and the identity of its condition (Key), so the same
condition seen by the next sweep rewrites the same finding: LastSeen moves, FirstSeen stays, and
Status turns `resolved` (with ResolvedAt) once the condition clears. Read with FINAL.
"""

from __future__ import annotations

VERSION = 2

STATEMENTS = [
    """CREATE TABLE IF NOT EXISTS findings (
    Id String,
    Kind LowCardinality(String),
    Key String,
    Severity LowCardinality(String),
    TraceId String,
    RunId String,
    SpanIds Array(String),
    AgentIds Array(String),
    Summary String,
    Evidence String,
    FirstSeen DateTime64(3, 'UTC'),
    LastSeen DateTime64(3, 'UTC'),
    Status LowCardinality(String),
    ResolvedAt Nullable(DateTime64(3, 'UTC')),
    Version UInt64,
    INDEX idx_trace TraceId TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = ReplacingMergeTree(Version)
ORDER BY Id
TTL toDateTime(LastSeen) + toIntervalDay(30)""",
]

# Retention (Store.set_retention) applies to findings too.
TTL_TABLES = {"findings": "toDateTime(LastSeen)"}
