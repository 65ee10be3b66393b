"""Runs list and trace view queries on a fresh store: statuses, order, keyset pages, filters, the tree."""

from __future__ import annotations

import time

import pytest
from scenarios import NS, Scenario, detect
from swarmscope import _conventions as conv
from swarmscope.detectors import persist
from swarmscope.detectors.model import Finding
from swarmscope.schema.queries import spans as span_queries
from swarmscope.schema.queries.runs import BadFilter, RunFilters, list_runs, parse_attr, parse_cursor
from swarmscope.schema.times import now_ms
from swarmscope.ui import trace_view


def runs_by_key(result: dict) -> dict[str, dict]:
    return {r["run_key"]: r for r in result["runs"]}


@pytest.fixture
def swarm(store):
    """Five runs, last activity 50 s .. 10 s ago: ok, failed, running, lost (silent heartbeat), phantom."""
    now = time.time_ns()
    ok = Scenario(run_id="r-ok", service="billing", now_ns=now)
    root = ok.agent("planner", start=-60, dur=10, input_tokens=100, output_tokens=20,
                    **{"customer.tier": "gold"})
    ok.tool("search", parent=root, start=-55, dur=5)
    failed = Scenario(run_id="r-failed", service="billing", now_ns=now)
    failed.agent("coder", start=-50, dur=10, status="error")
    running = Scenario(run_id="r-running", service="search", now_ns=now)
    agent = running.agent("tester", start=-40, dur=None)
    running.heartbeat(agent, at=-30, interval_ms=3_600_000)
    lost = Scenario(run_id="r-lost", service="search", now_ns=now)
    dead = lost.agent("docs", start=-35, dur=None)
    lost.heartbeat(dead, at=-20, interval_ms=1000)  # silent for 20 intervals
    phantom = Scenario(run_id="r-phantom", service="search", now_ns=now)
    phantom.agent("coder", start=-15, dur=5, task_status="completed",
                  **{conv.EVIDENCE_EXIT_CODE: 1, "customer.tier": "free"})
    for sc in (ok, failed, running, lost, phantom):
        sc.insert(store)
    detect(store, "phantom_completion")
    return store


def test_one_row_per_run_newest_activity_first_with_status(swarm) -> None:
    result = list_runs(swarm, RunFilters())
    assert [r["run_key"] for r in result["runs"]] == ["r-phantom", "r-lost", "r-running", "r-failed", "r-ok"]
    assert {r["run_key"]: r["status"] for r in result["runs"]} == {
        "r-phantom": "phantom", "r-running": "running", "r-lost": "lost", "r-ok": "ok", "r-failed": "failed"}
    ok = runs_by_key(result)["r-ok"]
    assert (ok["span_count"], ok["error_count"], ok["tokens"], ok["agents"]) == (2, 0, 120, ["planner"])
    assert ok["duration_ms"] == pytest.approx(10_000, abs=1)
    running = runs_by_key(result)["r-running"]
    assert (running["open_span_count"], running["lost_span_count"]) == (1, 0)
    assert runs_by_key(result)["r-phantom"]["finding_kinds"] == ["phantom_completion"]
    assert result["next"] is None


def test_a_finished_run_with_only_a_warning_finding_is_warn_not_ok(swarm) -> None:
    now = now_ms()

    def finding(kind: str, run_id: str) -> Finding:
        return Finding(kind=kind, key=run_id, severity="warning", summary=kind, evidence={}, trace_id="",
                       run_id=run_id, span_ids=[], agent_ids=[], first_seen_ms=now, last_seen_ms=now)

    persist.write(swarm, [finding("loop", "r-ok"), finding("context_bloat", "r-ok"),
                          finding("duplicate_execution", "r-failed")])
    runs = list_runs(swarm, RunFilters())["runs"]
    statuses = {r["run_key"]: (r["status"], r["finding_kinds"]) for r in runs}
    assert statuses["r-ok"] == ("warn", ["context_bloat", "loop"])
    assert statuses["r-failed"] == ("failed", ["duplicate_execution"])  # a failed root still says failed
    assert statuses["r-running"] == ("running", [])
    assert [r["run_key"] for r in list_runs(swarm, RunFilters(status="warn"))["runs"]] == ["r-ok"]
    assert list_runs(swarm, RunFilters(status="ok"))["runs"] == []


def test_keyset_pages_cover_every_run_once(swarm) -> None:
    seen, before = [], None
    for _ in range(5):
        page = list_runs(swarm, RunFilters(), limit=2, before=before)
        seen += [r["run_key"] for r in page["runs"]]
        if not page["next"]:
            break
        before = parse_cursor(page["next"])
    assert seen == ["r-phantom", "r-lost", "r-running", "r-failed", "r-ok"]


