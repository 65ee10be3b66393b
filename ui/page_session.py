"""The session-cookie half of page sign-in (see page_auth): BearerAuth that also lets a signed-in
browser through on page paths, and sends one that is not to /login. Imported by ui/app.py when an API
key is set."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from http.cookies import SimpleCookie
from urllib.parse import quote, urlsplit

from .app import BearerAuth
from .page_auth import SESSION_COOKIE, safe_next, session_valid
from .pages_render import is_machine_path

OPEN_PAGE_PATHS = ("/login", "/favicon.ico")
OPEN_PAGE_PREFIXES = ("/static/",)


def _cookies(scope) -> dict[str, str]:
    raw = b"; ".join(v for k, v in scope["headers"] if k == b"cookie").decode("latin-1")
    jar = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # a malformed cookie header is no session, not a 500
        return {}
    return {k: m.value for k, m in jar.items()}


class PageAuth(BearerAuth):
    """BearerAuth, plus the session cookie on page paths (see the module doc)."""

    def __init__(self, app, api_key: str, clock: Callable[[], float] = time.time) -> None:
        super().__init__(app, api_key)
        self.api_key = api_key
        self.clock = clock  # unix seconds; tests pass their own to expire a session without waiting

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or is_machine_path(path):
            await super().__call__(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"authorization", b"")
        cookie = _cookies(scope).get(SESSION_COOKIE, "")
        if (path in OPEN_PAGE_PATHS or path.startswith(OPEN_PAGE_PREFIXES)
                or hmac.compare_digest(given, self.expected)
                or (cookie and session_valid(self.api_key, cookie, self.clock()))):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if scope["method"] in ("GET", "HEAD") and b"hx-request" in headers:
            # An htmx refresh (the live page's, a panel) would follow a 303 and swap the login form into
            # the page; HX-Redirect makes htmx load /login as a whole page, back to the page after.
            current = urlsplit(headers.get(b"hx-current-url", b"/").decode("latin-1"))
            page = safe_next(current.path + ("?" + current.query if current.query else ""))
            location = "/login?next=" + quote(page, safe="")
            await send({"type": "http.response.start", "status": 401,
                        "headers": [(b"hx-redirect", location.encode()), (b"cache-control", b"no-store")]})
            await send({"type": "http.response.body", "body": b""})
            return
        if scope["method"] in ("GET", "HEAD"):
            target = path + ("?" + scope["query_string"].decode("latin-1") if scope["query_string"] else "")
            location = "/login?next=" + quote(target, safe="")
            await send({"type": "http.response.start", "status": 303,
                        "headers": [(b"location", location.encode()), (b"cache-control", b"no-store")]})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
        await send({"type": "http.response.body", "body": b"sign in first: GET /login"})
