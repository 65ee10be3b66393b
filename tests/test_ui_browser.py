"""The pages in a real headless Chromium against a real `swarmscope serve` (fed once per module).

Chromium: $SWARMSCOPE_CHROMIUM, else a system chromium / chrome on PATH, else Playwright's own
download; none found is a failure with instructions (scripts/test.sh installs one), never a skip.
Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import ui_feed
from harness import Server
from playwright.sync_api import Browser, Page, expect, sync_playwright
from swarmscope.ui import demo

SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
DEMO_PREFIX = "ui-"
DEADLOCK_RUN = DEMO_PREFIX + "deadlock"
PHANTOM_RUN = DEMO_PREFIX + "phantom"
WIDTHS = (1280, 390)
# Chromium logs the HTTP status of a page it was asked to load; the error pages are meant to be 4xx.
expect.set_options(timeout=15_000)  # two loaded cores: a swap may take a few seconds
EXPECTED_STATUS_LOG = re.compile(r"Failed to load resource: the server responded with a status of 40[04]")


def chromium_executable(playwright) -> str:
    candidates = [os.environ.get("SWARMSCOPE_CHROMIUM")]
    candidates += [shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome-stable",
                                             "google-chrome")]
    candidates.append(playwright.chromium.executable_path)
    for path in candidates:
        if path and os.path.exists(path):
            return path
    pytest.fail("No Chromium for the browser tests: install one (apt-get install chromium, or "
                "`python -m playwright install chromium`), set SWARMSCOPE_CHROMIUM, or run scripts/test.sh "
                "which does this.", pytrace=False)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_executable(p), args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """One server for the module, fed with every demo scenario (the deadlock stays open, heartbeating),
    plus small runs to filter, a hostile span and a 10,000-span trace."""
    srv = Server(data_dir=tmp_path_factory.mktemp("ui") / "data", extra_args=["--detect-interval", "0.5"])
    srv.start()
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(srv.stop)
        demo_runs = cleanup.enter_context(demo.running(srv.url, prefix=DEMO_PREFIX))
        data = {
            "server": srv,
            "demo": demo_runs,
            "runs": ui_feed.feed_small_runs(srv.url),
            "hostile": ui_feed.feed_hostile(srv.url),
            "big": ui_feed.feed_big_trace(srv.url),
        }
        for kind, run in (("deadlock", DEADLOCK_RUN), ("phantom_completion", PHANTOM_RUN)):
            srv.wait_for(lambda k=kind, r=run: srv.get("/api/findings", kind=k, run_id=r)["count"],
                         timeout=60)
        srv.wait_for(lambda: [t["span_count"] for t in srv.get("/api/traces", run_id="run-big")["traces"]]
                     == [ui_feed.BIG_TRACE_SPANS], timeout=60)
        yield data


class Console:
    """Console errors, page errors and dialogs of one page."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", lambda m: m.type in ("error", "warning")
                and self.errors.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not EXPECTED_STATUS_LOG.search(e)]


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    p = context.new_page()
    p.console = Console(p)  # type: ignore[attr-defined]
    yield p
    context.close()


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def settle(page: Page) -> None:
    page.wait_for_load_state("networkidle")


def pages_to_visit(ui: dict) -> dict[str, str]:
    return {
        "runs": "/",
        "run-deadlock": f"/runs/{DEADLOCK_RUN}",
        "run-phantom": f"/runs/{PHANTOM_RUN}",
        "run-fanout": f"/runs/{DEMO_PREFIX}fanout",
        "trace-big": f"/traces/{ui['big']}",
        "trace-hostile": f"/traces/{ui['hostile']}",
        "runs-filtered": "/?status=failed&service=billing",
        "not-found": "/runs/no-such-run",
        "bad-filter": "/?since=yesterday-ish",
    }


