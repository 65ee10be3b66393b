"""The normalizing SQL: parsed OTLP requests -> one flat row per span with the derived columns.

Shared by the schema (the span_stream materialized view, m001) and the store's direct insert of log
segments (Store.insert_otlp_files), so both normalize alike.
"""

from __future__ import annotations

from .sql import attributes_map, first_of

ATTRS_MAP = "Map(LowCardinality(String), String)"

# OTLP enum values (index = wire value) and OpenInference span kinds as Operation names; the baseline's
# Python rows (bench/python_rows.py) read the same tables.
SPAN_KINDS = ["Unspecified", "Internal", "Server", "Client", "Producer", "Consumer"]
STATUS_CODES = ["Unset", "Ok", "Error"]
OPENINFERENCE_OPERATIONS = {
    "AGENT": "invoke_agent", "TOOL": "execute_tool", "LLM": "chat", "CHAIN": "chain",
    "RETRIEVER": "retrieval", "EMBEDDING": "embeddings", "RERANKER": "rerank", "GUARDRAIL": "guardrail",
    "EVALUATOR": "evaluate",
}


def _sql_strings(values) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


# (column, type, expression over the span's SpanAttributes `a` and ResourceAttributes `r`).
# One list renders the stream's SELECT and the columns of spans and pending_spans alike.
DERIVED: list[tuple[str, str, str]] = [
    ("Operation", "LowCardinality(String)",
     "multiIf(a['gen_ai.operation.name'] != '', a['gen_ai.operation.name'], "
     "a['openinference.span.kind'] != '', transform(upper(a['openinference.span.kind']), "
     f"{_sql_strings(OPENINFERENCE_OPERATIONS)}, {_sql_strings(OPENINFERENCE_OPERATIONS.values())}, "
     "lower(a['openinference.span.kind'])), "
     "a['traceloop.span.kind'] IN ('agent', 'tool'), "
     "if(a['traceloop.span.kind'] = 'agent', 'invoke_agent', 'execute_tool'), "
     "a['swarmscope.wait.for'] != '' OR a['swarmscope.wait.task_id'] != '' "
     "OR a['swarmscope.wait.resource'] != '', 'wait', '')"),
    ("AgentId", "String",
     first_of("a", "gen_ai.agent.id", "gen_ai.agent.name", "agent.name", "graph.node.id")),
    ("AgentName", "String",
     first_of("a", "gen_ai.agent.name", "agent.name", "gen_ai.agent.id", "graph.node.id")),
    ("AgentRole", "LowCardinality(String)", first_of("a", "swarmscope.agent.role")),
    ("ToolName", "LowCardinality(String)",
     "arrayFirst(x -> x != '', [a['gen_ai.tool.name'], a['tool.name'], "
     "if(a['traceloop.span.kind'] = 'tool', a['traceloop.entity.name'], '')])"),
    ("ToolCallId", "String", first_of("a", "gen_ai.tool.call.id", "tool.id", "tool_call.id")),
    ("Model", "LowCardinality(String)", first_of("a", "gen_ai.request.model", "llm.model_name")),
    ("InputTokens", "UInt64",
     "toUInt64OrZero(" + first_of("a", "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens",
                                  "llm.token_count.prompt") + ")"),
    ("OutputTokens", "UInt64",
     "toUInt64OrZero(" + first_of("a", "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens",
                                  "llm.token_count.completion") + ")"),
    ("Confidence", "Nullable(Float64)", "toFloat64OrNull(a['swarmscope.confidence'])"),
    ("RunId", "String",
     "arrayFirst(x -> x != '', [a['swarmscope.run.id'], a['gen_ai.conversation.id'], a['session.id'], "
     "r['swarmscope.run.id'], r['session.id']])"),
    ("TaskId", "String", first_of("a", "swarmscope.task.id", "a2a.task.id")),
    ("TaskStatus", "LowCardinality(String)",
     "lower(arrayFirst(x -> x != '', [a['swarmscope.task.status'], a['a2a.task.state']]))"),
    ("WaitFor", "String", first_of("a", "swarmscope.wait.for")),
    ("WaitTaskId", "String", first_of("a", "swarmscope.wait.task_id")),
    ("WaitResource", "String", first_of("a", "swarmscope.wait.resource")),
    ("WaitTimeoutMs", "Nullable(UInt64)", "toUInt64OrNull(a['swarmscope.wait.timeout_ms'])"),
    ("InputHash", "String", first_of("a", "swarmscope.input.hash")),
    ("OutputHash", "String", first_of("a", "swarmscope.output.hash")),
    ("Attempt", "UInt32", "toUInt32OrZero(a['swarmscope.attempt'])"),
    ("IdempotencyKey", "String", first_of("a", "swarmscope.idempotency_key")),
    ("ContextBudgetTokens", "UInt64", "toUInt64OrZero(a['swarmscope.context.budget_tokens'])"),
    ("ExitCode", "Nullable(Int64)", "toInt64OrNull(a['swarmscope.evidence.exit_code'])"),
    ("ValidationPassed", "Nullable(Bool)",
     "multiIf(lower(a['swarmscope.evidence.validation.passed']) IN ('true', '1'), true, "
     "lower(a['swarmscope.evidence.validation.passed']) IN ('false', '0'), false, NULL)"),
    ("TestCommand", "String", first_of("a", "swarmscope.evidence.test_command")),
    ("ErrorType", "LowCardinality(String)", first_of("a", "error.type", "exception.type")),
    ("TimedOut", "UInt8",
     "positionCaseInsensitive(a['error.type'], 'timeout') > 0 OR a['swarmscope.task.status'] = 'timeout' "
     "OR positionCaseInsensitive(StatusMessage, 'timed out') > 0 "
     "OR positionCaseInsensitive(StatusMessage, 'timeout') > 0"),
]


