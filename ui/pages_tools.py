"""Tools (`/tools`: per tool calls, error rate, timeouts, retries, p50/p95/p99 with sparklines, sortable)
and one tool (`/tools/{name}`: the same over time, and its failures grouped by error message)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from swarmscope.schema.queries import tool_series, tools
from swarmscope.schema.times import now_ms

from .pages_render import render
from .sparkline import spark

router = APIRouter()

RANGES = {"15m": 15 * 60_000, "1h": 3_600_000, "6h": 6 * 3_600_000, "24h": 86_400_000, "7d": 7 * 86_400_000}
DEFAULT_RANGE = "1h"
BUCKETS = 30
SORTS = ("tool", "calls", "errors", "error_rate", "timeouts", "retries", "p50_ms", "p95_ms", "p99_ms")


def pick_range(request: Request) -> tuple[str, int]:
    """The page's time range (`?range=1h`) and its start in epoch ms; 400 naming the choices."""
    name = request.query_params.get("range") or DEFAULT_RANGE
    if name not in RANGES:
        raise HTTPException(400, f"invalid range {name!r}: one of {', '.join(RANGES)}")
    return name, now_ms() - RANGES[name]


def pick_sort(request: Request, allowed: tuple[str, ...], default: str) -> tuple[str, bool]:
    key = request.query_params.get("sort") or default
    if key not in allowed:
        raise HTTPException(400, f"invalid sort {key!r}: one of {', '.join(allowed)}")
    return key, request.query_params.get("dir", "desc" if key != allowed[0] else "asc") == "desc"


def sparks(series: dict[str, list[float]] | None, metrics: tuple[str, ...]) -> dict[str, Any]:
    return {m: spark(series[m]) if series else None for m in metrics}


@router.get("/tools", include_in_schema=False)
def tools_page(request: Request):
    range_name, since = pick_range(request)
    sort, desc = pick_sort(request, SORTS, "calls")
    store = request.app.state.store
    rows = tools.tools(store, since_ms=since, limit=500)
    series = tool_series.series(store, since_ms=since, buckets=BUCKETS)
    rows.sort(key=lambda r: (r[sort] is None, r[sort]), reverse=desc)
    for r in rows:
        r["sparks"] = sparks(series.get(r["tool"]), tool_series.METRICS)
    return render(request, "tools.html", {"tools": rows, "range": range_name, "ranges": RANGES,
                                          "sort": sort, "desc": desc, "sorts": SORTS})


@router.get("/tools/{name:path}", include_in_schema=False)
def tool_page(request: Request, name: str):
    range_name, since = pick_range(request)
    store = request.app.state.store
    if not tools.tool_known(store, name):
        raise HTTPException(404, f"No calls of tool {name!r} recorded (it may have expired).")
    totals = next((r for r in tools.tools(store, since_ms=since, limit=1000) if r["tool"] == name), None)
    series = tool_series.series(store, since_ms=since, buckets=BUCKETS, tool=name).get(name)
    letters = tool_series.dead_letters(store, name, since_ms=since)
    return render(request, "tool.html", {"name": name, "totals": totals, "range": range_name,
                                         "ranges": RANGES, "sparks": sparks(series, tool_series.METRICS),
                                         "letters": letters})
