"""Part 2 pages (live, findings, tools, agents, compare) in real headless Chromium against a real
`swarmscope serve` fed with the demo scenarios. Browser setup and screenshots: tests/test_ui_browser.py.
"""

from __future__ import annotations

import contextlib
import urllib.error
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
import ui2_feed
from harness import Server
from playwright.sync_api import Page, expect
from swarmscope.ui import demo
from swarmscope.ui.page_auth import SESSION_MAX_AGE_S
from test_ui_browser import Console, browser, settle, shot  # noqa: F401 - `browser` is a fixture

PREFIX = "ui2-"
CYCLE = {"planner", "coder", "tester", "docs"}
RED = "rgb(198, 40, 40)"
WIDTHS = (1280, 390)


@pytest.fixture(scope="module")
def ui2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    srv = Server(data_dir=tmp_path_factory.mktemp("ui2") / "data", extra_args=["--detect-interval", "0.5"])
    srv.start()
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(srv.stop)
        runs = cleanup.enter_context(demo.running(srv.url, prefix=PREFIX))
        variant = ui2_feed.feed_healthy_variant(srv.url, PREFIX + "healthy-b")
        for kind in ("deadlock", "phantom_completion", "retry_storm"):
            srv.wait_for(lambda k=kind: srv.get("/api/findings/search", kind=k)["count"], timeout=60)
        srv.wait_for(lambda: srv.get("/api/tools")["tools"], timeout=60)
        yield {"server": srv, "demo": runs, "variant": variant}


@pytest.fixture
def page(browser) -> Iterator[Page]:  # noqa: F811 - the imported fixture
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    p = context.new_page()
    p.console = Console(p)  # type: ignore[attr-defined]
    yield p
    context.close()


def pages(ui2: dict) -> dict[str, str]:
    return {
        "live": "/live", "findings": "/findings", "findings-all": "/findings?status=all&since=1h",
        "tools": "/tools", "tool-search_api": "/tools/search_api", "agents": "/agents?sort=errors",
        "agent-coder": "/agents/coder", "compare-empty": "/compare",
        "compare": "/compare?" + urlencode({"a": PREFIX + "healthy", "b": ui2["variant"]}),
        "login": "/login",
    }


def test_every_page_loads_without_console_errors_at_both_widths(ui2, page: Page) -> None:
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for name, path in pages(ui2).items():
            response = page.goto(ui2["server"].url + path)
            settle(page)
            assert response.status == 200, (path, response.status)
            assert page.locator("header.top nav a[href='/live']").is_visible(), path
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, (path, width, overflow)
            shot(page, f"ui2-{name}-{width}")
    assert page.console.unexpected() == []
    assert page.console.dialogs == []


def test_bad_values_are_400_pages_naming_the_accepted_forms(ui2, page: Page) -> None:
    url = ui2["server"].url
    for path, words in (("/findings?status=sideways", "acknowledged"), ("/tools?range=forever", "24h"),
                        ("/agents?sort=vibes", "tokens_per_run"), ("/findings?since=yesterday-ish", "ISO")):
        response = page.goto(url + path)
        assert response.status == 400, path
        assert words in page.locator(".error-box").inner_text(), path
    assert page.goto(url + "/tools/no-such-tool").status == 404
    assert page.goto(url + "/compare?a=nope&b=nope").status == 404


def test_live_graph_draws_the_four_agent_cycle_in_red(ui2, page: Page) -> None:
    page.goto(ui2["server"].url + "/live")
    cycle = page.locator("svg.wait-graph g.node.cycle")
    expect(cycle).to_have_count(4)
    assert {cycle.nth(i).get_attribute("data-agent") for i in range(4)} == CYCLE
    edges = page.locator("svg.wait-graph g.edge.cycle path")
    assert edges.count() == 4
    assert {edges.nth(i).evaluate("e => getComputedStyle(e).stroke") for i in range(4)} == {RED}
    # The orchestrator waits behind the cycle, not in it: drawn, not red.
    orchestrator = page.locator("svg.wait-graph g.node[data-agent='orchestrator']")
    assert "cycle" not in orchestrator.get_attribute("class")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.locator(".graph-card").screenshot(path=str(_artifact("ui2-live-graph.png")))


