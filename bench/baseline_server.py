"""The straightforward collector for comparison: decode OTLP in Python, build rows, clickhouse-connect insert.

Same HTTP surface (`POST /v1/traces`, `GET /api/stats`) and same embedded store as swarmscope serve, so
bench/ingest.py can drive both with the same senders. Run: python bench/baseline_server.py PORT DATA_DIR
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone

import uvicorn
from fastapi import FastAPI, Request, Response
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from starlette.concurrency import run_in_threadpool
from swarmscope.schema.store import Store, embedded_url

COLUMNS = ["Timestamp", "TraceId", "SpanId", "ParentSpanId", "SpanName", "SpanKind", "ServiceName",
           "ResourceAttributes", "SpanAttributes", "Duration", "StatusCode", "StatusMessage",
           "Operation", "AgentId", "AgentName", "ToolName", "InputTokens", "OutputTokens", "RunId", "TaskId",
           "InputHash", "OutputHash", "Attempt", "IdempotencyKey"]
KINDS = ["Unspecified", "Internal", "Server", "Client", "Producer", "Consumer"]
STATUS = ["Unset", "Ok", "Error"]


def value_text(v) -> str:
    which = v.WhichOneof("value")
    if which == "string_value":
        return v.string_value
    if which == "bool_value":
        return "true" if v.bool_value else "false"
    if which in ("int_value", "double_value"):
        return str(getattr(v, which))
    return ""


def rows_of(request: ExportTraceServiceRequest) -> list[list]:
    rows = []
    for rs in request.resource_spans:
        resource = {kv.key: value_text(kv.value) for kv in rs.resource.attributes}
        service = resource.get("service.name", "")
        for ss in rs.scope_spans:
            for span in ss.spans:
                a = {kv.key: value_text(kv.value) for kv in span.attributes}
                rows.append([
                    datetime.fromtimestamp(span.start_time_unix_nano / 1e9, timezone.utc),
                    span.trace_id.hex(), span.span_id.hex(), span.parent_span_id.hex(), span.name,
                    KINDS[span.kind + 1 if span.kind < 5 else 0], service, resource, a,
                    max(0, span.end_time_unix_nano - span.start_time_unix_nano),
                    STATUS[span.status.code], span.status.message,
                    a.get("gen_ai.operation.name", ""), a.get("gen_ai.agent.id", ""),
                    a.get("gen_ai.agent.name", ""), a.get("gen_ai.tool.name", ""),
                    int(a.get("gen_ai.usage.input_tokens") or 0),
                    int(a.get("gen_ai.usage.output_tokens") or 0),
                    a.get("swarmscope.run.id", ""), a.get("swarmscope.task.id", ""),
                    a.get("swarmscope.input.hash", ""), a.get("swarmscope.output.hash", ""),
                    int(a.get("swarmscope.attempt") or 0), a.get("swarmscope.idempotency_key", ""),
                ])
    return rows


def create_app(store: Store) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/traces")
    async def export_async(request: Request) -> Response:
        body = await request.body()
        rows = rows_of(ExportTraceServiceRequest.FromString(body))
        await run_in_threadpool(store.client.insert, "spans", rows, column_names=COLUMNS)
        return Response(ExportTraceServiceResponse().SerializeToString(), media_type="application/x-protobuf")

    @app.get("/api/stats")
    def stats() -> dict:
        return {"spans": int(store.scalar("SELECT count() FROM spans"))}  # as swarmscope counts

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    return app


if __name__ == "__main__":
    port, data = int(sys.argv[1]), sys.argv[2]
    store = Store(embedded_url(data))
    store.migrate()
    uvicorn.run(create_app(store), host="127.0.0.1", port=port, log_level="warning")
