"""Core tables: the OTLP ingest path, spans, pending spans, the trace index and tool aggregates.

Data flow inside ClickHouse (every arrow is a materialized view, so Python never touches a span):

    otlp_ingest (Null; one row per ExportTraceServiceRequest, parsed by ClickHouse from protobuf)
      -> span_stream (Null; one flat, normalized row per span, pending or finished)
           -> spans          finished spans, otel_traces columns + derived columns
           -> pending_spans  open-span records, latest heartbeat wins
           -> traces         trace index (time range, root, services, agents, counts)
           -> tool_minutes   per-minute, per-tool calls/errors/latency

The embedded store skips the first arrow for ingest log segments: Store.insert_otlp_files runs the same
flattening SELECT (schema/normalize.py) straight from the segment file into span_stream.
"""

from __future__ import annotations

from ..normalize import (
    ATTRS_MAP,
    DERIVED_COLUMNS,
    DERIVED_NAMES,
    FLATTEN_SELECT,
    PENDING_EXTRA,
    SPAN_COLUMNS,
    SPAN_NAMES,
    columns_sql,
)
from ..sql import ANY_VALUE, KEY_VALUES, OTLP_REQUEST_COLUMNS

VERSION = 1


STATEMENTS = [
    f"CREATE TABLE IF NOT EXISTS otlp_ingest ({OTLP_REQUEST_COLUMNS}) ENGINE = Null",
    f"""CREATE TABLE IF NOT EXISTS span_stream (
    {columns_sql(SPAN_COLUMNS + PENDING_EXTRA)}
) ENGINE = Null""",
    f"""CREATE TABLE IF NOT EXISTS spans (
    {columns_sql(SPAN_COLUMNS)},
    InsertedAt DateTime64(3) DEFAULT now64(3),
    -- Trace ids looked up without time bounds (Grafana, ad hoc). RunId/AgentId filters go through the
    -- trace index or a time window instead: their bloom filters cost ~20% of every insert.
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1
) ENGINE = ReplacingMergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (toStartOfTenMinutes(Timestamp), TraceId, SpanId)
TTL toDateTime(Timestamp) + toIntervalDay(30)
SETTINGS ttl_only_drop_parts = 1""",
    f"""CREATE TABLE IF NOT EXISTS pending_spans (
    TraceId String,
    SpanId String,
    ParentSpanId String,
    SpanName LowCardinality(String),
    SpanKind LowCardinality(String),
    ServiceName LowCardinality(String),
    StartTime DateTime64(9),
    LastSeen DateTime64(9),
    HeartbeatIntervalMs Nullable(UInt64),
    ResourceAttributes {ATTRS_MAP},
    SpanAttributes {ATTRS_MAP},
    {columns_sql(DERIVED_COLUMNS)},
    InsertedAt DateTime64(3) DEFAULT now64(3)
) ENGINE = ReplacingMergeTree(LastSeen)
PARTITION BY toDate(StartTime)
ORDER BY (TraceId, SpanId)
TTL toDateTime(LastSeen) + toIntervalDay(30)""",
    """CREATE TABLE IF NOT EXISTS traces (
    TraceId String,
    Start SimpleAggregateFunction(min, DateTime64(9)),
    End SimpleAggregateFunction(max, DateTime64(9)),
    SpanIds AggregateFunction(uniqExact, String),
    ErrorSpanIds AggregateFunction(uniqExact, String),
    RootName SimpleAggregateFunction(max, String),
    RootService SimpleAggregateFunction(max, String),
    Services SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    Agents SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    RunIds SimpleAggregateFunction(groupUniqArrayArray, Array(String))
) ENGINE = AggregatingMergeTree
PARTITION BY toDate(Start)
ORDER BY TraceId
TTL toDateTime(Start) + toIntervalDay(30)""",
    """CREATE TABLE IF NOT EXISTS tool_minutes (
    Minute DateTime,
    ToolName LowCardinality(String),
    ServiceName LowCardinality(String),
    Calls SimpleAggregateFunction(sum, UInt64),
    Errors SimpleAggregateFunction(sum, UInt64),
    Timeouts SimpleAggregateFunction(sum, UInt64),
    Retries SimpleAggregateFunction(sum, UInt64),
    DurationQuantiles AggregateFunction(quantiles(0.5, 0.95, 0.99), UInt64)
) ENGINE = AggregatingMergeTree
PARTITION BY toDate(Minute)
ORDER BY (ToolName, Minute, ServiceName)
TTL Minute + toIntervalDay(30)""",
    f"CREATE MATERIALIZED VIEW IF NOT EXISTS span_stream_mv TO span_stream AS {FLATTEN_SELECT}",
    f"""CREATE MATERIALIZED VIEW IF NOT EXISTS spans_mv TO spans AS
SELECT {SPAN_NAMES} FROM span_stream WHERE NOT IsPending""",
    f"""CREATE MATERIALIZED VIEW IF NOT EXISTS pending_spans_mv TO pending_spans AS
SELECT TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName,
    Timestamp AS StartTime,
    fromUnixTimestamp64Nano(toUnixTimestamp64Nano(Timestamp) + toInt64(Duration)) AS LastSeen,
    HeartbeatIntervalMs, ResourceAttributes, SpanAttributes, {DERIVED_NAMES}
FROM span_stream WHERE IsPending AND SpanId != ''""",
    """CREATE MATERIALIZED VIEW IF NOT EXISTS traces_mv TO traces AS
SELECT TraceId,
    min(Timestamp) AS Start,
    max(fromUnixTimestamp64Nano(toUnixTimestamp64Nano(Timestamp) + toInt64(Duration))) AS End,
    uniqExactStateIf(SpanId, NOT IsPending) AS SpanIds,
    uniqExactStateIf(SpanId, NOT IsPending AND StatusCode = 'Error') AS ErrorSpanIds,
    maxIf(SpanName, ParentSpanId = '') AS RootName,
    maxIf(ServiceName, ParentSpanId = '') AS RootService,
    groupUniqArrayIf(ServiceName, ServiceName != '') AS Services,
    groupUniqArrayIf(AgentName, AgentName != '') AS Agents,
    groupUniqArrayIf(RunId, RunId != '') AS RunIds
FROM span_stream GROUP BY TraceId""",
    """CREATE MATERIALIZED VIEW IF NOT EXISTS tool_minutes_mv TO tool_minutes AS
SELECT toStartOfMinute(Timestamp) AS Minute, ToolName, ServiceName,
    count() AS Calls,
    countIf(StatusCode = 'Error') AS Errors,
    countIf(TimedOut) AS Timeouts,
    countIf(Attempt > 1) AS Retries,
    quantilesState(0.5, 0.95, 0.99)(Duration) AS DurationQuantiles
FROM span_stream WHERE NOT IsPending AND ToolName != ''
GROUP BY Minute, ToolName, ServiceName""",
]

# Retention applies to every table with a TTL; see Store.set_retention.
TTL_TABLES = {
    "spans": "toDateTime(Timestamp)",
    "pending_spans": "toDateTime(LastSeen)",
    "traces": "toDateTime(Start)",
    "tool_minutes": "Minute",
}

__all__ = ["VERSION", "STATEMENTS", "TTL_TABLES", "ANY_VALUE", "KEY_VALUES"]
