"""HTTP: `GET /metrics` (Prometheus) and `GET /api/alerts` (rules, health, instances, history, deliveries)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from prometheus_client.exposition import choose_encoder

from . import store as alert_store
from .metrics import registry_for

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    state = request.app.state
    registry = getattr(state, "metrics_registry", None)
    if registry is None:
        registry = state.metrics_registry = registry_for(state)
    # The format the scraper asks for (Accept): Prometheus text 0.0.4 by default, or OpenMetrics.
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(registry), headers={"Content-Type": content_type})


@router.get("/api/alerts", tags=["alerts"])
def api_alerts(request: Request) -> dict:
    """Every rule with its health and instances (empty when no rules are configured)."""
    evaluator = getattr(request.app.state, "alerts", None)
    if evaluator is None:
        return {"rules": [], "receivers": []}
    return evaluator.snapshot()


@router.get("/api/alerts/history", tags=["alerts"])
def api_alert_history(request: Request, rule: str | None = Query(None, max_length=256),
                      limit: int = Query(100, ge=1, le=1000)) -> dict:
    """State transitions, newest first."""
    return {"history": alert_store.history(request.app.state.store, rule, limit)}


@router.get("/api/alerts/deliveries", tags=["alerts"])
def api_alert_deliveries(request: Request, rule: str | None = Query(None, max_length=256),
                         limit: int = Query(100, ge=1, le=1000)) -> dict:
    """Notification delivery attempts, newest first."""
    return {"deliveries": alert_store.deliveries(request.app.state.store, rule, limit)}
