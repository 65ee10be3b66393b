"""Pages over HTTP from a real `swarmscope serve`: status codes, error pages, escaping, partials, headers."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import ui_feed


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read().decode()


def test_pages_errors_and_escaping(server) -> None:
    hostile = ui_feed.feed_hostile(server.url)
    runs = ui_feed.feed_small_runs(server.url)
    server.wait_for(lambda: len(server.get("/api/runs")["runs"]) == 1 + len(runs))

    status, headers, html = fetch(server.url + "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in headers["content-security-policy"]
    assert ui_feed.HOSTILE_NAME not in html  # only its escaped form
    assert "&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;" in html

    status, _, html = fetch(server.url + f"/traces/{hostile}")
    assert status == 200 and "<script>alert" not in html and "onerror=alert" not in html.replace("&", "")
    assert '<a href="/runs/run-hostile">run-hostile</a>' in html  # a trace page links to its run
    span_id = html.split('data-span="')[1].split('"')[0]
    status, _, panel = fetch(server.url + f"/traces/{hostile}/spans/{span_id}", {"HX-Request": "true"})
    assert status == 200
    assert "&lt;img src=x onerror=alert(&#34;attr&#34;)&gt;" in panel
    assert "javascript:alert(&#39;link&#39;)" in panel and 'href="javascript' not in panel

    for path, code, text in [
        ("/runs/nope", 404, "No run with id"),
        ("/traces/" + "a" * 32, 404, "No trace"),
        ("/traces/xyz", 400, "32 hex characters"),
        (f"/traces/{hostile}/spans/0000000000000000", 404, "No span"),
        ("/?status=sideways", 400, "deadlocked"),
        ("/?since=yesterday-ish", 400, "15m, 2h, 7d"),
        ("/?attr=nothing", 400, "key=value"),
        ("/?before=garbage", 400, "older"),
        ("/no/such/page", 404, "Not found"),
    ]:
        status, headers, html = fetch(server.url + path)
        assert (status, headers["content-type"].split(";")[0]) == (code, "text/html"), path
        assert text in html and "Traceback" not in html and '<a href="/">' in html, path

    # The JSON API keeps JSON errors.
    for path, code in [("/api/runs?status=sideways", 400), ("/api/traces/" + "a" * 32, 404),
                       ("/api/runs?limit=0", 422)]:
        status, headers, body = fetch(server.url + path)
        assert (status, headers["content-type"]) == (code, "application/json"), path
        assert "detail" in json.loads(body)


def test_runs_partial_for_htmx_and_api_agree(server) -> None:
    ui_feed.feed_small_runs(server.url)
    # The runs arrive in three requests, which may be stored by different inserts: wait for both.
    def both_billing_runs() -> list[dict] | None:
        runs = server.get("/api/runs", service="billing")["runs"]
        return runs if len(runs) == 2 else None

    api = server.wait_for(both_billing_runs)
    assert [r["run_key"] for r in api] == ["run-gamma", "run-alpha"]
    status, _, html = fetch(server.url + "/?service=billing", {"HX-Request": "true", "HX-Target": "runs"})
    assert status == 200 and "<html" not in html  # the list only, swapped into the page
    assert html.index("/runs/run-gamma") < html.index("/runs/run-alpha")
    assert "/runs/run-beta" not in html


def test_big_trace_first_render_is_small_and_children_load(server) -> None:
    trace_id = ui_feed.feed_big_trace(server.url)
    server.wait_for(lambda: [t["span_count"] for t in server.get("/api/traces", run_id="run-big")["traces"]]
                    == [ui_feed.BIG_TRACE_SPANS], timeout=60)
    status, _, html = fetch(server.url + f"/traces/{trace_id}")
    assert status == 200 and len(html) < 1_000_000
    assert html.count('class="tog lazy"') == ui_feed.BIG_AGENTS
    big_agent = "0000000000000002"
    status, _, rows = fetch(server.url + f"/traces/{trace_id}/children/{big_agent}?depth=2",
                            {"HX-Request": "true"})
    assert status == 200
    assert rows.count('role="treeitem"') == 200 and f"show {ui_feed.BIG_CHILDREN - 200} more" in rows
    status, _, rows = fetch(server.url + f"/traces/{trace_id}/children/{big_agent}?depth=2&offset=1000",
                            {"HX-Request": "true"})
    assert rows.count('role="treeitem"') == ui_feed.BIG_CHILDREN - 1000 and "more spans" not in rows
