"""Server-rendered pages: the runs list, the run / trace view and its partials (htmx), `/api/runs`.

Pages and the JSON API read through the same query functions (schema/queries/runs.py and spans.py,
detectors/views.py), so a page never shows what the API would not.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from swarmscope import _conventions as conv
from swarmscope.detectors import views
from swarmscope.detectors.model import KINDS
from swarmscope.schema import times
from swarmscope.schema.queries import spans as span_queries
from swarmscope.schema.queries.handoffs import handoffs
from swarmscope.schema.queries.runs import (
    STATUSES,
    BadFilter,
    RunFilters,
    list_runs,
    parse_attr,
    parse_cursor,
    run_traces,
)

from . import agent_graph, trace_view
from .critical_path import critical_path
from .pages_render import error_page, render
from .params import parse_time_ms, parse_trace_id

router = APIRouter()

FILTER_FORMS = [
    f"since / until: {times.ACCEPTED_FORMS} (default: the last 24 hours)",
    f"status: one of {', '.join(STATUSES)}",
    f"finding: one of {', '.join(KINDS)}",
    "attr: key=value (exact) or key~substring, over span attributes",
    "service, agent, tool, run: exact names",
]
FILTER_KEYS = ("service", "agent", "tool", "run", "status", "finding", "attr", "since", "until")


def _filters(request: Request) -> tuple[RunFilters, dict[str, str]]:
    """The runs filters of the query string (the raw values are echoed back into the form)."""
    raw = {k: request.query_params.get(k, "").strip() for k in FILTER_KEYS}
    try:
        filters = RunFilters(
            service=raw["service"] or None, agent=raw["agent"] or None, tool=raw["tool"] or None,
            run_id=raw["run"] or None, status=raw["status"] or None, finding=raw["finding"] or None,
            attr=parse_attr(raw["attr"]) if raw["attr"] else None,
            since_ms=parse_time_ms(raw["since"], "since"), until_ms=parse_time_ms(raw["until"], "until"))
        filters.check(KINDS)
    except BadFilter as exc:
        raise HTTPException(400, str(exc)) from exc
    return filters, raw


def _cursor(before: str | None) -> tuple[int, str] | None:
    try:
        return parse_cursor(before) if before else None
    except BadFilter as exc:
        raise HTTPException(400, str(exc)) from exc


def _runs(request: Request, before: str | None, limit: int) -> tuple[dict[str, Any], dict[str, str]]:
    filters, raw = _filters(request)
    return list_runs(request.app.state.store, filters, limit=limit, before=_cursor(before)), raw


@router.get("/api/runs", tags=["runs"])
def api_runs(request: Request, service: str | None = None, agent: str | None = None,
             tool: str | None = None, run: str | None = None,
             status: str | None = Query(None, description=", ".join(STATUSES)),
             finding: str | None = Query(None, description="an open finding kind"),
             attr: str | None = Query(None, description="key=value or key~substring"),
             since: str | None = Query(None, description=f"default 24h; {times.ACCEPTED_FORMS}"),
             until: str | None = None, before: str | None = Query(None, description="cursor: `next`"),
             limit: int = Query(50, ge=1, le=500)) -> dict:
    """Runs (a run id, else a trace), newest activity first, with status, counts and open findings."""
    result, _ = _runs(request, before, limit)
    return result


@router.get("/", include_in_schema=False)
def runs_page(request: Request, before: str | None = None, limit: int = Query(50, ge=1, le=500)):
    try:
        result, raw = _runs(request, before, limit)
    except HTTPException as exc:
        if exc.status_code != 400:
            raise
        return error_page(request, 400, "Bad filter", exc.detail, FILTER_FORMS)
    query = {k: v for k, v in raw.items() if v}
    context = {"result": result, "raw": raw, "statuses": STATUSES, "kinds": KINDS,
               "next_url": "/?" + urlencode({**query, "before": result["next"]}) if result["next"] else None,
               "self_url": "/?" + urlencode(query) if query else "/"}
    partial = request.headers.get("hx-request") and request.headers.get("hx-target") == "runs"
    return render(request, "_runs_table.html" if partial else "runs.html", context)


@router.get("/runs/{run_id:path}", include_in_schema=False)
def run_page(request: Request, run_id: str):
    store = request.app.state.store
    trace_ids = run_traces(store, run_id)
    if not trace_ids:
        raise HTTPException(404, f"No run with id {run_id!r} in the store (it may have expired).")
    findings = views.list_findings(store, run_id=run_id, limit=200)
    return _view(request, f"Run {run_id}", trace_ids, findings, run_id=run_id)


@router.get("/traces/{trace_id}", include_in_schema=False)
def trace_page(request: Request, trace_id: str):
    trace_id = parse_trace_id(trace_id)
    findings = views.list_findings(request.app.state.store, trace_id=trace_id, limit=200)
    return _view(request, f"Trace {trace_id}", [trace_id], findings)


FINDING_CARD_LIMIT = 25
FINDING_SPAN_LINK_LIMIT = 12


def _view(request: Request, title: str, trace_ids: list[str], findings: list[dict[str, Any]],
          run_id: str | None = None):
    spans = span_queries.outline(request.app.state.store, trace_ids)
    if spans is None:
        raise HTTPException(404, f"No trace {trace_ids[0]} in the store (it may have expired).")
    tree = trace_view.build_tree(spans)
    rows = trace_view.rows(tree, tree.roots[:trace_view.ROOT_LIMIT], 0)
    critical = _critical_path(spans)
    graph = agent_graph.build(spans, findings, view=request.query_params.get("graph"),
                              handoffs=handoffs(request.app.state.store, trace_ids))
    agents = sorted({s["agent_name"] or s["agent_id"] for s in spans if s["agent_name"] or s["agent_id"]})
    summary = {
        "spans": len(spans), "traces": len(trace_ids), "agents": agents,
        "errors": sum(1 for s in spans if s["status_code"] == "Error"),
        "open": sum(1 for s in spans if s["open"]), "lost": sum(1 for s in spans if s["lost"]),
        "tokens": sum((s["input_tokens"] or 0) + (s["output_tokens"] or 0) for s in spans),
        "duration_ms": (tree.t1 - tree.t0) / 1e6 if spans else 0,
        "start_time": spans[0]["start_time"] if spans else None,
        "services": sorted({s["service_name"] for s in spans if s["service_name"]}),
        "run_ids": sorted({s["run_id"] for s in spans if s["run_id"]})[:5],
    }
    context = {"title": title, "run_id": run_id, "trace_ids": trace_ids, "rows": rows, "tree": tree,
               "hidden_roots": max(len(tree.roots) - trace_view.ROOT_LIMIT, 0),
               "summary": summary, "findings": findings, "pins": _pins(findings), "critical": critical,
               "graph": graph, "open_findings": [f for f in findings if f["status"] == "open"],
               # A trace of thousands of repeated calls can carry hundreds of findings: the page shows
               # the first cards and links to the findings page for the rest.
               "card_limit": FINDING_CARD_LIMIT, "span_link_limit": FINDING_SPAN_LINK_LIMIT,
               "findings_run": run_id or (summary["run_ids"] or trace_ids)[0]}
    return render(request, "trace.html", context)


def _pins(findings: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Span id -> the findings that name it (pinned to its waterfall row)."""
    pins: dict[str, list[dict[str, Any]]] = {}
    for f in findings:
        for sid in f["span_ids"]:
            pins.setdefault(sid, []).append(f)
    return pins


