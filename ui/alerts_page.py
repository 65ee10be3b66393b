"""The alerts page (`/alerts`): rules with their health and instances, recent transitions and
deliveries. It reads what `GET /api/alerts`, `/api/alerts/history` and `/api/alerts/deliveries` read."""

from __future__ import annotations

from fastapi import APIRouter, Request
from swarmscope.alerts import store as alert_store
from swarmscope.schema.times import iso_ms

from .pages_render import render

router = APIRouter()


@router.get("/alerts", include_in_schema=False)
def alerts_page(request: Request):
    state = request.app.state
    evaluator = getattr(state, "alerts", None)
    snapshot = evaluator.snapshot() if evaluator is not None else {"rules": [], "receivers": []}
    history = alert_store.history(state.store, limit=50)
    deliveries = alert_store.deliveries(state.store, limit=50)
    return render(request, "alerts.html", {
        "rules": snapshot["rules"], "receivers": snapshot["receivers"], "history": history,
        "deliveries": deliveries, "iso_ms": iso_ms, "configured": evaluator is not None})
