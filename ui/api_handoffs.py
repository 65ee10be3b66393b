"""JSON of the declared hand-offs of a run or a trace (schema/queries/handoffs.py), as the run page's
agent graph and hand-off chain show them."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from swarmscope.schema.queries.handoffs import Handoff, agent_chains, handoffs
from swarmscope.schema.queries.runs import run_traces

from .params import parse_trace_id

router = APIRouter(tags=["runs"])


def _body(steps: list[Handoff], trace_ids: list[str]) -> dict:
    return {"trace_ids": trace_ids, "handoffs": [h.as_json() for h in steps],
            "chains": agent_chains(steps)}


@router.get("/api/runs/{run_id:path}/handoffs")
def api_run_handoffs(request: Request, run_id: str) -> dict:
    """The run's hand-offs in time order (who handed off to whom, when, in which span), and the
    chains of agents they make (A → B → C). As resolved by the last detection sweep."""
    trace_ids = run_traces(request.app.state.store, run_id)
    if not trace_ids:
        raise HTTPException(404, f"No run with id {run_id!r} in the store (it may have expired).")
    return {"run_id": run_id, **_body(handoffs(request.app.state.store, trace_ids), trace_ids)}


@router.get("/api/traces/{trace_id}/handoffs")
def api_trace_handoffs(request: Request, trace_id: str) -> dict:
    """The trace's hand-offs, as for a run."""
    trace_id = parse_trace_id(trace_id)
    return _body(handoffs(request.app.state.store, [trace_id]), [trace_id])
