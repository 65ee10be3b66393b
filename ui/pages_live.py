"""The live page (`/live`): open runs, open waits, silent agents and the wait-for graph, as of now.
`/live/body` is the part the page swaps in every few seconds (ui/static/live.js)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from swarmscope.detectors import live as live_query

from .pages_render import render
from .wait_graph import layout

router = APIRouter()
REFRESH_S = 5


def _context(request: Request) -> dict:
    config = getattr(request.app.state, "detector_config", None)
    snapshot = live_query.snapshot(request.app.state.store, config)
    return {"live": snapshot, "wg": layout(snapshot.graph), "every_s": REFRESH_S}


@router.get("/live", include_in_schema=False)
def live_page(request: Request):
    return render(request, "live.html", _context(request))


@router.get("/live/body", include_in_schema=False)
def live_body(request: Request):
    return render(request, "_live_body.html", _context(request))
