"""Alerts: each instance's state (rewritten in place), its transitions, and the delivery log.

`alert_state` holds one row per (rule, instance fingerprint), the latest Version wins (read FINAL);
a rule's own health (ok / nodata / error) is the row with an empty Fingerprint. Keeping the state
and when it was last notified here is what lets a restarted server neither forget a firing alert nor
send it again before its repeat interval.
"""

from __future__ import annotations

VERSION = 30

STATEMENTS = [
    """CREATE TABLE IF NOT EXISTS alert_state (
    Rule String,
    Fingerprint String,
    Labels Map(String, String),
    Annotations Map(String, String),
    State LowCardinality(String),
    Value Nullable(Float64),
    ActiveAt Nullable(DateTime64(3, 'UTC')),
    FiredAt Nullable(DateTime64(3, 'UTC')),
    ResolvedAt Nullable(DateTime64(3, 'UTC')),
    LastTrueAt Nullable(DateTime64(3, 'UTC')),
    LastEvalAt DateTime64(3, 'UTC'),
    NotifiedState LowCardinality(String),
    NotifiedAt Nullable(DateTime64(3, 'UTC')),
    Link String,
    Error String,
    Version UInt64
) ENGINE = ReplacingMergeTree(Version)
ORDER BY (Rule, Fingerprint)
TTL toDateTime(LastEvalAt) + toIntervalDay(30)""",
    """CREATE TABLE IF NOT EXISTS alert_history (
    At DateTime64(3, 'UTC'),
    Rule String,
    Fingerprint String,
    FromState LowCardinality(String),
    ToState LowCardinality(String),
    Labels Map(String, String),
    Value Nullable(Float64)
) ENGINE = MergeTree
PARTITION BY toYYYYMM(At)
ORDER BY (Rule, At)
TTL toDateTime(At) + toIntervalDay(30)""",
    """CREATE TABLE IF NOT EXISTS alert_deliveries (
    At DateTime64(3, 'UTC'),
    Receiver String,
    ReceiverType LowCardinality(String),
    Rule String,
    Status LowCardinality(String),
    Alerts UInt32,
    Attempt UInt32,
    Result LowCardinality(String),
    HttpStatus UInt16,
    Error String,
    DurationMs Float64
) ENGINE = MergeTree
PARTITION BY toYYYYMM(At)
ORDER BY (Receiver, At)
TTL toDateTime(At) + toIntervalDay(30)""",
]

# Retention (Store.set_retention) applies to every table. A live instance is rewritten on every
# evaluation, so only instances no rule has evaluated for the retention period age out of alert_state.
TTL_TABLES = {"alert_state": "toDateTime(LastEvalAt)", "alert_history": "toDateTime(At)",
              "alert_deliveries": "toDateTime(At)"}