def _artifact(name: str):
    from test_ui_browser import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / name


def _wait_age(page: Page, span_id: str) -> int:
    return int(page.locator(f"table.waits tr[data-span='{span_id}']").get_attribute("data-age-ms"))


def test_live_page_refreshes_an_open_wait_age_and_pauses_on_an_open_detail(ui2, page: Page) -> None:
    page.goto(ui2["server"].url + "/live")
    body = page.locator("#live-body")
    first_as_of = body.get_attribute("data-as-of")
    span_id = page.locator("table.waits tbody tr[data-span]:not(.lost)").first.get_attribute("data-span")
    first_age = _wait_age(page, span_id)
    scroll = page.evaluate("window.scrollTo(0, 200), window.scrollY")
    assert scroll > 0
    # The server's answer is swapped in (no reload): a newer as-of, the same wait older.
    expect(body).not_to_have_attribute("data-as-of", first_as_of, timeout=20_000)
    assert _wait_age(page, span_id) > first_age
    assert abs(page.evaluate("window.scrollY") - scroll) <= 1
    # An opened detail stays open and the refresh pauses.
    page.locator(f"table.waits tr[data-span='{span_id}'] details summary").click()
    paused_as_of = page.locator("#live-body").get_attribute("data-as-of")
    expect(page.locator("#live-state")).to_have_text("(paused)", timeout=20_000)
    assert page.locator("#live-body").get_attribute("data-as-of") == paused_as_of
    assert page.locator(f"table.waits tr[data-span='{span_id}'] details").get_attribute("open") is not None


def _open_ids(srv, **filters) -> set[str]:
    return {f["id"] for f in srv.get("/api/findings/search", **filters)["findings"]}


def test_acknowledging_a_finding_hides_it_and_survives_a_restart(server_factory, browser) -> None:  # noqa: F811
    srv = server_factory(extra_args=["--detect-interval", "0.5"])
    demo.feed(srv.url, ["phantom", "loop"], prefix="ack-")
    srv.wait_for(lambda: len(_open_ids(srv)) == 2, timeout=60)
    context = browser.new_context(viewport={"width": 390, "height": 900})
    page = context.new_page()
    page.goto(srv.url + "/findings")
    card = page.locator("article.finding[data-kind='phantom_completion']")
    finding_id = card.get_attribute("data-finding")
    card.locator("input[name=by]").fill("night-oncall")
    card.get_by_role("button", name="Acknowledge").click()
    settle(page)
    expect(page.locator(f"article[data-finding='{finding_id}']")).to_have_count(0)
    expect(page.locator("article.finding")).to_have_count(1)
    assert finding_id not in _open_ids(srv)
    assert _open_ids(srv, status="acknowledged") == {finding_id}
    # The plain findings API says the same: the detector's status, and the triage beside it.
    listed = {f["id"]: f for f in srv.get("/api/findings", status="open")["findings"]}
    assert listed[finding_id]["status"] == "open"
    assert listed[finding_id]["effective_status"] == "acknowledged"
    assert {k: listed[finding_id]["triage"][k] for k in ("state", "until", "by")} == {
        "state": "acknowledged", "until": None, "by": "night-oncall"}
    assert [f["triage"] for f in listed.values() if f["id"] != finding_id] == [None]
    page.goto(srv.url + f"/findings?status=acknowledged#f-{finding_id}")
    expect(page.locator(f"article[data-finding='{finding_id}'] .triage-by")).to_have_text("night-oncall")
    context.close()

    srv.stop()
    again = server_factory(data_dir=srv.data_dir, extra_args=["--detect-interval", "0.5"])
    assert _open_ids(again, status="acknowledged") == {finding_id}
    assert finding_id not in _open_ids(again)
    assert finding_id in _open_ids(again, status="all")


