"""How a browser gets past `serve --api-key`, and how page forms resist cross-site requests.

Browsers cannot send a bearer header on a link or a form, so with an API key set:
- `GET /login` asks for the key once; `POST /login` checks it and sets an HttpOnly, SameSite=Strict
  session cookie `ISSUED.HMAC(key, SESSION_LABEL + ISSUED)` (never the key itself; ISSUED in unix
  seconds). Page paths accept that cookie instead of the bearer header for SESSION_MAX_AGE_S after it
  was issued (the browser is told the same max age); machine paths (/api/, /v1/, ...) still take the
  header only.
- A page that is not signed in redirects to `/login?next=...`; the sign-out button on every page posts
  to `POST /logout`, which clears the cookie.

Every state-changing page form (login, finding triage) is checked by `check_form`:
- the request must come from this origin: `Sec-Fetch-Site` (when sent) is same-origin or none, and
  `Origin` (when sent) is this server's own;
- a double-submit CSRF token: the form's `csrf` field must equal the `swarmscope_csrf` cookie (a random
  value the page sets, SameSite=Strict), which another site can neither read nor set.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import parse_qs

from fastapi import HTTPException, Request
from fastapi.responses import Response

SESSION_COOKIE = "swarmscope_session"
CSRF_COOKIE = "swarmscope_csrf"
SESSION_LABEL = b"swarmscope web ui session v2:"
SESSION_MAX_AGE_S = 12 * 3600
CLOCK_SKEW_S = 60  # a cookie "issued" this far in the future still counts (clocks of one host, restarts)
MAX_FORM_BYTES = 16 * 1024


def _mac(api_key: str, issued_s: int) -> str:
    return hmac.new(api_key.encode(), SESSION_LABEL + str(issued_s).encode(), hashlib.sha256).hexdigest()


def session_value(api_key: str, issued_s: int) -> str:
    """The session cookie's value for a sign-in at `issued_s` (unix seconds)."""
    return f"{issued_s}.{_mac(api_key, issued_s)}"


def session_valid(api_key: str, value: str, now_s: float) -> bool:
    """True for a cookie this server issued (same key) less than SESSION_MAX_AGE_S ago."""
    issued, _, mac = value.partition(".")
    if not issued.isdigit() or len(issued) > 12:
        return False
    issued_s = int(issued)
    if not hmac.compare_digest(mac.encode(), _mac(api_key, issued_s).encode()):
        return False
    return issued_s - CLOCK_SKEW_S <= now_s < issued_s + SESSION_MAX_AGE_S


def csrf_token(request: Request) -> str:
    """The page's CSRF token: the cookie's value if the browser has one, else a new one (set it with
    `set_csrf_cookie` on the response)."""
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)


def set_csrf_cookie(response: Response, token: str) -> Response:
    response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", path="/")
    return response


def same_origin(request: Request) -> bool:
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is not None:
        host = request.headers.get("host", "")
        return origin in (f"http://{host}", f"https://{host}")
    return True


async def check_form(request: Request) -> dict[str, str]:
    """The url-encoded form of a same-origin POST with a valid CSRF token (403 otherwise)."""
    if not same_origin(request):
        raise HTTPException(403, "Cross-site request refused: this form only takes posts from its own pages.")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(413, "Form too large.")
    form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(form.get("csrf", "").encode(), cookie.encode()):
        raise HTTPException(403, "Missing or wrong form token: reload the page and try again.")
    return form


def safe_next(value: str | None, default: str = "/") -> str:
    """A redirect target on this site only (a path, not `//host` or a scheme)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value
