"""Agents (`/agents`: runs, errors, mean confidence, tokens per run, latency, sparklines, drift status)
and one agent (`/agents/{name}`: the same over time, what drifted against its own baseline and since
when, its open findings and its recent runs)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from swarmscope.detectors import triage as fq
from swarmscope.detectors import views
from swarmscope.schema.queries import agents as agent_queries
from swarmscope.schema.queries.runs import RunFilters, list_runs

from .pages_render import render
from .pages_tools import BUCKETS, RANGES, pick_range, pick_sort, sparks

router = APIRouter()
SORTS = ("agent_id", "runs", "errors", "error_rate", "mean_confidence", "tokens_per_run", "p95_ms")


def _drift(store, since_ms: int, agent: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Agent id -> its drift findings (open first): what moved, from what to what, since when."""
    found = fq.search(store, fq.FindingFilters(status="all", kind="drift", agent=agent, since_ms=since_ms),
                      limit=500)
    out: dict[str, list[dict[str, Any]]] = {}
    for f in found:
        ev = f["evidence"]
        if "agent" not in ev:
            continue
        base, recent = ev.get("baseline"), ev.get("recent")
        f["change"] = (recent / base) if base else None
        out.setdefault(ev["agent"], []).append(f)
    return out


def _rows(request: Request, since: int, agent: str | None = None) -> list[dict[str, Any]]:
    store = request.app.state.store
    config = getattr(request.app.state, "detector_config", None)
    rows = views.agents(store, since_ms=since, limit=1000, config=config)
    if agent is not None:
        rows = [r for r in rows if r["agent_id"] == agent]
    lat = agent_queries.latency(store, since_ms=since, agent=agent)
    series = agent_queries.series(store, since_ms=since, buckets=BUCKETS, agent=agent)
    drift = _drift(store, since, agent)
    for r in rows:
        a = r["agent_id"]
        tokens = (r["input_tokens"] or 0) + (r["output_tokens"] or 0)
        r["tokens"] = tokens
        r["tokens_per_run"] = tokens / r["runs"] if r["runs"] else None
        r.update(lat.get(a, {"p50_ms": None, "p95_ms": None, "mean_ms": None}))
        r["sparks"] = sparks(series.get(a), agent_queries.METRICS)
        r["drift"] = drift.get(a, [])
        r["drifting"] = [d for d in r["drift"] if d["detector_status"] == "open"]
    return rows


@router.get("/agents", include_in_schema=False)
def agents_page(request: Request):
    range_name, since = pick_range(request)
    sort, desc = pick_sort(request, SORTS, "runs")
    rows = _rows(request, since)
    rows.sort(key=lambda r: (r[sort] is None, r[sort] if r[sort] is not None else 0), reverse=desc)
    return render(request, "agents.html", {"agents": rows, "range": range_name, "ranges": RANGES,
                                           "sort": sort, "desc": desc})


@router.get("/agents/{name:path}", include_in_schema=False)
def agent_page(request: Request, name: str):
    range_name, since = pick_range(request)
    store = request.app.state.store
    rows = _rows(request, since, agent=name)
    runs = list_runs(store, RunFilters(agent=name, since_ms=since), limit=20)["runs"]
    if not rows and not runs:
        raise HTTPException(404, f"No spans of agent {name!r} in the last {range_name}: try a longer range "
                                 f"(?range=7d).")
    findings = fq.search(store, fq.FindingFilters(status="open", agent=name, since_ms=since), limit=50)
    return render(request, "agent.html", {"name": name, "a": rows[0] if rows else None, "runs": runs,
                                          "findings": findings, "range": range_name, "ranges": RANGES})
