# ruff: noqa: E501, W291
# (frozen SQL: the text this migration runs, long lines and trailing spaces included)
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

Frozen: the SQL text as run since this migration was last edited in place (see m010 for the
stores created before that). Never edit it; change the schema with a new migration.
"""

from __future__ import annotations

VERSION = 1

OTLP_INGEST = r"""CREATE TABLE IF NOT EXISTS otlp_ingest (resource_spans Array(Tuple(
    resource Tuple(attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string_value' = 1, 'bool_value' = 2, 'int_value' = 3, 'double_value' = 4, 'array_value' = 5, 'kvlist_value' = 6, 'bytes_value' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string_value' = 1, 'bool_value' = 2, 'int_value' = 3, 'double_value' = 4, 'array_value' = 5, 'kvlist_value' = 6, 'bytes_value' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String))))))),
    scope_spans Array(Tuple(
        scope Tuple(name String, version String),
        spans Array(Tuple(
            trace_id String, span_id String, trace_state String, parent_span_id String, name String,
            kind Int32, start_time_unix_nano UInt64, end_time_unix_nano UInt64,
            attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string_value' = 1, 'bool_value' = 2, 'int_value' = 3, 'double_value' = 4, 'array_value' = 5, 'kvlist_value' = 6, 'bytes_value' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string_value' = 1, 'bool_value' = 2, 'int_value' = 3, 'double_value' = 4, 'array_value' = 5, 'kvlist_value' = 6, 'bytes_value' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String)))))),
            events Array(Tuple(time_unix_nano UInt64, name String, attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string_value' = 1, 'bool_value' = 2, 'int_value' = 3, 'double_value' = 4, 'array_value' = 5, 'kvlist_value' = 6, 'bytes_value' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string_value' = 1, 'bool_value' = 2, 'int_value' = 3, 'double_value' = 4, 'array_value' = 5, 'kvlist_value' = 6, 'bytes_value' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String)))))))),
            links Array(Tuple(trace_id String, span_id String, trace_state String, attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string_value' = 1, 'bool_value' = 2, 'int_value' = 3, 'double_value' = 4, 'array_value' = 5, 'kvlist_value' = 6, 'bytes_value' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string_value' = 1, 'bool_value' = 2, 'int_value' = 3, 'double_value' = 4, 'array_value' = 5, 'kvlist_value' = 6, 'bytes_value' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String)))))))),
            status Tuple(message String, code Int32)))))))) ENGINE = Null"""

SPAN_STREAM = r"""CREATE TABLE IF NOT EXISTS span_stream (
    Timestamp DateTime64(9),
    TraceId String,
    SpanId String,
    ParentSpanId String,
    TraceState String,
    SpanName LowCardinality(String),
    SpanKind LowCardinality(String),
    ServiceName LowCardinality(String),
    ResourceAttributes Map(LowCardinality(String), String),
    ScopeName String,
    ScopeVersion String,
    SpanAttributes Map(LowCardinality(String), String),
    Duration UInt64,
    StatusCode LowCardinality(String),
    StatusMessage String,
    `Events.Timestamp` Array(DateTime64(9)),
    `Events.Name` Array(LowCardinality(String)),
    `Events.Attributes` Array(Map(LowCardinality(String), String)),
    `Links.TraceId` Array(String),
    `Links.SpanId` Array(String),
    `Links.TraceState` Array(String),
    `Links.Attributes` Array(Map(LowCardinality(String), String)),
    Operation LowCardinality(String),
    AgentId String,
    AgentName String,
    AgentRole LowCardinality(String),
    ToolName LowCardinality(String),
    ToolCallId String,
    Model LowCardinality(String),
    InputTokens UInt64,
    OutputTokens UInt64,
    Confidence Nullable(Float64),
    RunId String,
    TaskId String,
    TaskStatus LowCardinality(String),
    WaitFor String,
    WaitTaskId String,
    WaitResource String,
    WaitTimeoutMs Nullable(UInt64),
    InputHash String,
    OutputHash String,
    Attempt UInt32,
    IdempotencyKey String,
    ContextBudgetTokens UInt64,
    ExitCode Nullable(Int64),
    ValidationPassed Nullable(Bool),
    TestCommand String,
    ErrorType LowCardinality(String),
    TimedOut UInt8,
    IsPending UInt8,
    HeartbeatIntervalMs Nullable(UInt64)
) ENGINE = Null"""

SPANS = r"""CREATE TABLE IF NOT EXISTS spans (
    Timestamp DateTime64(9),
    TraceId String,
    SpanId String,
    ParentSpanId String,
    TraceState String,
    SpanName LowCardinality(String),
    SpanKind LowCardinality(String),
    ServiceName LowCardinality(String),
    ResourceAttributes Map(LowCardinality(String), String),
    ScopeName String,
    ScopeVersion String,
    SpanAttributes Map(LowCardinality(String), String),
    Duration UInt64,
    StatusCode LowCardinality(String),
    StatusMessage String,
    `Events.Timestamp` Array(DateTime64(9)),
    `Events.Name` Array(LowCardinality(String)),
    `Events.Attributes` Array(Map(LowCardinality(String), String)),
    `Links.TraceId` Array(String),
    `Links.SpanId` Array(String),
    `Links.TraceState` Array(String),
    `Links.Attributes` Array(Map(LowCardinality(String), String)),
    Operation LowCardinality(String),
    AgentId String,
    AgentName String,
    AgentRole LowCardinality(String),
    ToolName LowCardinality(String),
    ToolCallId String,
    Model LowCardinality(String),
    InputTokens UInt64,
    OutputTokens UInt64,
    Confidence Nullable(Float64),
    RunId String,
    TaskId String,
    TaskStatus LowCardinality(String),
    WaitFor String,
    WaitTaskId String,
    WaitResource String,
    WaitTimeoutMs Nullable(UInt64),
    InputHash String,
    OutputHash String,
    Attempt UInt32,
    IdempotencyKey String,
    ContextBudgetTokens UInt64,
    ExitCode Nullable(Int64),
    ValidationPassed Nullable(Bool),
    TestCommand String,
    ErrorType LowCardinality(String),
    TimedOut UInt8,
    InsertedAt DateTime64(3) DEFAULT now64(3),
    -- Trace ids looked up without time bounds (Grafana, ad hoc). RunId/AgentId filters go through the
    -- trace index or a time window instead: their bloom filters cost ~20% of every insert.
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1
) ENGINE = ReplacingMergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (toStartOfTenMinutes(Timestamp), TraceId, SpanId)
TTL toDateTime(Timestamp) + toIntervalDay(30)
SETTINGS ttl_only_drop_parts = 1"""

PENDING_SPANS = r"""CREATE TABLE IF NOT EXISTS pending_spans (
    TraceId String,
    SpanId String,
    ParentSpanId String,
    SpanName LowCardinality(String),
    SpanKind LowCardinality(String),
    ServiceName LowCardinality(String),
    StartTime DateTime64(9),
    LastSeen DateTime64(9),
    HeartbeatIntervalMs Nullable(UInt64),
    ResourceAttributes Map(LowCardinality(String), String),
    SpanAttributes Map(LowCardinality(String), String),
    Operation LowCardinality(String),
    AgentId String,
    AgentName String,
    AgentRole LowCardinality(String),
    ToolName LowCardinality(String),
    ToolCallId String,
    Model LowCardinality(String),
    InputTokens UInt64,
    OutputTokens UInt64,
    Confidence Nullable(Float64),
    RunId String,
    TaskId String,
    TaskStatus LowCardinality(String),
    WaitFor String,
    WaitTaskId String,
    WaitResource String,
    WaitTimeoutMs Nullable(UInt64),
    InputHash String,
    OutputHash String,
    Attempt UInt32,
    IdempotencyKey String,
    ContextBudgetTokens UInt64,
    ExitCode Nullable(Int64),
    ValidationPassed Nullable(Bool),
    TestCommand String,
    ErrorType LowCardinality(String),
    TimedOut UInt8,
    InsertedAt DateTime64(3) DEFAULT now64(3)
) ENGINE = ReplacingMergeTree(LastSeen)
PARTITION BY toDate(StartTime)
ORDER BY (TraceId, SpanId)
TTL toDateTime(LastSeen) + toIntervalDay(30)"""

TRACES = r"""CREATE TABLE IF NOT EXISTS traces (
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
TTL toDateTime(Start) + toIntervalDay(30)"""

TOOL_MINUTES = r"""CREATE TABLE IF NOT EXISTS tool_minutes (
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
TTL Minute + toIntervalDay(30)"""

SPAN_STREAM_MV = r"""CREATE MATERIALIZED VIEW IF NOT EXISTS span_stream_mv TO span_stream AS 
SELECT
    fromUnixTimestamp64Nano(toInt64(start_ns)) AS Timestamp,
    lower(hex(trace_id)) AS TraceId,
    if(IsPending, raw_parent_id, lower(hex(span_id))) AS SpanId,
    if(IsPending, if(match(arrayFirst(x -> x != '', [a['swarmscope.pending_parent_id'], a['logfire.pending_parent_id']]), '^0*$'), '', lower(arrayFirst(x -> x != '', [a['swarmscope.pending_parent_id'], a['logfire.pending_parent_id']]))), raw_parent_id)
        AS ParentSpanId,
    trace_state AS TraceState,
    name AS SpanName,
    ['Unspecified', 'Internal', 'Server', 'Client', 'Producer', 'Consumer'][kind + 1] AS SpanKind,
    r['service.name'] AS ServiceName,
    r AS ResourceAttributes,
    scope_name AS ScopeName,
    scope_version AS ScopeVersion,
    a AS SpanAttributes,
    if(end_ns > start_ns, end_ns - start_ns, 0) AS Duration,
    ['Unset', 'Ok', 'Error'][status_code + 1] AS StatusCode,
    status_message AS StatusMessage,
    events_time AS `Events.Timestamp`,
    events_name AS `Events.Name`,
    events_attributes AS `Events.Attributes`,
    links_trace_id AS `Links.TraceId`,
    links_span_id AS `Links.SpanId`,
    links_trace_state AS `Links.TraceState`,
    links_attributes AS `Links.Attributes`,
    multiIf(a['gen_ai.operation.name'] != '', a['gen_ai.operation.name'], a['openinference.span.kind'] != '', transform(upper(a['openinference.span.kind']), ['AGENT', 'TOOL', 'LLM', 'CHAIN', 'RETRIEVER', 'EMBEDDING', 'RERANKER', 'GUARDRAIL', 'EVALUATOR'], ['invoke_agent', 'execute_tool', 'chat', 'chain', 'retrieval', 'embeddings', 'rerank', 'guardrail', 'evaluate'], lower(a['openinference.span.kind'])), a['traceloop.span.kind'] IN ('agent', 'tool'), if(a['traceloop.span.kind'] = 'agent', 'invoke_agent', 'execute_tool'), a['swarmscope.wait.for'] != '' OR a['swarmscope.wait.task_id'] != '' OR a['swarmscope.wait.resource'] != '', 'wait', '') AS Operation,
    multiIf(a['gen_ai.agent.id'] != '', a['gen_ai.agent.id'], a['gen_ai.agent.name'] != '', a['gen_ai.agent.name'], a['agent.name'] != '', a['agent.name'], a['graph.node.id']) AS AgentId,
    multiIf(a['gen_ai.agent.name'] != '', a['gen_ai.agent.name'], a['agent.name'] != '', a['agent.name'], a['gen_ai.agent.id'] != '', a['gen_ai.agent.id'], a['graph.node.id']) AS AgentName,
    a['swarmscope.agent.role'] AS AgentRole,
    arrayFirst(x -> x != '', [a['gen_ai.tool.name'], a['tool.name'], if(a['traceloop.span.kind'] = 'tool', a['traceloop.entity.name'], '')]) AS ToolName,
    multiIf(a['gen_ai.tool.call.id'] != '', a['gen_ai.tool.call.id'], a['tool.id'] != '', a['tool.id'], a['tool_call.id']) AS ToolCallId,
    multiIf(a['gen_ai.request.model'] != '', a['gen_ai.request.model'], a['llm.model_name']) AS Model,
    toUInt64OrZero(multiIf(a['gen_ai.usage.input_tokens'] != '', a['gen_ai.usage.input_tokens'], a['gen_ai.usage.prompt_tokens'] != '', a['gen_ai.usage.prompt_tokens'], a['llm.token_count.prompt'])) AS InputTokens,
    toUInt64OrZero(multiIf(a['gen_ai.usage.output_tokens'] != '', a['gen_ai.usage.output_tokens'], a['gen_ai.usage.completion_tokens'] != '', a['gen_ai.usage.completion_tokens'], a['llm.token_count.completion'])) AS OutputTokens,
    toFloat64OrNull(a['swarmscope.confidence']) AS Confidence,
    arrayFirst(x -> x != '', [a['swarmscope.run.id'], a['gen_ai.conversation.id'], a['session.id'], r['swarmscope.run.id'], r['session.id']]) AS RunId,
    multiIf(a['swarmscope.task.id'] != '', a['swarmscope.task.id'], a['a2a.task.id']) AS TaskId,
    lower(arrayFirst(x -> x != '', [a['swarmscope.task.status'], a['a2a.task.state']])) AS TaskStatus,
    a['swarmscope.wait.for'] AS WaitFor,
    a['swarmscope.wait.task_id'] AS WaitTaskId,
    a['swarmscope.wait.resource'] AS WaitResource,
    toUInt64OrNull(a['swarmscope.wait.timeout_ms']) AS WaitTimeoutMs,
    a['swarmscope.input.hash'] AS InputHash,
    a['swarmscope.output.hash'] AS OutputHash,
    toUInt32OrZero(a['swarmscope.attempt']) AS Attempt,
    a['swarmscope.idempotency_key'] AS IdempotencyKey,
    toUInt64OrZero(a['swarmscope.context.budget_tokens']) AS ContextBudgetTokens,
    toInt64OrNull(a['swarmscope.evidence.exit_code']) AS ExitCode,
    multiIf(lower(a['swarmscope.evidence.validation.passed']) IN ('true', '1'), true, lower(a['swarmscope.evidence.validation.passed']) IN ('false', '0'), false, NULL) AS ValidationPassed,
    a['swarmscope.evidence.test_command'] AS TestCommand,
    multiIf(a['error.type'] != '', a['error.type'], a['exception.type']) AS ErrorType,
    positionCaseInsensitive(a['error.type'], 'timeout') > 0 OR a['swarmscope.task.status'] = 'timeout' OR positionCaseInsensitive(StatusMessage, 'timed out') > 0 OR positionCaseInsensitive(StatusMessage, 'timeout') > 0 AS TimedOut,
    (a['swarmscope.span_type'] = 'pending' OR a['logfire.span_type'] = 'pending_span') AS IsPending,
    toUInt64OrNull(arrayFirst(x -> x != '', [a['swarmscope.heartbeat.interval_ms'],
        a['logfire.heartbeat.interval_ms']])) AS HeartbeatIntervalMs
FROM (
    -- Maps are built once here: an alias in the outer query would be re-expanded at every use.
    SELECT
        s.trace_id AS trace_id, s.span_id AS span_id, s.trace_state AS trace_state, s.name AS name,
        s.kind AS kind, s.start_time_unix_nano AS start_ns, s.end_time_unix_nano AS end_ns,
        s.status.code AS status_code, s.status.message AS status_message,
        if(s.parent_span_id = '' OR s.parent_span_id = repeat('\0', length(s.parent_span_id)), '', lower(hex(s.parent_span_id))) AS raw_parent_id,
        ss.scope.name AS scope_name, ss.scope.version AS scope_version,
        CAST(mapFromArrays(rs.resource.attributes.key, arrayMap((t, sv, iv, dv, bv, yv, av) -> left(if(t = 'array_value', toJSONString(arrayMap(x -> multiIf(x.value = 'string_value', x.string_value, x.value = 'int_value', toString(x.int_value), x.value = 'double_value', toString(x.double_value), x.value = 'bool_value', if(x.bool_value, 'true', 'false'), x.value = 'bytes_value', base64Encode(x.bytes_value), ''), av)), multiIf(t = 'string_value', sv, t = 'int_value', toString(iv), t = 'double_value', toString(dv), t = 'bool_value', if(bv, 'true', 'false'), t = 'bytes_value', base64Encode(yv), '')), 65536), rs.resource.attributes.value.value, rs.resource.attributes.value.string_value, rs.resource.attributes.value.int_value, rs.resource.attributes.value.double_value, rs.resource.attributes.value.bool_value, rs.resource.attributes.value.bytes_value, rs.resource.attributes.value.array_value.values)), 'Map(LowCardinality(String), String)') AS r,
        CAST(mapFromArrays(s.attributes.key, arrayMap((t, sv, iv, dv, bv, yv, av) -> left(if(t = 'array_value', toJSONString(arrayMap(x -> multiIf(x.value = 'string_value', x.string_value, x.value = 'int_value', toString(x.int_value), x.value = 'double_value', toString(x.double_value), x.value = 'bool_value', if(x.bool_value, 'true', 'false'), x.value = 'bytes_value', base64Encode(x.bytes_value), ''), av)), multiIf(t = 'string_value', sv, t = 'int_value', toString(iv), t = 'double_value', toString(dv), t = 'bool_value', if(bv, 'true', 'false'), t = 'bytes_value', base64Encode(yv), '')), 65536), s.attributes.value.value, s.attributes.value.string_value, s.attributes.value.int_value, s.attributes.value.double_value, s.attributes.value.bool_value, s.attributes.value.bytes_value, s.attributes.value.array_value.values)), 'Map(LowCardinality(String), String)') AS a,
        arrayMap(e -> fromUnixTimestamp64Nano(toInt64(e.time_unix_nano)), s.events) AS events_time,
        arrayMap(e -> e.name, s.events) AS events_name,
        arrayMap(e -> CAST(mapFromArrays(e.attributes.key, arrayMap((t, sv, iv, dv, bv, yv, av) -> left(if(t = 'array_value', toJSONString(arrayMap(x -> multiIf(x.value = 'string_value', x.string_value, x.value = 'int_value', toString(x.int_value), x.value = 'double_value', toString(x.double_value), x.value = 'bool_value', if(x.bool_value, 'true', 'false'), x.value = 'bytes_value', base64Encode(x.bytes_value), ''), av)), multiIf(t = 'string_value', sv, t = 'int_value', toString(iv), t = 'double_value', toString(dv), t = 'bool_value', if(bv, 'true', 'false'), t = 'bytes_value', base64Encode(yv), '')), 65536), e.attributes.value.value, e.attributes.value.string_value, e.attributes.value.int_value, e.attributes.value.double_value, e.attributes.value.bool_value, e.attributes.value.bytes_value, e.attributes.value.array_value.values)), 'Map(LowCardinality(String), String)'), s.events) AS events_attributes,
        arrayMap(l -> lower(hex(l.trace_id)), s.links) AS links_trace_id,
        arrayMap(l -> lower(hex(l.span_id)), s.links) AS links_span_id,
        arrayMap(l -> l.trace_state, s.links) AS links_trace_state,
        arrayMap(l -> CAST(mapFromArrays(l.attributes.key, arrayMap((t, sv, iv, dv, bv, yv, av) -> left(if(t = 'array_value', toJSONString(arrayMap(x -> multiIf(x.value = 'string_value', x.string_value, x.value = 'int_value', toString(x.int_value), x.value = 'double_value', toString(x.double_value), x.value = 'bool_value', if(x.bool_value, 'true', 'false'), x.value = 'bytes_value', base64Encode(x.bytes_value), ''), av)), multiIf(t = 'string_value', sv, t = 'int_value', toString(iv), t = 'double_value', toString(dv), t = 'bool_value', if(bv, 'true', 'false'), t = 'bytes_value', base64Encode(yv), '')), 65536), l.attributes.value.value, l.attributes.value.string_value, l.attributes.value.int_value, l.attributes.value.double_value, l.attributes.value.bool_value, l.attributes.value.bytes_value, l.attributes.value.array_value.values)), 'Map(LowCardinality(String), String)'), s.links) AS links_attributes
    FROM otlp_ingest
    ARRAY JOIN resource_spans AS rs
    ARRAY JOIN rs.scope_spans AS ss
    ARRAY JOIN ss.spans AS s
    WHERE length(s.trace_id) = 16 AND length(s.span_id) = 8 AND s.trace_id != repeat('\0', 16)
)
"""

SPANS_MV = r"""CREATE MATERIALIZED VIEW IF NOT EXISTS spans_mv TO spans AS
SELECT Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName, ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode, StatusMessage, `Events.Timestamp`, `Events.Name`, `Events.Attributes`, `Links.TraceId`, `Links.SpanId`, `Links.TraceState`, `Links.Attributes`, Operation, AgentId, AgentName, AgentRole, ToolName, ToolCallId, Model, InputTokens, OutputTokens, Confidence, RunId, TaskId, TaskStatus, WaitFor, WaitTaskId, WaitResource, WaitTimeoutMs, InputHash, OutputHash, Attempt, IdempotencyKey, ContextBudgetTokens, ExitCode, ValidationPassed, TestCommand, ErrorType, TimedOut FROM span_stream WHERE NOT IsPending"""

PENDING_SPANS_MV = r"""CREATE MATERIALIZED VIEW IF NOT EXISTS pending_spans_mv TO pending_spans AS
SELECT TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName,
    Timestamp AS StartTime,
    fromUnixTimestamp64Nano(toUnixTimestamp64Nano(Timestamp) + toInt64(Duration)) AS LastSeen,
    HeartbeatIntervalMs, ResourceAttributes, SpanAttributes, Operation, AgentId, AgentName, AgentRole, ToolName, ToolCallId, Model, InputTokens, OutputTokens, Confidence, RunId, TaskId, TaskStatus, WaitFor, WaitTaskId, WaitResource, WaitTimeoutMs, InputHash, OutputHash, Attempt, IdempotencyKey, ContextBudgetTokens, ExitCode, ValidationPassed, TestCommand, ErrorType, TimedOut
FROM span_stream WHERE IsPending AND SpanId != ''"""

TRACES_MV = r"""CREATE MATERIALIZED VIEW IF NOT EXISTS traces_mv TO traces AS
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
FROM span_stream GROUP BY TraceId"""

TOOL_MINUTES_MV = r"""CREATE MATERIALIZED VIEW IF NOT EXISTS tool_minutes_mv TO tool_minutes AS
SELECT toStartOfMinute(Timestamp) AS Minute, ToolName, ServiceName,
    count() AS Calls,
    countIf(StatusCode = 'Error') AS Errors,
    countIf(TimedOut) AS Timeouts,
    countIf(Attempt > 1) AS Retries,
    quantilesState(0.5, 0.95, 0.99)(Duration) AS DurationQuantiles
FROM span_stream WHERE NOT IsPending AND ToolName != ''
GROUP BY Minute, ToolName, ServiceName"""

STATEMENTS = [
    OTLP_INGEST,
    SPAN_STREAM,
    SPANS,
    PENDING_SPANS,
    TRACES,
    TOOL_MINUTES,
    SPAN_STREAM_MV,
    SPANS_MV,
    PENDING_SPANS_MV,
    TRACES_MV,
    TOOL_MINUTES_MV,
]

# Retention applies to every table with a TTL; see Store.set_retention.
TTL_TABLES = {
    "spans": "toDateTime(Timestamp)",
    "pending_spans": "toDateTime(LastSeen)",
    "traces": "toDateTime(Start)",
    "tool_minutes": "Minute",
}