def test_every_page_loads_without_console_errors_at_both_widths(ui, page: Page) -> None:
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for name, path in pages_to_visit(ui).items():
            response = page.goto(ui["server"].url + path)
            settle(page)
            expected = {"not-found": 404, "bad-filter": 400}.get(name, 200)
            assert response.status == expected, (path, response.status)
            assert page.locator("header.top .brand").is_visible(), path
            # Nothing wider than the window: no sideways scrolling of the whole page.
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, (path, width, overflow)
            shot(page, f"{name}-{width}")
    assert page.console.unexpected() == []
    assert page.console.dialogs == []


def test_error_pages_are_pages_with_the_accepted_forms(ui, page: Page) -> None:
    url = ui["server"].url
    page.goto(url + "/?status=sideways")
    assert "400" in page.locator("h1").inner_text()
    assert "deadlocked" in page.locator(".error-box").inner_text()  # the accepted statuses are listed
    page.goto(url + "/traces/not-a-trace-id")
    assert "32 hex" in page.locator(".error-box").inner_text()
    page.goto(url + "/traces/" + "0" * 32)
    assert "404" in page.locator("h1").inner_text()
    assert "Traceback" not in page.content()


def test_filter_swaps_runs_list_through_htmx_and_url(ui, page: Page) -> None:
    page.goto(ui["server"].url + "/")
    settle(page)
    page.evaluate("window.__sameDocument = true")  # gone if the page were reloaded
    assert page.locator("table.runs a.row-link[href='/runs/run-beta']").count() == 1
    page.select_option("select[name=status]", "failed")
    page.wait_for_url(re.compile(r"\?status=failed$"))
    expect(page.locator("a[href='/runs/run-beta']")).to_have_count(0)
    runs = page.locator("table.runs a.row-link").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert runs == [r["url"] for r in ui["server"].get("/api/runs", status="failed")["runs"]]  # as the API
    assert "/runs/run-gamma" in runs
    assert page.evaluate("window.__sameDocument") is True
    page.fill("input[name=service]", "search")
    page.press("input[name=service]", "Enter")
    page.wait_for_url(re.compile(r"status=failed&service=search"))
    page.wait_for_selector("td.empty")
    page.go_back()
    page.wait_for_url(re.compile(r"\?status=failed$"))
    page.wait_for_selector("a[href='/runs/run-gamma']")
    assert page.console.unexpected() == []


def test_bad_filter_in_the_form_shows_the_accepted_forms_in_place(ui, page: Page) -> None:
    page.goto(ui["server"].url + "/")
    page.fill("input[name=since]", "yesterday")
    page.press("input[name=since]", "Enter")
    box = page.locator("#runs .error-box")
    expect(box).to_contain_text("invalid since: 'yesterday'")
    expect(box).to_contain_text("key=value")  # the other filters' forms too
    assert page.locator("form#filters").is_visible()  # the form stays, to correct the value
    page.fill("input[name=since]", "2h")
    page.press("input[name=since]", "Enter")
    expect(page.locator("#runs table.runs")).to_be_visible()
    assert [e for e in page.console.unexpected() if "400" not in e] == []


def test_attribute_search_filters_runs(ui, page: Page) -> None:
    page.goto(ui["server"].url + "/?attr=customer.tier%3Dgold")
    hrefs = page.locator("table.runs a.row-link").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert hrefs == ["/runs/run-alpha"]
    page.goto(ui["server"].url + "/?attr=customer.tier~FRE")
    hrefs = page.locator("table.runs a.row-link").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert sorted(hrefs) == ["/runs/run-beta", "/runs/run-gamma"]


def test_deadlock_run_shows_status_finding_and_cycle(ui, page: Page) -> None:
    page.goto(ui["server"].url + "/?run=" + DEADLOCK_RUN)
    assert page.locator("table.runs .chip").inner_text() == "deadlocked"
    page.goto(ui["server"].url + f"/runs/{DEADLOCK_RUN}")
    card = page.locator(".finding.sev-critical, .finding.sev-error").filter(has_text="deadlock").first
    assert card.is_visible()
    cycle = card.locator(".cycle .agent").all_inner_texts()
    assert sorted(set(cycle)) == ["coder", "docs", "planner", "tester"]
    finding = ui["server"].get("/api/findings", kind="deadlock", run_id=DEADLOCK_RUN)["findings"][0]
    pinned = page.locator(".waterfall .row:has(.badge.k-deadlock)")
    assert sorted(pinned.evaluate_all("els => els.map(e => e.dataset.span)")) == sorted(finding["span_ids"])


