"""Triage of findings from the web UI: acknowledged, or muted until a time. One row per finding,
rewritten in place (ReplacingMergeTree on Version; read with FINAL). A cleared triage is a row with
State ''. Kept apart from `findings`, which the detectors rewrite on every sweep."""

from __future__ import annotations

VERSION = 40

STATEMENTS = [
    """CREATE TABLE IF NOT EXISTS finding_triage (
    FindingId String,
    State LowCardinality(String),
    Until Nullable(DateTime64(3, 'UTC')),
    Note String,
    At DateTime64(3, 'UTC'),
    Version UInt64
) ENGINE = ReplacingMergeTree(Version)
ORDER BY FindingId
TTL toDateTime(At) + toIntervalDay(30)""",
]

TTL_TABLES = {"finding_triage": "toDateTime(At)"}
