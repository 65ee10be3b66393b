"""JSON API: health, store counts, traces."""

from __future__ import annotations

import dataclasses
from typing import Literal

from fastapi import APIRouter, HTTPException, Query, Request
from swarmscope.schema.queries import traces
from swarmscope.schema.times import ACCEPTED_FORMS

from .params import parse_time_ms, parse_trace_id

router = APIRouter()


@router.get("/healthz")
def healthz(request: Request) -> dict:
    committer = request.app.state.committer
    return {"status": "ok", "ingest_queue_bytes": committer.pending_bytes,
            "ingest": dataclasses.asdict(committer.stats)}


@router.get("/api/stats")
def api_stats(request: Request) -> dict:
    return traces.stats(request.app.state.store)


@router.get("/api/traces")
def api_traces(
    request: Request,
    service: str | None = None,
    agent: str | None = None,
    run_id: str | None = None,
    status: Literal["ok", "error", "open"] | None = None,
    since: str | None = Query(None, description=ACCEPTED_FORMS),
    until: str | None = Query(None, description=ACCEPTED_FORMS),
    limit: int = Query(50, ge=1, le=1000),
) -> dict:
    items = traces.list_traces(
        request.app.state.store, service=service, agent=agent, run_id=run_id, status=status,
        since_ms=parse_time_ms(since, "since"), until_ms=parse_time_ms(until, "until"), limit=limit,
    )
    return {"traces": items}


@router.get("/api/traces/{trace_id}")
def api_trace(request: Request, trace_id: str) -> dict:
    trace_id = parse_trace_id(trace_id)
    spans = traces.get_trace(request.app.state.store, trace_id)
    if spans is None:
        raise HTTPException(404, f"trace {trace_id} not found")
    return {"trace_id": trace_id, "spans": spans}
