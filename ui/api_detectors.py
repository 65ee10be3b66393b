"""Findings, waits, tools and agents API (swarmscope.detectors underneath)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from swarmscope.detectors import triage, views
from swarmscope.detectors.model import KINDS
from swarmscope.schema.queries import tools
from swarmscope.schema.times import ACCEPTED_FORMS, now_ms

from .params import parse_time_ms, parse_trace_id

router = APIRouter()

Kind = Literal[KINDS]  # type: ignore[valid-type]
SINCE_HELP = ACCEPTED_FORMS


def _since_ms(value: str | None, default_s: int | None) -> int:
    since = parse_time_ms(value, "since")
    if since is None:
        return 0 if default_s is None else now_ms() - default_s * 1000
    return since


def _config(request: Request):
    return getattr(request.app.state, "detector_config", None)


@router.get("/api/findings", tags=["detectors"])
def api_findings(
    request: Request,
    kind: Kind | None = Query(None, description="one finding kind"),
    trace_id: str | None = Query(None, description="32 hex characters"),
    run_id: str | None = Query(None, max_length=256),
    agent: str | None = Query(None, max_length=256, description="agent id among the finding's agents"),
    since: str | None = Query(None, description=f"last seen at or after: {SINCE_HELP}"),
    status: Literal["open", "resolved"] | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> dict:
    """Findings as the detectors state them (`status` open or resolved, the filter's sense), each with its
    `triage` (acknowledged, or muted `until`, `by` whom, or null) and `effective_status` (what the
    findings page and /api/findings/search call `status`: open, acknowledged, muted or resolved)."""
    items = views.list_findings(
        request.app.state.store,
        kind=kind,
        trace_id=parse_trace_id(trace_id) if trace_id else None,
        run_id=run_id,
        agent=agent,
        since_ms=_since_ms(since, None),
        status=status,
        limit=limit,
    )
    return {"findings": triage.with_triage(request.app.state.store, items), "count": len(items)}


@router.get("/api/waits", tags=["detectors"])
def api_waits(request: Request, run_id: str | None = Query(None, max_length=256)) -> dict:
    """Open waits, the wait-for graph (nodes and edges) and its cycles, as of now."""
    return views.wait_graph(request.app.state.store, _config(request), run_id=run_id)


@router.get("/api/tools", tags=["detectors"])
def api_tools(
    request: Request,
    since: str | None = Query(None, description=f"default 1h; {SINCE_HELP}"),
    limit: int = Query(200, ge=1, le=1000),
) -> dict:
    return {"tools": tools.tools(request.app.state.store, since_ms=_since_ms(since, 3600), limit=limit)}


@router.get("/api/tools/{name}/failures", tags=["detectors"])
def api_tool_failures(
    request: Request,
    name: str = Path(..., min_length=1, max_length=256),
    since: str | None = Query(None, description=f"default 24h; {SINCE_HELP}"),
    limit: int = Query(100, ge=1, le=1000),
) -> dict:
    store = request.app.state.store
    if not tools.tool_known(store, name):
        raise HTTPException(404, f"no calls of tool {name!r} recorded")
    failures = tools.tool_failures(store, name, since_ms=_since_ms(since, 86400), limit=limit)
    return {"tool": name, "failures": failures}


@router.get("/api/agents", tags=["detectors"])
def api_agents(
    request: Request,
    since: str | None = Query(None, description=f"default 1h; {SINCE_HELP}"),
    limit: int = Query(200, ge=1, le=1000),
) -> dict:
    return {
        "agents": views.agents(
            request.app.state.store, since_ms=_since_ms(since, 3600), limit=limit, config=_config(request)
        )
    }
