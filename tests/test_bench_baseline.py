"""The ingest benchmark's baseline does the same job as swarmscope: its Python rows (bench/python_rows.py)
fill every table exactly as the flattening SELECT does, so the benchmark's ratio compares like with like."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import fresh_store
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from otlp_payloads import request, span
from python_rows import COLUMN_NAMES, rows_of  # bench/ (pytest pythonpath)
from workload import SwarmTraffic

TABLES = {
    "spans": "SELECT * EXCEPT InsertedAt FROM spans FINAL ORDER BY TraceId, SpanId",
    "pending_spans": "SELECT * EXCEPT InsertedAt FROM pending_spans FINAL ORDER BY TraceId, SpanId",
    "traces": """SELECT TraceId, min(Start), max(End), uniqExactMerge(SpanIds), uniqExactMerge(ErrorSpanIds),
        max(RootName), max(RootService), arraySort(groupUniqArrayArray(Services)),
        arraySort(groupUniqArrayArray(Agents)), arraySort(groupUniqArrayArray(RunIds))
        FROM traces GROUP BY TraceId ORDER BY TraceId""",
    "tool_minutes": """SELECT Minute, ToolName, ServiceName, sum(Calls), sum(Errors), sum(Timeouts),
        sum(Retries), quantilesMerge(0.5, 0.95, 0.99)(DurationQuantiles)
        FROM tool_minutes GROUP BY ALL ORDER BY ALL""",
}


def _value(key: str, value: AnyValue) -> KeyValue:
    return KeyValue(key=key, value=value)


def varied_request() -> ExportTraceServiceRequest:
    """Aliases, value types, events, links, pending records and invalid ids: what the workload lacks."""
    trace = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
    oi = span(trace, bytes.fromhex("00f067aa0ba902b7"), name="llm call", status=2, attrs={
        "openinference.span.kind": "LLM", "llm.model_name": "gpt-x", "llm.token_count.prompt": 12,
        "llm.token_count.completion": "7", "session.id": "sess-1", "graph.node.id": "writer",
        "exception.type": "ReadTimeout", "swarmscope.confidence": 0.25, "swarmscope.attempt": 3,
        "swarmscope.evidence.validation.passed": "FALSE", "swarmscope.evidence.exit_code": -2,
    })
    oi.status.message = "request timed out"
    oi.attributes.extend([
        _value("blob", AnyValue(bytes_value=b"\x00\xffbin")),
        _value("flags", AnyValue(array_value=ArrayValue(values=[
            AnyValue(string_value="a"), AnyValue(int_value=2), AnyValue(bool_value=True),
            AnyValue(double_value=1.5)]))),
        _value("whole", AnyValue(double_value=3.0)),
        _value("empty", AnyValue()),
    ])
    oi.events.add(time_unix_nano=oi.start_time_unix_nano + 5, name="retry").attributes.extend(
        [_value("n", AnyValue(int_value=1))])
    link = oi.links.add(trace_id=bytes(range(16)), span_id=bytes(range(8)), trace_state="k=v")
    link.attributes.extend([_value("why", AnyValue(string_value="follows"))])
    traceloop = span(trace, parent=oi.span_id, name="tool", attrs={
        "traceloop.span.kind": "tool", "traceloop.entity.name": "grep", "a2a.task.state": "Working"})
    waiting = span(trace, parent=bytes(8), name="wait", attrs={
        "swarmscope.wait.resource": "lock:db", "swarmscope.wait.timeout_ms": "abc",
        "swarmscope.task.status": "timeout"})
    pending = span(trace, parent=oi.span_id, name="open work", attrs={
        "swarmscope.span_type": "pending", "swarmscope.pending_parent_id": "00F067AA0BA902B7",
        "swarmscope.heartbeat.interval_ms": 500, "gen_ai.agent.id": "coder"})
    logfire = span(trace, parent=traceloop.span_id, name="logfire open", attrs={
        "logfire.span_type": "pending_span", "logfire.pending_parent_id": "0000000000000000"})
    bad_ids = [span(trace_id=bytes(16)), span(span_id=b"short"), span(trace_id=b"")]
    req = request(oi, traceloop, waiting, pending, logfire, *bad_ids, service="parity")
    resource = req.resource_spans[0]
    resource.resource.attributes.extend([_value("swarmscope.run.id", AnyValue(string_value="run-9"))])
    resource.scope_spans[0].scope.name, resource.scope_spans[0].scope.version = "lib", "1.0"
    for s in resource.scope_spans[0].spans:
        s.kind = Span.SPAN_KIND_CLIENT
    return req


@pytest.fixture
def twin(chdb_dir: Path):
    """A second store for the baseline's rows."""
    with fresh_store(chdb_dir) as other:
        yield other


def test_python_rows_fill_the_same_tables(store, twin) -> None:
    requests = [varied_request().SerializeToString(), *SwarmTraffic(seed=11).requests(2, 256)]
    store.insert_requests(requests)  # ClickHouse parses and normalizes
    for body in requests:  # the baseline: Python rows into the same entry table
        twin.client.insert("span_stream", rows_of(ExportTraceServiceRequest.FromString(body)),
                           column_names=COLUMN_NAMES)
    assert store.scalar("SELECT count() FROM spans") == 5 + 512 - 2  # 2 pending records go elsewhere
    assert store.scalar("SELECT count() FROM pending_spans") == 2
    for table, sql in TABLES.items():
        expected, got = store.client.query(sql).result_rows, twin.client.query(sql).result_rows
        assert expected, table
        assert got == expected, table