def _post(url: str, body: str, headers: dict[str, str]) -> int:
    req = urllib.request.Request(url, data=body.encode(), method="POST", headers={
        "content-type": "application/x-www-form-urlencoded", **headers})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_cross_site_posts_are_refused(ui2, page: Page) -> None:
    url = ui2["server"].url
    page.goto(url + "/findings")
    card = page.locator("article.finding").first
    finding_id = card.get_attribute("data-finding")
    token = card.locator("input[name=csrf]").get_attribute("value")
    cookie = f"swarmscope_csrf={token}"
    target = f"{url}/findings/{finding_id}/triage"
    good = f"csrf={token}&action=acknowledge"
    assert _post(target, "action=acknowledge", {"cookie": cookie}) == 403  # no token
    assert _post(target, "csrf=forged&action=acknowledge", {"cookie": cookie}) == 403  # wrong token
    assert _post(target, good, {}) == 403  # token without its cookie (another site cannot set it)
    assert _post(target, good, {"cookie": cookie, "origin": "http://evil.example"}) == 403
    assert _post(target, good, {"cookie": cookie, "sec-fetch-site": "cross-site"}) == 403
    assert finding_id in _open_ids(ui2["server"])  # nothing was acknowledged
    # A real cross-site form in the browser (a page of another origin): refused too.
    page.goto("about:blank")
    page.set_content(f'<form method="post" action="{target}"><input name="csrf" value="{token}">'
                     '<input name="action" value="acknowledge"><button>go</button></form>')
    with page.expect_navigation():
        page.click("button")
    assert "403" in page.locator("h1").inner_text()
    assert finding_id in _open_ids(ui2["server"])