def columns_sql(pairs: list[tuple[str, str]]) -> str:
    return ",\n    ".join(f"{name} {type_}" for name, type_ in pairs)


DERIVED_COLUMNS = [(name, type_) for name, type_, _ in DERIVED]

SPAN_COLUMNS = [
    ("Timestamp", "DateTime64(9)"),
    ("TraceId", "String"),
    ("SpanId", "String"),
    ("ParentSpanId", "String"),
    ("TraceState", "String"),
    ("SpanName", "LowCardinality(String)"),
    ("SpanKind", "LowCardinality(String)"),
    ("ServiceName", "LowCardinality(String)"),
    ("ResourceAttributes", ATTRS_MAP),
    ("ScopeName", "String"),
    ("ScopeVersion", "String"),
    ("SpanAttributes", ATTRS_MAP),
    ("Duration", "UInt64"),
    ("StatusCode", "LowCardinality(String)"),
    ("StatusMessage", "String"),
    ("`Events.Timestamp`", "Array(DateTime64(9))"),
    ("`Events.Name`", "Array(LowCardinality(String))"),
    ("`Events.Attributes`", f"Array({ATTRS_MAP})"),
    ("`Links.TraceId`", "Array(String)"),
    ("`Links.SpanId`", "Array(String)"),
    ("`Links.TraceState`", "Array(String)"),
    ("`Links.Attributes`", f"Array({ATTRS_MAP})"),
    *DERIVED_COLUMNS,
]

PENDING_EXTRA = [
    ("IsPending", "UInt8"),
    ("HeartbeatIntervalMs", "Nullable(UInt64)"),
]

_derived_select = ",\n    ".join(f"{expr} AS {name}" for name, _, expr in DERIVED)
_hex_id = "if({0} = '' OR {0} = repeat('\\0', length({0})), '', lower(hex({0})))"
_pending_parent = (
    "arrayFirst(x -> x != '', [a['swarmscope.pending_parent_id'], a['logfire.pending_parent_id']])"
)
_is_pending = "(a['swarmscope.span_type'] = 'pending' OR a['logfire.span_type'] = 'pending_span')"



