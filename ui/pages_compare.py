"""Compare two runs (`/compare?a=RUN&b=RUN`; `a=previous` is the previous run of b's name)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse
from swarmscope.schema.queries import compare as compare_queries

from .pages_render import render
from .run_compare import compare

router = APIRouter()


@router.get("/compare", include_in_schema=False)
def compare_page(request: Request, a: str = "", b: str = ""):
    a, b = a.strip()[:256], b.strip()[:256]
    store = request.app.state.store
    if a == "previous" and b:
        previous = compare_queries.previous_run(store, b)
        if previous is None:
            raise HTTPException(404, f"No earlier run with the same root span and service as {b!r}.")
        target = f"/compare?a={quote(previous, safe='')}&b={quote(b, safe='')}"
        return RedirectResponse(target, status_code=303)
    if not a or not b:
        return render(request, "compare.html", {"a": a, "b": b, "cmp": None})
    spans_a, spans_b = compare_queries.run_spans(store, a), compare_queries.run_spans(store, b)
    for name, spans in ((a, spans_a), (b, spans_b)):
        if spans is None:
            raise HTTPException(404, f"No run or trace {name!r} in the store (it may have expired).")
    return render(request, "compare.html", {"a": a, "b": b, "cmp": compare(spans_a, spans_b)})
