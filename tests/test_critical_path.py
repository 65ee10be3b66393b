"""The critical path (Jaeger's walk back from the last-ending child) on hand-built span sets."""

from __future__ import annotations

from swarmscope.ui.critical_path import Section, critical_path, critical_sections


def s(span_id: str, start: int, end: int, parent: str = "", **extra) -> dict:
    return {"span_id": span_id, "parent_span_id": parent, "start_ns": start, "end_ns": end, **extra}


def test_sequential_children_are_all_on_the_path():
    spans = [s("root", 0, 100), s("a", 0, 30, "root"), s("b", 30, 60, "root"), s("c", 60, 100, "root")]
    assert critical_path(spans) == ["root", "a", "b", "c"]
    assert critical_sections(spans) == [Section("c", 60, 100), Section("b", 30, 60), Section("a", 0, 30)]


def test_overlapping_child_that_ends_first_is_off_the_path():
    # A and B overlap; B ends last, so the root waited on B; A ended while B still ran.
    spans = [s("root", 0, 100), s("A", 10, 70, "root"), s("B", 20, 95, "root"), s("C", 40, 60, "B")]
    assert critical_path(spans) == ["root", "B", "C"]
    assert critical_sections(spans) == [
        Section("root", 95, 100), Section("B", 60, 95), Section("C", 40, 60), Section("B", 20, 40),
        Section("root", 0, 20)]


def test_a_gap_belongs_to_the_parent_and_the_walk_continues_before_it():
    spans = [s("root", 0, 100), s("a", 10, 30, "root"), s("b", 50, 80, "root")]
    assert critical_path(spans) == ["root", "a", "b"]
    assert critical_sections(spans) == [
        Section("root", 80, 100), Section("b", 50, 80), Section("root", 30, 50), Section("a", 10, 30),
        Section("root", 0, 10)]


def test_a_child_that_overlaps_the_returning_childs_start_is_skipped():
    # x ends at 55, after y (the path child) started at 50: not waited on. w ends at 40: waited on.
    spans = [s("root", 0, 100), s("w", 5, 40, "root"), s("x", 20, 55, "root"), s("y", 50, 100, "root")]
    assert critical_path(spans) == ["root", "w", "y"]


def test_open_spans_run_to_their_last_heartbeat_and_waits_dominate():
    # An open agent (last heartbeat at 100) blocked in an open wait since 10; a short tool before it.
    spans = [
        s("agent", 0, 100, open=True),
        s("tool", 2, 8, "agent"),
        s("wait", 10, 100, "agent", open=True, operation="wait"),
    ]
    assert critical_path(spans) == ["agent", "tool", "wait"]
    assert critical_sections(spans) == [
        Section("wait", 10, 100), Section("agent", 8, 10), Section("tool", 2, 8), Section("agent", 0, 2)]


def test_children_are_clipped_to_the_parent_and_late_ones_dropped():
    # `skewed` outlives its parent (clock skew): counts only up to 100. `late` starts after the parent ended.
    spans = [s("root", 0, 100), s("skewed", 40, 150, "root"), s("early", -20, 30, "root"),
             s("late", 120, 130, "root")]
    assert critical_path(spans) == ["root", "early", "skewed"]
    assert critical_sections(spans) == [Section("skewed", 40, 100), Section("root", 30, 40),
                                        Section("early", 0, 30)]


def test_a_run_over_several_traces_crosses_from_root_to_root():
    # The planner's trace hands off to the coder's (a linked trace): two roots, one path.
    spans = [s("planner", 0, 40, trace_id="t1"), s("plan-tool", 5, 35, "planner", trace_id="t1"),
             s("coder", 45, 90, trace_id="t2"), s("stale", 10, 20, trace_id="t3")]
    assert critical_path(spans) == ["planner", "plan-tool", "coder"]


def test_get_trace_shaped_spans_with_iso_times_and_open_last_seen():
    spans = [
        {"span_id": "r", "parent_span_id": "", "start_time": "2026-12-04T10:00:00.000Z",
         "end_time": None, "last_seen": "2026-12-04T10:00:10.000Z", "open": True},
        {"span_id": "w", "parent_span_id": "r", "start_time": "2026-12-04T10:00:01.000Z",
         "end_time": None, "last_seen": "2026-12-04T10:00:10.000Z", "open": True},
        {"span_id": "t", "parent_span_id": "r", "start_time": "2026-12-04T10:00:00.250Z",
         "end_time": "2026-12-04T10:00:00.750Z"},
    ]
    assert critical_path(spans) == ["r", "t", "w"]


def test_equal_end_times_pick_the_later_start_deterministically():
    spans = [s("root", 0, 100), s("p", 10, 100, "root"), s("q", 20, 100, "root")]
    assert critical_path(spans) == ["root", "q"]
    assert critical_path(list(reversed(spans))) == ["root", "q"]


def test_empty_and_hostile_shapes():
    assert critical_path([]) == []
    # A parent cycle (hostile data) has no root: those spans are off the path, the real root is on it.
    spans = [s("root", 0, 10), s("a", 1, 5, "b"), s("b", 1, 5, "a")]
    assert critical_path(spans) == ["root"]
    # A span that names itself as parent is a root.
    assert critical_path([s("self", 0, 5, "self")]) == ["self"]


def test_a_ten_thousand_deep_chain_does_not_recurse():
    spans = [s(f"s{i}", i, 20_000 - i, f"s{i - 1}" if i else "") for i in range(10_000)]
    path = critical_path(spans)
    assert len(path) == 10_000 and path[0] == "s0" and path[-1] == "s9999"


def test_wide_fan_out_picks_the_slowest_branch():
    spans = [s("root", 0, 1000)] + [s(f"c{i}", 1, 1 + i, "root") for i in range(1, 999)]
    assert critical_path(spans) == ["root", "c998"]