def flatten_select(source: str) -> str:
    """The SELECT turning parsed requests (`source`: a table or table function) into span_stream rows,
    in STREAM_COLUMNS order. For a pending record the row already carries the real span's identity:
    its SpanId is the record's parent (the real span) and its ParentSpanId the declared pending parent.
    """
    return f"""
SELECT
    fromUnixTimestamp64Nano(toInt64(start_ns)) AS Timestamp,
    lower(hex(trace_id)) AS TraceId,
    if(IsPending, raw_parent_id, lower(hex(span_id))) AS SpanId,
    if(IsPending, if(match({_pending_parent}, '^0*$'), '', lower({_pending_parent})), raw_parent_id)
        AS ParentSpanId,
    trace_state AS TraceState,
    name AS SpanName,
    {_sql_strings(SPAN_KINDS)}[kind + 1] AS SpanKind,
    r['service.name'] AS ServiceName,
    r AS ResourceAttributes,
    scope_name AS ScopeName,
    scope_version AS ScopeVersion,
    a AS SpanAttributes,
    if(end_ns > start_ns, end_ns - start_ns, 0) AS Duration,
    {_sql_strings(STATUS_CODES)}[status_code + 1] AS StatusCode,
    status_message AS StatusMessage,
    events_time AS `Events.Timestamp`,
    events_name AS `Events.Name`,
    events_attributes AS `Events.Attributes`,
    links_trace_id AS `Links.TraceId`,
    links_span_id AS `Links.SpanId`,
    links_trace_state AS `Links.TraceState`,
    links_attributes AS `Links.Attributes`,
    {_derived_select},
    {_is_pending} AS IsPending,
    toUInt64OrNull(arrayFirst(x -> x != '', [a['swarmscope.heartbeat.interval_ms'],
        a['logfire.heartbeat.interval_ms']])) AS HeartbeatIntervalMs
FROM (
    -- Maps are built once here: an alias in the outer query would be re-expanded at every use.
    SELECT
        s.trace_id AS trace_id, s.span_id AS span_id, s.trace_state AS trace_state, s.name AS name,
        s.kind AS kind, s.start_time_unix_nano AS start_ns, s.end_time_unix_nano AS end_ns,
        s.status.code AS status_code, s.status.message AS status_message,
        {_hex_id.format('s.parent_span_id')} AS raw_parent_id,
        ss.scope.name AS scope_name, ss.scope.version AS scope_version,
        {attributes_map('rs.resource.attributes')} AS r,
        {attributes_map('s.attributes')} AS a,
        arrayMap(e -> fromUnixTimestamp64Nano(toInt64(e.time_unix_nano)), s.events) AS events_time,
        arrayMap(e -> e.name, s.events) AS events_name,
        arrayMap(e -> {attributes_map('e.attributes')}, s.events) AS events_attributes,
        arrayMap(l -> lower(hex(l.trace_id)), s.links) AS links_trace_id,
        arrayMap(l -> lower(hex(l.span_id)), s.links) AS links_span_id,
        arrayMap(l -> l.trace_state, s.links) AS links_trace_state,
        arrayMap(l -> {attributes_map('l.attributes')}, s.links) AS links_attributes
    FROM {source}
    ARRAY JOIN resource_spans AS rs
    ARRAY JOIN rs.scope_spans AS ss
    ARRAY JOIN ss.spans AS s
    WHERE length(s.trace_id) = 16 AND length(s.span_id) = 8 AND s.trace_id != repeat('\\0', 16)
)
"""

STREAM_COLUMNS = SPAN_COLUMNS + PENDING_EXTRA
FLATTEN_SELECT = flatten_select("otlp_ingest")

SPAN_NAMES = ", ".join(name for name, _ in SPAN_COLUMNS)
DERIVED_NAMES = ", ".join(name for name, _ in DERIVED_COLUMNS)
