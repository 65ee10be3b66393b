"""Page sign-in sessions expire: the cookie carries its issue time under the HMAC, and the middleware
refuses it SESSION_MAX_AGE_S later (driven by an injected clock, not by waiting)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient
from swarmscope.ui.page_auth import SESSION_COOKIE, SESSION_MAX_AGE_S, session_valid, session_value
from swarmscope.ui.page_session import PageAuth

KEY = "k3y-for-tests"
ISSUED = 1_800_000_000


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _client(clock: Clock) -> TestClient:
    app = FastAPI()
    app.get("/findings")(lambda: PlainTextResponse("the page"))
    app.add_middleware(PageAuth, api_key=KEY, clock=clock)
    return TestClient(app, follow_redirects=False)


def _status(client: TestClient, cookie: str) -> tuple[int, str]:
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, cookie)
    resp = client.get("/findings")
    return resp.status_code, resp.headers.get("location", resp.text)


def test_a_session_cookie_works_for_its_max_age_and_not_a_second_longer() -> None:
    clock = Clock(ISSUED)
    client = _client(clock)
    cookie = session_value(KEY, ISSUED)
    assert cookie.startswith(f"{ISSUED}.") and KEY not in cookie
    assert _status(client, cookie) == (200, "the page")
    clock.now = ISSUED + SESSION_MAX_AGE_S - 1
    assert _status(client, cookie) == (200, "the page")
    clock.now = ISSUED + SESSION_MAX_AGE_S
    assert _status(client, cookie) == (303, "/login?next=%2Ffindings")
    # A fresh sign-in works again.
    assert _status(client, session_value(KEY, ISSUED + SESSION_MAX_AGE_S)) == (200, "the page")


def test_forged_and_foreign_session_cookies_are_refused() -> None:
    clock = Clock(ISSUED + 60)
    client = _client(clock)
    mac = session_value(KEY, ISSUED).split(".", 1)[1]
    refused = (303, "/login?next=%2Ffindings")
    assert _status(client, f"{ISSUED + 3600}.{mac}") == refused  # issue time moved: the MAC no longer fits
    assert _status(client, session_value("another-key", ISSUED)) == refused
    assert _status(client, session_value(KEY, ISSUED + 3600)) == refused  # issued in the future
    for junk in ("", ".", mac, f"-5.{mac}", f"{ISSUED}", "x" * 5000, f"{ISSUED}.{mac}.extra"):
        assert not session_valid(KEY, junk, ISSUED + 60), junk
    assert _status(client, f"{ISSUED}.{mac}") == (200, "the page")


def test_an_htmx_refresh_without_a_session_sends_the_whole_page_to_login() -> None:
    clock = Clock(ISSUED + SESSION_MAX_AGE_S)  # the session just expired
    client = _client(clock)
    client.cookies.set(SESSION_COOKIE, session_value(KEY, ISSUED))
    resp = client.get("/findings", headers={"hx-request": "true",
                                            "hx-current-url": "http://testserver/live?run=a%20b"})
    assert (resp.status_code, resp.text) == (401, "")
    assert resp.headers["hx-redirect"] == "/login?next=%2Flive%3Frun%3Da%2520b"
    # Only the current URL's path is kept: the way back stays on this site.
    resp = client.get("/findings", headers={"hx-request": "true", "hx-current-url": "//evil.example/x"})
    assert resp.headers["hx-redirect"] == "/login?next=%2Fx"
    resp = client.get("/findings", headers={"hx-request": "true", "hx-current-url": "http://h/\\evil"})
    assert resp.headers["hx-redirect"] == "/login?next=%2F"
