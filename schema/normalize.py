"""The normalizing SQL: parsed OTLP requests -> one flat row per span with the derived columns.

Shared by the schema (the span_stream materialized view, m001) and the store's direct insert of log
segments (Store.insert_otlp_files), so both normalize alike.
"""

from __future__ import annotations

from swarmscope import _conventions as c

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


def _a(key: str) -> str:
    return f"a['{key}']"


def _first(*keys: str) -> str:
    return first_of("a", *keys)


def _non_empty(*exprs: str) -> str:
    return "arrayFirst(x -> x != '', [" + ", ".join(exprs) + "])"


_WAITS = " OR ".join(f"{_a(k)} != ''" for k in (c.WAIT_FOR, c.WAIT_TASK_ID, c.WAIT_RESOURCE))
# LangSmith span kinds as Operation names (it has no agent kind: its agents are chains).
LANGSMITH_OPERATIONS = {"llm": c.OP_CHAT, "tool": c.OP_TOOL, "chain": "chain", "retriever": "retrieval",
                        "embedding": "embeddings", "prompt": "prompt", "parser": "parser"}

# (column, type, expression over the span's SpanAttributes `a`, ResourceAttributes `r` and name `name`).
# One list renders the stream's SELECT and the columns of spans and pending_spans alike. Per-trace facts
# (an agent inherited from an ancestor, the outermost run, retries, fingerprints of framework content)
# are not derivable from one span: schema/resolve.py works them out after ingest.
DERIVED: list[tuple[str, str, str]] = [
    ("Operation", "LowCardinality(String)",
     f"multiIf({_a(c.OPERATION)} != '', {_a(c.OPERATION)}, "
     f"{_a(c.OI_SPAN_KIND)} != '', transform(upper({_a(c.OI_SPAN_KIND)}), "
     f"{_sql_strings(OPENINFERENCE_OPERATIONS)}, {_sql_strings(OPENINFERENCE_OPERATIONS.values())}, "
     f"lower({_a(c.OI_SPAN_KIND)})), "
     f"{_a(c.TRACELOOP_SPAN_KIND)} IN ('agent', 'tool'), "
     f"if({_a(c.TRACELOOP_SPAN_KIND)} = 'agent', '{c.OP_AGENT}', '{c.OP_TOOL}'), "
     f"{_a(c.LANGSMITH_SPAN_KIND)} != '', transform(lower({_a(c.LANGSMITH_SPAN_KIND)}), "
     f"{_sql_strings(LANGSMITH_OPERATIONS)}, {_sql_strings(LANGSMITH_OPERATIONS.values())}, "
     f"lower({_a(c.LANGSMITH_SPAN_KIND)})), "
     f"{_a(c.MCP_METHOD)} = '{c.MCP_TOOLS_CALL}', '{c.OP_TOOL}', "
     f"{_WAITS}, '{c.OP_WAIT}', '')"),
    ("AgentId", "String",
     _first(c.AGENT_ID, c.AGENT_NAME, c.OI_AGENT_NAME, c.OI_GRAPH_NODE_ID, c.LANGSMITH_AGENT_NAME,
            c.TOOL_AGENT_ROLE)),
    ("AgentName", "String",
     _first(c.AGENT_NAME, c.OI_AGENT_NAME, c.AGENT_ID, c.OI_GRAPH_NODE_ID, c.LANGSMITH_AGENT_NAME,
            c.TOOL_AGENT_ROLE)),
    ("AgentRole", "LowCardinality(String)", _first(c.AGENT_ROLE)),
    ("ToolName", "LowCardinality(String)",
     _non_empty(_a(c.TOOL_NAME), _a(c.OI_TOOL_NAME),
                f"if({_a(c.TRACELOOP_SPAN_KIND)} = 'tool', {_a(c.TRACELOOP_ENTITY_NAME)}, '')",
                f"if({_a(c.LANGSMITH_SPAN_KIND)} = 'tool', name, '')",
                f"if({_a(c.MCP_METHOD)} = '{c.MCP_TOOLS_CALL}', "
                f"trimLeft(substring(name, {len(c.MCP_TOOLS_CALL) + 1})), '')")),
    ("ToolCallId", "String", _first(c.TOOL_CALL_ID, c.OI_TOOL_ID, c.OI_TOOL_CALL_ID)),
    ("Model", "LowCardinality(String)", _first(c.REQUEST_MODEL, c.OI_MODEL)),
    ("InputTokens", "UInt64",
     f"toUInt64OrZero({_first(c.INPUT_TOKENS, c.LEGACY_INPUT_TOKENS, c.OI_INPUT_TOKENS)})"),
    ("OutputTokens", "UInt64",
     f"toUInt64OrZero({_first(c.OUTPUT_TOKENS, c.LEGACY_OUTPUT_TOKENS, c.OI_OUTPUT_TOKENS)})"),
    ("Confidence", "Nullable(Float64)", f"toFloat64OrNull({_a(c.CONFIDENCE)})"),
    ("RunId", "String",
     _non_empty(_a(c.RUN_ID), _a(c.CONVERSATION_ID), _a(c.OI_SESSION_ID), _a(c.LANGSMITH_THREAD_ID),
                _a(c.MCP_SESSION_ID), f"r['{c.RUN_ID}']", f"r['{c.OI_SESSION_ID}']")),
    ("TaskId", "String", _first(c.TASK_ID, c.A2A_TASK_ID)),
    ("TaskStatus", "LowCardinality(String)", f"lower({_non_empty(_a(c.TASK_STATUS), _a(c.A2A_TASK_STATE))})"),
    ("WaitFor", "String", _first(c.WAIT_FOR)),
    ("WaitTaskId", "String", _first(c.WAIT_TASK_ID)),
    ("WaitResource", "String", _first(c.WAIT_RESOURCE)),
    ("WaitTimeoutMs", "Nullable(UInt64)", f"toUInt64OrNull({_a(c.WAIT_TIMEOUT_MS)})"),
    ("InputHash", "String", _first(c.INPUT_HASH)),
    ("OutputHash", "String", _first(c.OUTPUT_HASH)),
    ("Attempt", "UInt32", f"toUInt32OrZero({_a(c.ATTEMPT)})"),
    ("IdempotencyKey", "String", _first(c.IDEMPOTENCY_KEY)),
    ("ContextBudgetTokens", "UInt64", f"toUInt64OrZero({_a(c.CONTEXT_BUDGET)})"),
    ("ExitCode", "Nullable(Int64)", f"toInt64OrNull({_a(c.EVIDENCE_EXIT_CODE)})"),
    ("ValidationPassed", "Nullable(Bool)",
     f"multiIf(lower({_a(c.EVIDENCE_VALIDATION_PASSED)}) IN ('true', '1'), true, "
     f"lower({_a(c.EVIDENCE_VALIDATION_PASSED)}) IN ('false', '0'), false, NULL)"),
    ("TestCommand", "String", _first(c.EVIDENCE_TEST_COMMAND)),
    ("ErrorType", "LowCardinality(String)", _first(c.ERROR_TYPE, c.EXCEPTION_TYPE)),
    ("TimedOut", "UInt8",
     f"positionCaseInsensitive({_a(c.ERROR_TYPE)}, 'timeout') > 0 OR {_a(c.TASK_STATUS)} = 'timeout' "
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
_pending_parent = _non_empty(_a(c.PENDING_PARENT_ID), _a(c.LOGFIRE_PENDING_PARENT_ID))
_is_pending = f"({_a(c.SPAN_TYPE)} = 'pending' OR {_a(c.LOGFIRE_SPAN_TYPE)} = 'pending_span')"
_heartbeat_interval = _non_empty(_a(c.HEARTBEAT_INTERVAL_MS), _a(c.LOGFIRE_HEARTBEAT_INTERVAL_MS))



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
    r['{c.SERVICE_NAME}'] AS ServiceName,
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
    toUInt64OrNull({_heartbeat_interval}) AS HeartbeatIntervalMs
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
