"""The straightforward collector for comparison: decode OTLP in Python, build rows, clickhouse-connect insert.

Each request's spans become span_stream rows in Python (bench/python_rows.py), inserted with the request:
the same tables fill as under swarmscope serve (spans, pending_spans, the trace index, tool minutes).
Same HTTP surface (`POST /v1/traces`, `GET /api/stats`) and same embedded store as swarmscope serve, so
bench/ingest.py can drive both with the same senders. Run: python bench/baseline_server.py PORT DATA_DIR
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI, Request, Response
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from python_rows import COLUMN_NAMES, rows_of
from starlette.concurrency import run_in_threadpool
from swarmscope.schema.store import Store, embedded_url


def create_app(store: Store) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/traces")
    async def export_async(request: Request) -> Response:
        body = await request.body()
        rows = rows_of(ExportTraceServiceRequest.FromString(body))
        await run_in_threadpool(store.client.insert, "span_stream", rows, column_names=COLUMN_NAMES)
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
