# ruff: noqa: E501 - the SELECT is frozen text, one expression a line
"""Framework dialects on ingest: the normalizing SELECT reads OpenInference, OpenLLMetry, LangSmith and MCP
keys too (agent names, tool names, LangSmith/MCP operations, run ids; docs/integrations.md).

The span_stream_mv view is recreated with the new SELECT (schema/normalize.py flatten_select over
otlp_ingest), frozen here as text. No column changes: the per-trace facts (inherited agents, outermost
runs, retries, content fingerprints) are resolved after ingest (m021, schema/resolve.py).
"""

from __future__ import annotations

VERSION = 20

FLATTEN_SELECT = r"""
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
    multiIf(a['gen_ai.operation.name'] != '', a['gen_ai.operation.name'], a['openinference.span.kind'] != '', transform(upper(a['openinference.span.kind']), ['AGENT', 'TOOL', 'LLM', 'CHAIN', 'RETRIEVER', 'EMBEDDING', 'RERANKER', 'GUARDRAIL', 'EVALUATOR'], ['invoke_agent', 'execute_tool', 'chat', 'chain', 'retrieval', 'embeddings', 'rerank', 'guardrail', 'evaluate'], lower(a['openinference.span.kind'])), a['traceloop.span.kind'] IN ('agent', 'tool'), if(a['traceloop.span.kind'] = 'agent', 'invoke_agent', 'execute_tool'), a['langsmith.span.kind'] != '', transform(lower(a['langsmith.span.kind']), ['llm', 'tool', 'chain', 'retriever', 'embedding', 'prompt', 'parser'], ['chat', 'execute_tool', 'chain', 'retrieval', 'embeddings', 'prompt', 'parser'], lower(a['langsmith.span.kind'])), a['mcp.method.name'] = 'tools/call', 'execute_tool', a['swarmscope.wait.for'] != '' OR a['swarmscope.wait.task_id'] != '' OR a['swarmscope.wait.resource'] != '', 'wait', '') AS Operation,
    multiIf(a['gen_ai.agent.id'] != '', a['gen_ai.agent.id'], a['gen_ai.agent.name'] != '', a['gen_ai.agent.name'], a['agent.name'] != '', a['agent.name'], a['graph.node.id'] != '', a['graph.node.id'], a['langsmith.metadata.lc_agent_name'] != '', a['langsmith.metadata.lc_agent_name'], a['tool.agent_role']) AS AgentId,
    multiIf(a['gen_ai.agent.name'] != '', a['gen_ai.agent.name'], a['agent.name'] != '', a['agent.name'], a['gen_ai.agent.id'] != '', a['gen_ai.agent.id'], a['graph.node.id'] != '', a['graph.node.id'], a['langsmith.metadata.lc_agent_name'] != '', a['langsmith.metadata.lc_agent_name'], a['tool.agent_role']) AS AgentName,
    a['swarmscope.agent.role'] AS AgentRole,
    arrayFirst(x -> x != '', [a['gen_ai.tool.name'], a['tool.name'], if(a['traceloop.span.kind'] = 'tool', a['traceloop.entity.name'], ''), if(a['langsmith.span.kind'] = 'tool', name, ''), if(a['mcp.method.name'] = 'tools/call', trimLeft(substring(name, 11)), '')]) AS ToolName,
    multiIf(a['gen_ai.tool.call.id'] != '', a['gen_ai.tool.call.id'], a['tool.id'] != '', a['tool.id'], a['tool_call.id']) AS ToolCallId,
    multiIf(a['gen_ai.request.model'] != '', a['gen_ai.request.model'], a['llm.model_name']) AS Model,
    toUInt64OrZero(multiIf(a['gen_ai.usage.input_tokens'] != '', a['gen_ai.usage.input_tokens'], a['gen_ai.usage.prompt_tokens'] != '', a['gen_ai.usage.prompt_tokens'], a['llm.token_count.prompt'])) AS InputTokens,
    toUInt64OrZero(multiIf(a['gen_ai.usage.output_tokens'] != '', a['gen_ai.usage.output_tokens'], a['gen_ai.usage.completion_tokens'] != '', a['gen_ai.usage.completion_tokens'], a['llm.token_count.completion'])) AS OutputTokens,
    toFloat64OrNull(a['swarmscope.confidence']) AS Confidence,
    arrayFirst(x -> x != '', [a['swarmscope.run.id'], a['gen_ai.conversation.id'], a['session.id'], a['langsmith.metadata.thread_id'], a['mcp.session.id'], r['swarmscope.run.id'], r['session.id']]) AS RunId,
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
    toUInt64OrNull(arrayFirst(x -> x != '', [a['swarmscope.heartbeat.interval_ms'], a['logfire.heartbeat.interval_ms']])) AS HeartbeatIntervalMs
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

STATEMENTS = [
    "DROP VIEW IF EXISTS span_stream_mv",
    "CREATE MATERIALIZED VIEW IF NOT EXISTS span_stream_mv TO span_stream AS " + FLATTEN_SELECT,
]
