"""Page plumbing: the Jinja2 environment, security headers, and error pages in the page style.

Span content is hostile (LLM output): templates rely on autoescape alone (never `|safe`), and the
Content-Security-Policy forbids inline script, so even a missed escape cannot run code.
"""

from __future__ import annotations

import json
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from .page_auth import CSRF_COOKIE, csrf_token, set_csrf_cookie

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))  # autoescape on for .html

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]
# Machine paths keep JSON errors (and pay for no header rewriting on the ingest path).
MACHINE_PREFIXES = ("/api/", "/v1/", "/healthz", "/metrics", "/openapi.json", "/docs", "/redoc")


def is_machine_path(path: str) -> bool:
    return path.startswith(MACHINE_PREFIXES)


class SecurityHeaders:
    """Plain ASGI: adds the headers above to every page and static file response."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or is_machine_path(scope["path"]):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    """The template with `csrf` (the form token every page's forms post, the sign-out button's too) and
    `signed_in` (pages are behind `serve --api-key`) in its context; sets the token's cookie when the
    browser has none yet."""
    token = context.get("csrf") or csrf_token(request)
    signed_in = bool(getattr(request.app.state, "api_key", None)) and request.url.path != "/login"
    response = templates.TemplateResponse(request, name, {**context, "csrf": token, "signed_in": signed_in},
                                          status_code=status_code)
    return response if request.cookies.get(CSRF_COOKIE) == token else set_csrf_cookie(response, token)


def error_page(request: Request, status: int, title: str, detail: str, hints: list[str] | None = None):
    template = "_error_fragment.html" if request.headers.get("hx-request") else "error.html"
    return render(request, template, {"status": status, "title": title, "detail": detail,
                                      "hints": hints or []}, status_code=status)


def install(app: FastAPI) -> None:
    """Static files, headers, and HTML error pages for page paths (machine paths keep JSON errors)."""
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if is_machine_path(request.url.path):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        title = {404: "Not found", 400: "Bad request"}.get(exc.status_code, "Error")
        return error_page(request, exc.status_code, title, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        if is_machine_path(request.url.path):
            return JSONResponse({"detail": jsonable_errors(exc)}, status_code=422)
        hints = [f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors()]
        return error_page(request, 400, "Bad request", "Some parameters could not be read.", hints)


def jsonable_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    from fastapi.encoders import jsonable_encoder

    return jsonable_encoder(exc.errors())


# --- template filters: numbers and times a person reads at 3 a.m. ----------------------------------

def duration(ms: float | None) -> str:
    if ms is None:
        return "–"
    if ms < 1:
        return f"{ms * 1000:.0f} µs"
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    s = ms / 1000
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)}m {int(s % 60):02d}s"
    return f"{int(s // 3600)}h {int(s % 3600 // 60):02d}m"


def age(iso_time: str | None, now: datetime | None = None) -> str:
    if not iso_time:
        return "–"
    moment = datetime.fromisoformat(iso_time.replace("Z", "+00:00"))
    now = now or datetime.now(timezone.utc)
    return duration(max((now - moment).total_seconds(), 0) * 1000) + " ago"


def count(n: int | None) -> str:
    if not n:
        return "0"
    if n < 10_000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.0f}k"
    return f"{n / 1e6:.1f}M"


AGENT_COLOURS = 12


def agent_colour(agent: str | None) -> str:
    """A stable colour class per agent (`ac0`..`ac11`); no agent is grey."""
    if not agent:
        return "acx"
    return f"ac{zlib.crc32(agent.encode()) % AGENT_COLOURS}"


def pretty_json(value: Any) -> str:
    """Indented JSON as plain text (autoescaped like everything else, unlike Jinja's `tojson`)."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


templates.env.filters.update(duration=duration, age=age, count=count, agent_colour=agent_colour,
                             pretty_json=pretty_json)