def test_pages_ask_for_the_api_key_once_and_refuse_posts_without_it(server_factory, browser) -> None:  # noqa: F811
    srv = server_factory(api_key="s3cret-key", extra_args=["--detect-interval", "0"])
    form, cookie = "csrf=a&action=acknowledge", {"cookie": "swarmscope_csrf=a"}
    assert _post(srv.url + "/findings/x/triage", form, cookie) == 401
    context = browser.new_context()
    page = context.new_page()
    page.goto(srv.url + "/findings?kind=loop")
    assert page.url.startswith(srv.url + "/login")
    page.fill("input[name=key]", "wrong")
    page.click("button[type=submit]")
    expect(page.locator("[role=alert]")).to_contain_text("not the key")
    page.fill("input[name=key]", "s3cret-key")
    page.click("button[type=submit]")
    expect(page).to_have_url(srv.url + "/findings?kind=loop")
    cookies = {c["name"]: c for c in context.cookies()}
    session = cookies["swarmscope_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert "s3cret-key" not in session["value"]
    issued = int(session["value"].split(".")[0])
    assert session["expires"] == pytest.approx(issued + SESSION_MAX_AGE_S, abs=2)  # the browser drops it too
    assert page.goto(srv.url + "/api/findings").status == 401  # the API still wants the bearer header
    # Signed in, every page offers a sign-out button, also on a phone.
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(srv.url + "/live")
    sign_out = page.get_by_role("button", name="Sign out")
    expect(sign_out).to_be_visible()
    assert sign_out.bounding_box()["x"] + sign_out.bounding_box()["width"] <= 390
    shot(page, "ui2-signed-in-live-390")
    # The session ends while the live page keeps refreshing: the whole page goes to the login, not the
    # login form into the live body, and signing in again comes back to the live page.
    context.clear_cookies(name="swarmscope_session")
    expect(page).to_have_url(srv.url + "/login?next=%2Flive", timeout=30_000)
    page.fill("input[name=key]", "s3cret-key")
    page.click("button[type=submit]")
    expect(page).to_have_url(srv.url + "/live")
    sign_out = page.get_by_role("button", name="Sign out")
    sign_out.click()
    expect(page).to_have_url(srv.url + "/login")
    assert "swarmscope_session" not in {c["name"] for c in context.cookies()}
    page.goto(srv.url + "/tools")
    assert page.url.startswith(srv.url + "/login?next=")
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    context.close()


def test_phone_tables_keep_their_headers_and_a_flat_zero_is_not_red(ui2, page: Page) -> None:
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(ui2["server"].url + "/tools")
    error_rate = page.locator("table.tools thead th").nth(2)
    expect(error_rate).to_be_visible()
    assert error_rate.inner_text().strip().lower() == "error rate"
    box = error_rate.bounding_box()
    assert box["x"] + box["width"] <= 390  # the column that matters at 3 a.m. is on screen
    spark_class = "tr[data-tool='{}'] td:nth-child(3) svg.spark"
    assert page.locator(spark_class.format("run_tests")).get_attribute("class") == "spark ink"  # 0 %
    assert page.locator(spark_class.format("search_api")).get_attribute("class") == "spark bad"  # 100 %
    page.goto(ui2["server"].url + "/agents")
    names = page.locator("table.agents td.run-name")
    assert names.count() > 3
    widths = [names.nth(i).bounding_box()["width"] for i in range(names.count())]
    assert min(widths) >= 110  # room for a name, not a letter a line
    page.goto(ui2["server"].url + "/live")
    for table in ("waits", "silent", "open-runs"):
        expect(page.locator(f"table.{table} thead")).to_be_visible()
    page.goto(ui2["server"].url + "/")
    expect(page.locator("table.runs thead")).to_be_hidden()  # the runs list is cards, labelled per cell
    assert page.console.unexpected() == []  # type: ignore[attr-defined]


def test_rate_limited_tool_page_groups_its_429_failures(ui2, page: Page) -> None:
    srv = ui2["server"]
    failures = srv.get("/api/tools/search_api/failures", limit=1000)["failures"]
    messages = {f["message"] for f in failures}
    assert len(messages) == 1 and "429" in next(iter(messages))
    page.goto(srv.url + "/tools/search_api")
    groups = page.locator("table.letters tbody tr")
    expect(groups).to_have_count(1)
    row = groups.first
    assert "429 Too Many Requests" in row.get_attribute("data-message")
    assert int(row.get_attribute("data-count")) == len(failures)
    assert {a.inner_text() for a in row.locator("a.agent").all()} == {f"crawler-{i}" for i in range(1, 5)}
    assert row.locator(f"a[href='/runs/{PREFIX}retry_storm']").count() == 1
    page.goto(srv.url + "/tools")
    assert page.locator("tr[data-tool='search_api'] svg.spark").count() == 7


def test_compare_shows_the_one_agent_that_changed(ui2, page: Page) -> None:
    a, b = PREFIX + "healthy", ui2["variant"]
    page.goto(ui2["server"].url + "/compare?" + urlencode({"a": a, "b": b}))
    extra = (ui2_feed.CODER_INPUT_FACTOR - 1) * ui2_feed.HEALTHY_CODER_INPUT
    coder = page.locator("table.compare-agents tr[data-agent='coder']")
    assert coder.locator("[data-stat=tokens] .delta").inner_text() == f"+{extra}"
    assert "changed" in coder.get_attribute("class")
    for agent in ("orchestrator", "planner", "tester", "docs"):
        row = page.locator(f"table.compare-agents tr[data-agent='{agent}']")
        assert row.get_attribute("data-side") == "both"
        assert row.locator("[data-stat=tokens] .delta").count() == 0, agent
    assert page.locator("table.compare-totals tr.delta-row td").nth(2).inner_text() == f"+{extra}"
    page.screenshot(path=str(_artifact("ui2-compare.png")), full_page=True)
    # From the run page: the previous run of the same name is the demo's healthy run.
    page.goto(ui2["server"].url + f"/runs/{b}")
    page.click("a.compare-link")
    expect(page).to_have_url(ui2["server"].url + "/compare?" + urlencode({"a": a, "b": b}))


def test_tables_link_onward(ui2, page: Page) -> None:
    url = ui2["server"].url
    page.goto(url + "/agents")
    page.click("tr[data-agent='coder'] a.row-link")
    expect(page).to_have_url(url + "/agents/coder?range=1h")
    page.click(f"a[href='/runs/{PREFIX}phantom']")
    expect(page.locator("h1")).to_contain_text(PREFIX + "phantom")
    page.goto(url + "/tools")
    page.click("tr[data-tool='run_tests'] a.row-link")
    expect(page.locator("h1")).to_contain_text("run_tests")


def test_findings_api_and_page_agree(ui2) -> None:
    srv = ui2["server"]
    api = srv.get("/api/findings/search", status="all", since="1h")
    with urllib.request.urlopen(srv.url + "/findings?status=all&since=1h", timeout=30) as resp:
        html = resp.read().decode()
    assert html.count('data-finding="') == api["count"]
    assert all(f'data-finding="{f["id"]}"' in html for f in api["findings"])
    assert {f["kind"] for f in api["findings"]} >= {"deadlock", "phantom_completion", "retry_storm", "loop"}