def _critical_path(spans: list[dict[str, Any]]) -> set[str]:
    return set(critical_path(spans))


@router.get("/traces/{trace_id}/children/{span_id}", include_in_schema=False)
def children_partial(request: Request, trace_id: str, span_id: str, depth: int = Query(1, ge=0, le=10_000),
                     offset: int = Query(0, ge=0), t0: int | None = None, t1: int | None = None):
    """The rows below a collapsed span (or its next page of children), on the page's time scale."""
    trace_id = parse_trace_id(trace_id)
    spans = span_queries.outline(request.app.state.store, [trace_id])
    if spans is None:
        raise HTTPException(404, f"No trace {trace_id} in the store.")
    tree = trace_view.build_tree(spans)
    if span_id not in tree.spans:
        raise HTTPException(404, f"No span {span_id} in trace {trace_id}.")
    if t0 is not None and t1 is not None and t1 > t0:
        tree.t0, tree.t1 = t0, t1
    rows = trace_view.child_rows(tree, span_id, depth, offset)
    findings = views.list_findings(request.app.state.store, trace_id=trace_id, limit=200)
    return render(request, "_rows.html", {"rows": rows, "tree": tree, "pins": _pins(findings),
                                          "critical": _critical_path(spans)})


ATTR_GROUPS = (("GenAI", conv.GENAI_PREFIX), ("Evidence", conv.EVIDENCE_PREFIX),
               ("swarmscope", conv.SWARMSCOPE_PREFIX))
CAPTURED = ((conv.TOOL_ARGUMENTS, "Tool arguments"), (conv.TOOL_RESULT, "Tool result"),
            (conv.INPUT_CONTENT, "Input"), (conv.OUTPUT_CONTENT, "Output"))


def group_attributes(attributes: dict[str, str]) -> list[tuple[str, list[tuple[str, str]]]]:
    """GenAI, evidence, swarmscope, other: each attribute in the first group whose prefix it has."""
    groups: dict[str, list[tuple[str, str]]] = {name: [] for name, _ in ATTR_GROUPS}
    groups["Other"] = []
    for key in sorted(attributes):
        name = next((n for n, prefix in ATTR_GROUPS if key.startswith(prefix)), "Other")
        groups[name].append((key, attributes[key]))
    return [(name, items) for name, items in groups.items() if items]


def pretty(value: str) -> str:
    """JSON text indented for reading; anything else as it came."""
    try:
        return json.dumps(json.loads(value), indent=2, ensure_ascii=False)
    except (ValueError, TypeError):
        return value


@router.get("/traces/{trace_id}/spans/{span_id}", include_in_schema=False)
def span_partial(request: Request, trace_id: str, span_id: str):
    trace_id = parse_trace_id(trace_id)
    span = span_queries.get_span(request.app.state.store, trace_id, span_id)
    if span is None:
        raise HTTPException(404, f"No span {span_id} in trace {trace_id}.")
    attrs = span["attributes"]
    prefix = conv.EVIDENCE_PREFIX
    evidence = {k[len(prefix):]: v for k, v in attrs.items() if k.startswith(prefix)}
    captured = [(label, pretty(attrs[key])) for key, label in CAPTURED if attrs.get(key)]
    findings = [f for f in views.list_findings(request.app.state.store, trace_id=trace_id, limit=200)
                if span_id in f["span_ids"]]
    return render(request, "_span_panel.html", {
        "span": span, "groups": group_attributes(attrs),
        "resource": sorted(span["resource_attributes"].items()),
        "evidence": evidence, "captured": captured, "findings": findings})
