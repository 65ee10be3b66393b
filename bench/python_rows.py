"""The baseline's row builder: OTLP decoded by upb, every span_stream column computed in Python.

The straightforward way to fill swarmscope's tables: the same rows the flattening SELECT
(schema/normalize.py) makes inside ClickHouse, built span by span in Python, so the baseline does the
same job as swarmscope serve and the benchmark compares like with like. tests/test_bench_baseline.py
checks that both give the same rows for the benchmark's traffic and for aliases, value types, events,
links and pending records. Not matched: a cut inside a UTF-8 sequence of a value over 64 KiB (ClickHouse
keeps the partial bytes) and doubles that print with an exponent.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from swarmscope.schema.normalize import (
    LANGSMITH_OPERATIONS,
    OPENINFERENCE_OPERATIONS,
    SPAN_KINDS,
    STATUS_CODES,
    STREAM_COLUMNS,
)
from swarmscope.schema.sql import MAX_ATTRIBUTE_BYTES

COLUMN_NAMES = [name.strip("`") for name, _ in STREAM_COLUMNS]


def scalar_text(v: Any, which: str | None) -> str:
    """An AnyValue scalar as the flattening SELECT prints it (`which`: its set field)."""
    if which == "string_value":
        return v.string_value
    if which == "int_value":
        return str(v.int_value)
    if which == "double_value":
        d = v.double_value
        return str(int(d)) if d.is_integer() and abs(d) < 1e16 else repr(d)
    if which == "bool_value":
        return "true" if v.bool_value else "false"
    if which == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    return ""


def value_text(v: Any) -> str:
    which = v.WhichOneof("value")
    if which == "array_value":
        items = [scalar_text(x, x.WhichOneof("value")) for x in v.array_value.values]
        text = json.dumps(items, separators=(",", ":"))
    else:
        text = scalar_text(v, which)
    if len(text) > MAX_ATTRIBUTE_BYTES // 4:  # only then can it be over the limit in UTF-8 bytes
        text = text.encode()[:MAX_ATTRIBUTE_BYTES].decode(errors="ignore")
    return text


def attributes(kvs: Any) -> dict[str, str]:
    return {kv.key: value_text(kv.value) for kv in kvs}


def first(a: dict[str, str], *keys: str) -> str:
    for key in keys:
        value = a.get(key)
        if value:
            return value
    return ""


def to_uint(text: str, default: int | None = 0, bits: int = 64) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and int(text) < 2**bits else default


def to_int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def to_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def operation(a: dict[str, str]) -> str:
    if op := a.get("gen_ai.operation.name"):
        return op
    if kind := a.get("openinference.span.kind"):
        return OPENINFERENCE_OPERATIONS.get(kind.upper(), kind.lower())
    traceloop = a.get("traceloop.span.kind")
    if traceloop in ("agent", "tool"):
        return "invoke_agent" if traceloop == "agent" else "execute_tool"
    if langsmith := a.get("langsmith.span.kind"):
        return LANGSMITH_OPERATIONS.get(langsmith.lower(), langsmith.lower())
    if a.get("mcp.method.name") == "tools/call":
        return "execute_tool"
    if a.get("swarmscope.wait.for") or a.get("swarmscope.wait.task_id") or a.get("swarmscope.wait.resource"):
        return "wait"
    return ""


def validation(text: str) -> bool | None:
    text = text.lower()
    return True if text in ("true", "1") else False if text in ("false", "0") else None


def enum_name(names: list[str], value: int) -> str:
    """An OTLP enum's name, '' out of range (as ClickHouse's array subscript gives)."""
    return names[value] if 0 <= value < len(names) else ""


def hex_id(raw: bytes) -> str:
    return "" if not raw.strip(b"\0") else raw.hex()


def derived(a: dict[str, str], r: dict[str, str], status_message: str, name: str) -> list[Any]:
    """The DERIVED columns of schema/normalize.py, in order."""
    tool_name = first(a, "gen_ai.tool.name", "tool.name") or (
        a.get("traceloop.entity.name", "") if a.get("traceloop.span.kind") == "tool" else "") or (
        name if a.get("langsmith.span.kind") == "tool" else "") or (
        name[len("tools/call"):].lstrip() if a.get("mcp.method.name") == "tools/call" else "")
    agent_keys = ("graph.node.id", "langsmith.metadata.lc_agent_name", "tool.agent_role")
    error_type = a.get("error.type", "")
    message = status_message.lower()
    return [
        operation(a),
        first(a, "gen_ai.agent.id", "gen_ai.agent.name", "agent.name", *agent_keys),
        first(a, "gen_ai.agent.name", "agent.name", "gen_ai.agent.id", *agent_keys),
        a.get("swarmscope.agent.role", ""),
        tool_name,
        first(a, "gen_ai.tool.call.id", "tool.id", "tool_call.id"),
        first(a, "gen_ai.request.model", "llm.model_name"),
        to_uint(first(a, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens",
                      "llm.token_count.prompt")),
        to_uint(first(a, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens",
                      "llm.token_count.completion")),
        to_float(a.get("swarmscope.confidence", "")),
        first(a, "swarmscope.run.id", "gen_ai.conversation.id", "session.id",
              "langsmith.metadata.thread_id", "mcp.session.id") or first(
            r, "swarmscope.run.id", "session.id"),
        first(a, "swarmscope.task.id", "a2a.task.id"),
        first(a, "swarmscope.task.status", "a2a.task.state").lower(),
        a.get("swarmscope.wait.for", ""),
        a.get("swarmscope.wait.task_id", ""),
        a.get("swarmscope.wait.resource", ""),
        to_uint(a.get("swarmscope.wait.timeout_ms", ""), None),
        a.get("swarmscope.input.hash", ""),
        a.get("swarmscope.output.hash", ""),
        to_uint(a.get("swarmscope.attempt", ""), bits=32),
        a.get("swarmscope.idempotency_key", ""),
        to_uint(a.get("swarmscope.context.budget_tokens", "")),
        to_int(a.get("swarmscope.evidence.exit_code", "")),
        validation(a.get("swarmscope.evidence.validation.passed", "")),
        a.get("swarmscope.evidence.test_command", ""),
        first(a, "error.type", "exception.type"),
        int("timeout" in error_type.lower() or a.get("swarmscope.task.status") == "timeout"
            or "timed out" in message or "timeout" in message),
    ]


def rows_of(request: ExportTraceServiceRequest) -> list[list[Any]]:
    """One row per valid span, in STREAM_COLUMNS order (pending records carry the real span's id)."""
    rows = []
    for rs in request.resource_spans:
        r = attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            for span in ss.spans:
                if len(span.trace_id) != 16 or len(span.span_id) != 8 or not span.trace_id.strip(b"\0"):
                    continue
                a = attributes(span.attributes)
                parent = hex_id(span.parent_span_id)
                pending = (a.get("swarmscope.span_type") == "pending"
                           or a.get("logfire.span_type") == "pending_span")
                span_id, parent_id = span.span_id.hex(), parent
                if pending:
                    declared = first(a, "swarmscope.pending_parent_id", "logfire.pending_parent_id")
                    span_id, parent_id = parent, "" if not declared.strip("0") else declared.lower()
                start, end = span.start_time_unix_nano, span.end_time_unix_nano
                message = span.status.message
                rows.append([
                    start, span.trace_id.hex(), span_id, parent_id, span.trace_state, span.name,
                    enum_name(SPAN_KINDS, span.kind),
                    r.get("service.name", ""), r, ss.scope.name, ss.scope.version, a,
                    end - start if end > start else 0,
                    enum_name(STATUS_CODES, span.status.code), message,
                    [e.time_unix_nano for e in span.events], [e.name for e in span.events],
                    [attributes(e.attributes) for e in span.events],
                    [link.trace_id.hex() for link in span.links],
                    [link.span_id.hex() for link in span.links],
                    [link.trace_state for link in span.links],
                    [attributes(link.attributes) for link in span.links],
                    *derived(a, r, message, span.name),
                    int(pending),
                    to_uint(first(a, "swarmscope.heartbeat.interval_ms", "logfire.heartbeat.interval_ms"),
                            None),
                ])
    return rows