def test_phantom_completion_card_shows_claim_against_exit_code(ui, page: Page) -> None:
    page.goto(ui["server"].url + f"/runs/{PHANTOM_RUN}")
    card = page.locator(".finding").filter(has_text="phantom completion").first
    claim, contra = card.locator(".versus .claim"), card.locator(".versus .contra")
    assert "completed" in claim.inner_text()
    assert re.search(r"exit code\s+1", contra.inner_text()), contra.inner_text()
    claim_box, contra_box = claim.bounding_box(), contra.bounding_box()
    assert abs(claim_box["y"] - contra_box["y"]) < 2 and contra_box["x"] > claim_box["x"]  # side by side
    shot(page, "findings-phantom")


def test_deadlock_agent_graph_draws_the_cycle_in_red(ui, page: Page) -> None:
    page.goto(ui["server"].url + f"/runs/{DEADLOCK_RUN}")
    graph = page.locator(".graph-card svg")
    assert graph.count() == 1, "the run page shows no agent graph"
    agents = graph.locator(".cycle[data-agent]").evaluate_all("els => els.map(e => e.dataset.agent)")
    assert sorted(set(agents)) == ["coder", "docs", "planner", "tester"]
    colour = graph.locator("g.edge.cycle path").first.evaluate("e => getComputedStyle(e).stroke")
    red, green, blue = (int(v) for v in re.findall(r"\d+", colour)[:3])
    assert red > 150 and green < 100 and blue < 100, colour
    shot(page, "agent-graph-deadlock")


def age_seconds(text: str) -> float:
    text = text.strip()
    if m := re.fullmatch(r"([\d.]+) s", text):
        return float(m.group(1))
    if m := re.fullmatch(r"(\d+)m (\d+)s", text):
        return int(m.group(1)) * 60 + int(m.group(2))
    if m := re.fullmatch(r"(\d+)h (\d+)m", text):
        return int(m.group(1)) * 3600 + int(m.group(2)) * 60
    raise AssertionError(f"unreadable age {text!r}")


def test_open_span_age_ticks(ui, page: Page) -> None:
    page.goto(ui["server"].url + f"/runs/{DEADLOCK_RUN}")
    age = page.locator(".waterfall .row.is-open time.age").first
    first = age_seconds(age.inner_text())
    deadline = time.monotonic() + 10
    while age_seconds(age.inner_text()) <= first and time.monotonic() < deadline:
        time.sleep(0.2)
    assert age_seconds(age.inner_text()) > first


def test_ten_thousand_span_trace_loads_collapsed_and_expands(ui, page: Page) -> None:
    url = ui["server"].url + f"/traces/{ui['big']}"
    response = page.goto(url)
    html = response.body()
    assert len(html) < 1_000_000, len(html)
    rows = page.locator(".waterfall .row")
    first_count = rows.count()
    assert first_count < 500, first_count  # big subtrees start collapsed
    span_id = page.locator(".waterfall .row:has(.tog.lazy)").first.get_attribute("data-span")
    parent = page.locator(f".waterfall .row[data-span='{span_id}']")
    parent.locator(".tog").click()
    expect(rows).not_to_have_count(first_count)
    children = page.locator(f".waterfall .row[data-span='{span_id}'] ~ .row[data-depth='2']")
    assert children.count() >= 200
    # The first page of children and a "more" row for the rest.
    more = page.locator(".waterfall .row.more").first
    assert "899 more" in more.inner_text()
    shot(page, "trace-big-expanded")
    # Collapse hides them again without a request.
    parent.locator(".tog").click()
    assert page.locator(f".waterfall .row[data-span='{span_id}'] + .row").is_hidden()
    assert page.console.unexpected() == []


