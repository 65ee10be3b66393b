"""The findings page (`/findings`), its triage form posts, the login page, and their JSON twins.

Page and API read through `detectors.triage.search`, so both say the same about a finding that
someone acknowledged or muted: it has left the open list.
"""

from __future__ import annotations

import hmac
import time
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field
from swarmscope.detectors import triage as fq
from swarmscope.detectors.model import KINDS, SEVERITIES

from .page_auth import SESSION_COOKIE, SESSION_MAX_AGE_S, check_form, safe_next, session_value
from .pages_render import render
from .params import parse_time_ms

router = APIRouter()

FILTER_KEYS = ("status", "kind", "severity", "agent", "tool", "service", "run", "since", "until")
DEFAULT_SINCE = "7d"
MUTE_CHOICES = ((15, "15 min"), (60, "1 hour"), (240, "4 hours"), (1440, "1 day"))
FORMS = [f"status: one of {', '.join(fq.STATUSES)}", f"kind: one of {', '.join(KINDS)}",
         f"severity: one of {', '.join(SEVERITIES)}",
         "since / until: 15m, 2h, 7d (ago), unix seconds or ISO 8601",
         "agent, tool, service, run: exact names"]


def _choice(value: str, allowed: tuple[str, ...], name: str) -> str | None:
    if value and value not in allowed:
        raise HTTPException(400, f"invalid {name} {value!r}: one of {', '.join(allowed)}")
    return value or None


def parse_filters(raw: dict[str, str]) -> fq.FindingFilters:
    return fq.FindingFilters(
        status=_choice(raw.get("status") or "open", fq.STATUSES, "status") or "open",
        kind=_choice(raw.get("kind", ""), KINDS, "kind"),
        severity=_choice(raw.get("severity", ""), SEVERITIES, "severity"),
        agent=raw.get("agent") or None, tool=raw.get("tool") or None, service=raw.get("service") or None,
        run_id=raw.get("run") or None,
        since_ms=parse_time_ms(raw.get("since") or DEFAULT_SINCE, "since") or 0,
        until_ms=parse_time_ms(raw.get("until"), "until"))


def _raw(request: Request) -> dict[str, str]:
    return {k: request.query_params.get(k, "").strip()[:256] for k in FILTER_KEYS}


@router.get("/findings", include_in_schema=False)
def findings_page(request: Request, limit: int = Query(100, ge=1, le=500)):
    raw = _raw(request)
    try:
        filters = parse_filters(raw)
    except HTTPException as exc:
        return render(request, "error.html", {"status": 400, "title": "Bad filter", "detail": exc.detail,
                                              "hints": FORMS}, status_code=400)
    items = fq.search(request.app.state.store, filters, limit=limit)
    query = {k: v for k, v in raw.items() if v}
    context = {"findings": items, "raw": raw, "kinds": KINDS, "severities": SEVERITIES,
               "statuses": fq.STATUSES, "mute_choices": MUTE_CHOICES,
               "self_url": "/findings" + ("?" + urlencode(query) if query else ""),
               "limit": limit, "default_since": DEFAULT_SINCE}
    return render(request, "findings.html", context)


@router.post("/findings/{finding_id}/triage", include_in_schema=False)
async def triage_form(request: Request, finding_id: str):
    """Acknowledge / mute / reopen from the page: same-origin form post with its CSRF token."""
    form = await check_form(request)
    _triage(request, finding_id, form.get("action", ""), form.get("minutes", "60"), form.get("note", ""),
            form.get("by", "").strip() or "web page")
    return RedirectResponse(safe_next(form.get("next"), "/findings"), status_code=303)


def _triage(request: Request, finding_id: str, action: str, minutes: str | int, note: str, by: str
            ) -> dict[str, Any]:
    store = request.app.state.store
    if not fq.finding_known(store, finding_id):
        raise HTTPException(404, f"No finding {finding_id!r}.")
    try:
        return fq.triage(store, finding_id, action, minutes=int(minutes), note=note, by=by)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc


# --- JSON twins (bearer auth like the rest of /api) -------------------------------------------------

@router.get("/api/findings/search", tags=["detectors"])
def api_findings_search(
    request: Request,
    status: str = Query("open", description=", ".join(fq.STATUSES)),
    kind: str | None = None, severity: str | None = None, agent: str | None = None,
    tool: str | None = None, service: str | None = None, run: str | None = None,
    since: str | None = Query(None, description=f"default {DEFAULT_SINCE}"), until: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> dict:
    """Findings with their triage: `status` is open, acknowledged, muted or resolved (an acknowledged or
    muted finding is not open); `detector_status` is what the detector says."""
    raw = {"status": status, "kind": kind or "", "severity": severity or "", "agent": agent or "",
           "tool": tool or "", "service": service or "", "run": run or "", "since": since or "",
           "until": until or ""}
    items = fq.search(request.app.state.store, parse_filters(raw), limit=limit)
    return {"findings": items, "count": len(items)}


class TriageBody(BaseModel):
    action: str = Field(description=", ".join(fq.TRIAGE_ACTIONS))
    minutes: int = Field(60, description="how long a mute lasts")
    note: str = Field("", max_length=500)
    by: str = Field("", max_length=fq.MAX_BY, description="who triaged it (default: api)")


@router.post("/api/findings/{finding_id}/triage", tags=["detectors"])
def api_triage(request: Request, finding_id: str, body: TriageBody) -> dict:
    return _triage(request, finding_id, body.action, body.minutes, body.note, body.by.strip() or "api")


# --- login for `serve --api-key` (see page_auth) ------------------------------------------------------

@router.get("/login", include_in_schema=False)
def login_page(request: Request, next: str | None = None):
    context = {"next": safe_next(next), "needed": bool(request.app.state.api_key), "failed": False}
    return render(request, "login.html", context)


@router.post("/login", include_in_schema=False)
async def login(request: Request):
    form = await check_form(request)
    key = request.app.state.api_key
    target = safe_next(form.get("next"))
    if key and not hmac.compare_digest(form.get("key", "").encode(), key.encode()):
        context = {"csrf": form["csrf"], "next": target, "needed": True, "failed": True}
        return render(request, "login.html", context, status_code=401)
    response = RedirectResponse(target, status_code=303)
    if key:
        response.set_cookie(SESSION_COOKIE, session_value(key, int(time.time())), max_age=SESSION_MAX_AGE_S,
                            httponly=True, samesite="strict", path="/")
    return response


@router.post("/logout", include_in_schema=False)
async def logout(request: Request):
    await check_form(request)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