@pytest.mark.parametrize("filters, expected", [
    (RunFilters(service="billing"), ["r-failed", "r-ok"]),
    (RunFilters(agent="coder"), ["r-phantom", "r-failed"]),
    (RunFilters(tool="search"), ["r-ok"]),
    (RunFilters(run_id="r-lost"), ["r-lost"]),
    (RunFilters(status="running"), ["r-running"]),
    (RunFilters(status="lost"), ["r-lost"]),
    (RunFilters(finding="phantom_completion"), ["r-phantom"]),
    (RunFilters(attr=parse_attr("customer.tier=gold")), ["r-ok"]),
    (RunFilters(attr=parse_attr("customer.tier ~ FRE")), ["r-phantom"]),
    (RunFilters(attr=parse_attr("customer.tier=")), []),
])
def test_filters(swarm, filters: RunFilters, expected: list[str]) -> None:
    assert [r["run_key"] for r in list_runs(swarm, filters)["runs"]] == expected


def test_time_window_bounds_the_list(swarm) -> None:
    hour = 3_600_000
    assert list_runs(swarm, RunFilters(since_ms=now_ms() + 2 * hour))["runs"] == []
    assert list_runs(swarm, RunFilters(until_ms=now_ms() - 2 * hour))["runs"] == []
    assert len(list_runs(swarm, RunFilters(since_ms=now_ms() - hour))["runs"]) == 5


@pytest.mark.parametrize("make, message", [
    (lambda: RunFilters(status="sideways").check(), "one of running, stalled"),
    (lambda: RunFilters(finding="gremlins").check(("stalled_wait", "deadlock")), "one of stalled_wait"),
    (lambda: parse_attr("no operator"), "key=value"),
    (lambda: parse_attr("=value"), "key=value"),
    (lambda: parse_cursor("12:"), "older"),
    (lambda: parse_cursor("abc:run"), "older"),
])
def test_bad_filters_say_the_accepted_forms(make, message: str) -> None:
    with pytest.raises(BadFilter, match=message):
        make()


def test_outline_has_open_and_lost_spans_without_attributes(swarm) -> None:
    trace_ids = [r["trace_ids"] for r in list_runs(swarm, RunFilters(run_id="r-lost"))["runs"]][0]
    spans = span_queries.outline(swarm, trace_ids)
    assert len(spans) == 1
    span = spans[0]
    assert (span["open"], span["lost"], span["agent_name"], span["end_time"]) == (True, True, "docs", None)
    assert span["end_ns"] - span["start_ns"] == 15 * NS  # drawn up to its last heartbeat
    assert "attributes" not in span
    full = span_queries.get_span(swarm, span["trace_id"], span["span_id"])
    assert full["open"] and full["attributes"][conv.RUN_ID] == "r-lost"
    assert span_queries.outline(swarm, ["0" * 32]) is None
    assert span_queries.get_span(swarm, span["trace_id"], "0" * 16) is None


def fake_spans(children_of_root: int, grandchildren: int) -> list[dict]:
    spans = [{"span_id": "root", "parent_span_id": "", "start_ns": 0, "end_ns": 1000}]
    for c in range(children_of_root):
        spans.append({"span_id": f"c{c}", "parent_span_id": "root", "start_ns": c, "end_ns": c + 1})
        spans += [{"span_id": f"c{c}.{g}", "parent_span_id": f"c{c}", "start_ns": c, "end_ns": c + 1}
                  for g in range(grandchildren)]
    return spans


def test_tree_collapses_big_subtrees_and_pages_children() -> None:
    tree = trace_view.build_tree(fake_spans(children_of_root=250, grandchildren=0))
    rows = trace_view.rows(tree, tree.roots, 0)
    assert len(rows) == 1 + trace_view.CHILD_PAGE + 1
    assert rows[-1].more == 250 - trace_view.CHILD_PAGE
    assert [r.span["span_id"] for r in trace_view.child_rows(tree, "root", 1, offset=200)] == \
        [f"c{c}" for c in range(200, 250)]

    tree = trace_view.build_tree(fake_spans(children_of_root=3, grandchildren=trace_view.COLLAPSE_OVER))
    rows = trace_view.rows(tree, tree.roots, 0)
    assert [(r.span["span_id"], r.expanded) for r in rows] == [
        ("root", True), ("c0", False), ("c1", False), ("c2", False)]  # 61-span subtrees: collapsed
    expanded = trace_view.child_rows(tree, "c1", 2)
    assert [r.span["span_id"] for r in expanded] == [f"c1.{g}" for g in range(trace_view.COLLAPSE_OVER)]
    assert {r.depth for r in expanded} == {2}


def test_tree_survives_parent_cycles_and_orphans() -> None:
    spans = [{"span_id": "a", "parent_span_id": "b", "start_ns": 0, "end_ns": 1},
             {"span_id": "b", "parent_span_id": "a", "start_ns": 0, "end_ns": 1},
             {"span_id": "o", "parent_span_id": "missing", "start_ns": 0, "end_ns": 1}]
    tree = trace_view.build_tree(spans)
    assert tree.roots == ["o", "a"]  # the cycle is shown from its first span, not hidden
    assert [r.span["span_id"] for r in trace_view.rows(tree, tree.roots, 0)] == ["o", "a", "b"]