def test_hostile_span_content_is_inert_text(ui, page: Page) -> None:
    page.goto(ui["server"].url + f"/traces/{ui['hostile']}")
    link = page.locator(".waterfall .row-link").first
    assert link.inner_text() == ui_feed.HOSTILE_NAME
    link.click()
    panel = page.locator("#panel .panel-body")
    panel.wait_for()
    text = panel.inner_text()
    for value in ui_feed.HOSTILE_ATTRS.values():
        assert value in text
    assert page.locator("script").count() == 2  # htmx and app.js only
    assert page.locator("img, [onerror], [onmouseover], a[href^='javascript']").count() == 0
    page.goto(ui["server"].url + "/?run=run-hostile")
    assert '<b onmouseover=alert("agent")>evil</b>' in page.locator("table.runs").inner_text()
    page.mouse.move(300, 220)
    assert page.console.dialogs == []
    assert page.console.unexpected() == []


def test_runs_list_and_waterfall_by_keyboard(ui, page: Page) -> None:
    page.goto(ui["server"].url + "/?run=run-alpha")
    page.keyboard.press("j")
    assert page.evaluate("document.activeElement.getAttribute('href')") == "/runs/run-alpha"
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile("/runs/run-alpha$"))
    page.keyboard.press("j")
    page.keyboard.press("j")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused == "execute_tool lookup"
    page.keyboard.press("Enter")
    page.locator("#panel .panel-body").wait_for()
    assert "lookup" in page.locator("#panel").inner_text()
    page.keyboard.press("Escape")
    assert page.locator("#panel .panel-body").count() == 0
    page.keyboard.press("k")  # back to the agent row, then collapse it
    page.keyboard.press("ArrowLeft")
    assert page.locator(".waterfall .row[data-depth='1']").first.is_hidden()
    page.keyboard.press("ArrowRight")
    assert page.locator(".waterfall .row[data-depth='1']").first.is_visible()
    assert page.console.unexpected() == []


def test_security_headers_on_pages(ui) -> None:
    import urllib.request

    with urllib.request.urlopen(ui["server"].url + "/") as resp:
        csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_live_refresh_polls_only_while_visible(ui, page: Page) -> None:
    polls: list[str] = []
    page.on("request", lambda r: r.headers.get("hx-request") and polls.append(r.url))
    page.goto(ui["server"].url + "/?service=billing")
    settle(page)
    page.check("#live-refresh")
    deadline = time.monotonic() + 12
    while not polls and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    assert polls and polls[0].endswith("/?service=billing")  # the list as filtered, in place
    page.evaluate("Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true})")
    page.wait_for_timeout(300)  # a request already in flight may finish
    before = len(polls)
    page.wait_for_timeout(6000)  # longer than one 5 s period
    assert len(polls) == before
    assert page.locator("table.runs a.row-link").count() == 2
    assert page.console.unexpected() == []


def test_live_trace_view_refreshes_and_pauses_while_a_span_is_open(ui, page: Page) -> None:
    polls: list[str] = []
    page.on("request", lambda r: r.headers.get("hx-request") and "/spans/" not in r.url
            and polls.append(r.url))
    page.goto(ui["server"].url + f"/runs/{DEADLOCK_RUN}")
    settle(page)
    page.check("#live-trace")
    deadline = time.monotonic() + 12
    while not polls and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    assert polls and polls[0].endswith(f"/runs/{DEADLOCK_RUN}")
    expect(page.locator("#live-area .finding")).not_to_have_count(0)  # swapped in, still there
    page.locator(".waterfall .row-link").first.click()
    page.locator("#panel .panel-body").wait_for()
    page.wait_for_timeout(300)
    before = len(polls)
    page.wait_for_timeout(6000)
    assert len(polls) == before
    assert page.locator("#live-area").count() == 1
    assert page.console.unexpected() == []
