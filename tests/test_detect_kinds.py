"""Every detector kind on raw OTLP: a positive scenario, near misses that must not fire, and clean runs
in three instrumentation styles (swarmscope, GenAI semconv, OpenInference) with zero findings."""

from __future__ import annotations

import time

import pytest
from scenarios import STYLES, Scenario, clean_run, detect, stored
from swarmscope.detectors.config import DetectorConfig


def kinds_of(findings) -> list[str]:
    return sorted(f.kind for f in findings)


def only(findings, kind: str):
    found = [f for f in findings if f.kind == kind]
    assert len(found) == 1, [(f.kind, f.summary) for f in findings]
    return found[0]


# ---- clean runs -----------------------------------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
def test_clean_four_agent_run_has_no_findings(store, style):
    clean_run(style).insert(store)
    assert detect(store) == []
    assert stored(store) == []


def test_clean_runs_of_every_style_together_have_no_findings(store):
    for style in STYLES:
        clean_run(style).insert(store)
        clean_run(style).insert(store)
    assert detect(store) == []


# ---- stalled_wait ---------------------------------------------------------------------------


def _open_agent(sc: Scenario, name: str, start: float = -600, heartbeat: float = -1, **kw):
    agent = sc.agent(name, start=start, dur=None, **kw)
    sc.heartbeat(agent, at=heartbeat)
    return agent


@pytest.mark.parametrize("style", STYLES)
def test_wait_open_past_its_timeout_is_stalled(store, style):
    sc = Scenario(style=style)
    coder = _open_agent(sc, "coder")
    wait = sc.wait(parent=coder, for_="planner", timeout_ms=60_000, start=-200, dur=None)
    sc.heartbeat(wait, at=-2)
    sc.insert(store)
    finding = only(detect(store), "stalled_wait")
    assert finding.span_ids == [wait.id]
    assert finding.trace_id == sc.trace_id.hex()
    assert finding.run_id == sc.run_id
    assert finding.agent_ids == ["coder", "planner"]
    assert finding.evidence["threshold_ms"] == 60_000
    assert finding.evidence["threshold_source"] == "declared swarmscope.wait.timeout_ms"
    assert finding.evidence["open_for_ms"] >= 199_000


def test_wait_without_timeout_uses_the_default(store):
    sc = Scenario()
    coder = _open_agent(sc, "coder")
    wait = sc.wait(parent=coder, task_id="T-1", start=-150, dur=None)
    sc.heartbeat(wait, at=-1)
    sc.insert(store)
    finding = only(detect(store, "stalled_wait"), "stalled_wait")
    assert finding.evidence["threshold_ms"] == 120_000
    config = DetectorConfig.from_dict({"agents": {"coder": {"stalled_wait": {"timeout_s": 300}}}})
    assert detect(store, "stalled_wait", config=config) == []


def test_near_miss_wait_under_its_timeout_or_already_ended(store):
    sc = Scenario()
    coder = _open_agent(sc, "coder")
    open_wait = sc.wait(parent=coder, for_="planner", timeout_ms=60_000, start=-30, dur=None)
    sc.heartbeat(open_wait, at=-1)
    # ended long after its timeout: a finished (timed-out) wait is not a stall
    ended = sc.wait(parent=coder, for_="tester", timeout_ms=10_000, start=-300, dur=None)
    sc.heartbeat(ended, at=-250)
    sc.finish(ended, end=-200, status="error")
    sc.insert(store)
    assert detect(store, "stalled_wait", "lost_heartbeat") == []


def test_stalled_wait_resolves_when_the_wait_ends(store):
    sc = Scenario()
    coder = _open_agent(sc, "coder")
    wait = sc.wait(parent=coder, for_="planner", timeout_ms=1_000, start=-20, dur=None)
    sc.heartbeat(wait, at=-1)
    sc.insert(store)
    first = only(detect(store), "stalled_wait")
    sc.finish(wait, end=0)
    sc.insert(store)
    assert detect(store) == []
    [row] = stored(store, "stalled_wait")
    assert row["Id"] == first.id and row["Status"] == "resolved"


def _tool_history(store, tool: str, seconds: float, calls: int = 30) -> None:
    sc = Scenario()
    agent = sc.agent("crawler", start=-3000, dur=2900)
    for i in range(calls):
        sc.tool(tool, parent=agent, start=-3000 + i * 10, dur=seconds * (0.8 + 0.2 * (i % 2)))
    sc.insert(store)


def test_long_tool_within_its_usual_latency_is_not_stalled(store):
    _tool_history(store, "crawl_site", seconds=600)  # p99 ~ 600 s
    sc = Scenario()
    agent = _open_agent(sc, "crawler")
    call = sc.tool("crawl_site", parent=agent, start=-300, dur=None)  # 5 min: past the 120 s default
    sc.heartbeat(call, at=-1)
    sc.insert(store)
    assert detect(store, "stalled_wait") == []


def test_tool_stalls_past_three_times_its_p99(store):
    _tool_history(store, "crawl_site", seconds=600)
    sc = Scenario()
    agent = _open_agent(sc, "crawler", start=-3000)
    call = sc.tool("crawl_site", parent=agent, start=-2000, dur=None)
    sc.heartbeat(call, at=-1)
    sc.insert(store)
    finding = only(detect(store, "stalled_wait"), "stalled_wait")
    assert 1_700_000 < finding.evidence["threshold_ms"] < 1_900_000
    assert "p99 of crawl_site" in finding.evidence["threshold_source"]
    config = DetectorConfig.from_dict({"tools": {"crawl_site": {"stalled_wait": {"timeout_s": 3600}}}})
    assert detect(store, "stalled_wait", config=config) == []


def test_tool_without_history_uses_the_default(store):
    sc = Scenario(style="openinference")
    agent = _open_agent(sc, "crawler")
    call = sc.tool("fresh_tool", parent=agent, start=-300, dur=None)
    sc.heartbeat(call, at=-1)
    sc.insert(store)
    finding = only(detect(store, "stalled_wait"), "stalled_wait")
    assert finding.evidence["threshold_source"] == "default"


# ---- lost_heartbeat -------------------------------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
def test_silent_process_is_a_lost_heartbeat(store, style):
    sc = Scenario(style=style)
    agent = sc.agent("coder", start=-120, dur=None, **{"swarmscope.resource.held": "repo-lock"})
    sc.heartbeat(agent, at=-10, interval_ms=1000)
    tool = sc.tool("write_file", parent=agent, start=-100, dur=None)
    sc.heartbeat(tool, at=-10, interval_ms=1000)
    wait = sc.wait(parent=agent, for_="tester", timeout_ms=5_000, start=-90, dur=None)
    sc.heartbeat(wait, at=-10, interval_ms=1000)
    sc.insert(store)
    findings = detect(store)
    finding = only(findings, "lost_heartbeat")
    assert kinds_of(findings) == ["lost_heartbeat"]  # a dead wait is not also a stall or a deadlock edge
    assert set(finding.span_ids) == {agent.id, tool.id, wait.id}
    assert finding.agent_ids == ["coder"]
    assert finding.evidence["held_resources"] == ["repo-lock"]
    assert finding.evidence["last_heartbeat_ms_ago"] >= 9_000


def test_near_miss_recent_heartbeat_and_sdks_without_heartbeats(store):
    sc = Scenario()
    fresh = sc.agent("coder", start=-120, dur=None)
    sc.heartbeat(fresh, at=-2, interval_ms=1000)  # 2 s < 3 intervals
    logfire = sc.agent("planner", start=-7200, dur=None)
    sc.heartbeat(logfire, at=-3600, interval_ms=None, logfire=True)  # never judged dead
    sc.insert(store)
    now = sc.now_ns // 1_000_000  # as of the scenario's clock: 2 s of silence however slow the machine
    assert detect(store, "lost_heartbeat", now=now) == []
    config = DetectorConfig.from_dict({"agents": {"coder": {"lost_heartbeat": {"missed_intervals": 1}}}})
    assert kinds_of(detect(store, "lost_heartbeat", config=config, now=now)) == ["lost_heartbeat"]


def test_lost_heartbeat_resolves_when_the_heartbeat_comes_back(store):
    sc = Scenario()
    agent = sc.agent("coder", start=-120, dur=None)
    sc.heartbeat(agent, at=-30, interval_ms=1000)
    sc.insert(store)
    now = sc.now_ns // 1_000_000
    first = only(detect(store, now=now), "lost_heartbeat")
    sc.heartbeat(agent, at=0, interval_ms=1000)
    sc.insert(store)
    assert detect(store, now=now) == []
    [row] = stored(store, "lost_heartbeat")
    assert row["Id"] == first.id and row["Status"] == "resolved"


# ---- phantom_completion ---------------------------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
def test_completion_with_failing_exit_code_is_phantom(store, style):
    sc = Scenario(style=style)
    tester = sc.agent(
        "tester",
        task_id="T-test",
        **{"swarmscope.evidence.exit_code": 1, "swarmscope.evidence.test_command": "pytest -q"},
    )
    sc.insert(store)
    finding = only(detect(store), "phantom_completion")
    assert finding.span_ids == [tester.id]
    assert finding.severity == "error"
    assert finding.evidence["contradictions"] == [{"check": "exit_code", "value": 1, "expected": 0}]


def test_phantom_validation_failed_and_low_confidence(store):
    sc = Scenario()
    validated = sc.agent("reviewer", **{"swarmscope.evidence.validation.passed": False})
    unsure = sc.agent("docs", confidence=0.2)
    sc.agent("coder", confidence=0.7)  # near miss
    sc.insert(store)
    found = {f.span_ids[0]: f for f in detect(store, "phantom_completion")}
    assert set(found) == {validated.id, unsure.id}
    assert found[validated.id].evidence["contradictions"][0]["check"] == "validation.passed"
    assert found[unsure.id].evidence["contradictions"][0] == {
        "check": "confidence",
        "value": 0.2,
        "threshold": 0.5,
    }
    assert found[unsure.id].severity == "warning"
    config = DetectorConfig.from_dict({"agents": {"coder": {"phantom_completion": {"min_confidence": 0.8}}}})
    assert len(detect(store, "phantom_completion", config=config)) == 3


def test_declared_test_command_that_never_ran(store):
    sc = Scenario()
    sc.agent("tester", **{"swarmscope.evidence.test_command": "pytest tests/ -q"})
    sc.insert(store)
    finding = only(detect(store, "phantom_completion"), "phantom_completion")
    assert finding.evidence["contradictions"][0]["check"] == "test_command"
    # near miss: the command ran in a tool span of the same trace
    ok = Scenario()
    tester = ok.agent("tester", **{"swarmscope.evidence.test_command": "pytest tests/ -q"})
    ok.tool("shell", parent=tester, **{"process.command_line": "pytest tests/ -q", "process.exit_code": 0})
    ok.insert(store)
    assert [f.trace_id for f in detect(store, "phantom_completion")] == [sc.trace_id.hex()]


def test_near_miss_exit_code_zero_or_honest_failure(store):
    sc = Scenario()
    sc.agent(
        "tester",
        **{
            "swarmscope.evidence.exit_code": 0,
            "swarmscope.evidence.test_command": "pytest",
            "swarmscope.evidence.validation.passed": True,
        },
    )
    sc.agent("tester2", status="error", task_status="failed", **{"swarmscope.evidence.exit_code": 1})
    sc.agent("tester3", status="unset", task_status="partial", **{"swarmscope.evidence.exit_code": 2})
    sc.insert(store)
    assert detect(store, "phantom_completion") == []


def test_agents_disagreeing_on_one_task_and_input(store):
    for agent, output in (("reviewer-a", "h-approve"), ("reviewer-b", "h-reject")):
        sc = Scenario(style="genai", run_id="run-review")
        sc.agent(agent, task_id="REVIEW-7", input_hash="h-diff", output_hash=output)
        sc.insert(store)
    agreeing = Scenario(run_id="run-other")
    agreeing.agent("reviewer-a", task_id="REVIEW-8", input_hash="h-diff2", output_hash="h-same")
    agreeing.agent("reviewer-b", task_id="REVIEW-8", input_hash="h-diff2", output_hash="h-same")
    agreeing.insert(store)
    finding = only(detect(store, "phantom_completion"), "phantom_completion")
    assert finding.evidence["check"] == "disagreement"
    assert finding.evidence["outputs"] == {"h-approve": ["reviewer-a"], "h-reject": ["reviewer-b"]}
    assert finding.run_id == "run-review"


# ---- partial_failure ------------------------------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
def test_ok_parent_over_a_failed_descendant(store, style):
    sc = Scenario(style=style)
    orch = sc.agent("orchestrator", start=-100, dur=90)
    coder = sc.agent("coder", parent=orch, start=-90, dur=40, status="unset", task_status=None)
    failed = sc.tool("run_migration", parent=coder, start=-80, dur=5, error="DatabaseError")
    sc.insert(store)
    finding = only(detect(store), "partial_failure")
    assert finding.key == sc.trace_id.hex()
    assert finding.evidence["claims"][0]["span_id"] == orch.id
    assert finding.evidence["descendants"] == [
        {"span_id": failed.id, "name": "execute_tool run_migration", "agent_id": "coder", "state": "failed"}
    ]


def test_parent_ended_while_a_child_was_still_open_or_ended_later(store):
    sc = Scenario()
    orch = sc.agent("orchestrator", start=-100, dur=50)
    still_open = sc.agent("researcher", parent=orch, start=-90, dur=None)
    sc.heartbeat(still_open, at=-1)
    late = Scenario()
    root = late.agent("orchestrator", start=-100, dur=20)
    straggler = late.tool("upload", parent=root, start=-90, dur=60)
    sc.insert(store)
    late.insert(store)
    found = {f.trace_id: f for f in detect(store, "partial_failure")}
    assert found[sc.trace_id.hex()].evidence["descendants"][0] == {
        "span_id": still_open.id,
        "name": "invoke_agent researcher",
        "agent_id": "researcher",
        "state": "still_open",
    }
    assert found[late.trace_id.hex()].evidence["descendants"][0]["span_id"] == straggler.id
    assert found[late.trace_id.hex()].evidence["descendants"][0]["state"] == "ended_after_it"


def test_repeated_rows_of_a_trace_still_show_what_ended_after_its_parent(store):
    # The same spans inserted twice (two parts, not merged yet), the parent once more with another end:
    # the tree check sorts repeated rows in any order, so a trace with any is looked at closely.
    sc = Scenario()
    root = sc.agent("orchestrator", start=-100, dur=20)
    late = sc.tool("upload", parent=root, start=-90, dur=60)
    requests = sc.requests()
    sc.finish(root, end=-75, status="ok")
    sc.insert(store)
    store.insert_requests(requests)
    clean = Scenario()
    clean.agent("orchestrator", start=-100, dur=90)
    again = clean.requests()
    clean.insert(store)
    store.insert_requests(again)
    [finding] = detect(store, "partial_failure")
    assert finding.trace_id == sc.trace_id.hex()
    assert [d["span_id"] for d in finding.evidence["descendants"]] == [late.id]
    assert finding.evidence["descendants"][0]["state"] == "ended_after_it"


def test_a_span_ended_after_its_parent_whatever_the_parents_id_hashes_to(store):
    # The tree check keys a span by its id's hash shifted left (a parent reference by that + 1): parents
    # whose hash has the top bit set (shifted out) must be matched as well as the others.
    top_bits, traces = set(), []
    while top_bits != {0, 1}:
        sc = Scenario()
        root = sc.agent("orchestrator", start=-100, dur=20)
        sc.tool("upload", parent=root, start=-90, dur=60)
        top = store.scalar("SELECT bitShiftRight(cityHash64({id:String}), 63)", {"id": root.id})
        if top not in top_bits:
            top_bits.add(top)
            traces.append(sc.trace_id.hex())
            sc.insert(store)
    assert sorted(f.trace_id for f in detect(store, "partial_failure")) == sorted(traces)


def test_partial_pairs_walk_up_to_every_claim_they_contradict():
    from swarmscope.detectors.completion import _partial_pairs

    # root (claim) <- agent (claim) <- tool (failed, unrecovered); late <- agent, ended 5 s after it;
    # the agent's repeated row (an unmerged part) comes second and does not count as its parent.
    row = {
        "hids": [1, 2, 3, 4, 2],
        "hparents": [0, 1, 2, 2, 1],
        "ends": [100, 50, 40, 56, 90],
        "claims": [1, 1, 0, 0, 1],
        "unrecovered": [3],
    }
    assert _partial_pairs(row, slack_ns=1) == [(3, True, 2), (3, True, 1), (4, False, 2)]
    assert _partial_pairs({**row, "unrecovered": []}, slack_ns=10) == []


def test_near_miss_recovered_retry_and_honest_partial(store):
    sc = Scenario()
    orch = sc.agent("orchestrator", start=-100, dur=90)
    sc.tool("search", parent=orch, start=-90, dur=1, error="Timeout", attempt=1, call_id="c1")
    sc.tool("search", parent=orch, start=-85, dur=1, attempt=2, call_id="c1")
    honest = Scenario()
    lead = honest.agent("researcher", start=-100, dur=90, status="unset", task_status="partial")
    honest.tool("search", parent=lead, start=-90, dur=1, error="Timeout")
    sc.insert(store)
    honest.insert(store)
    assert detect(store, "partial_failure") == []


# ---- retry_storm ----------------------------------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
def test_lock_step_retries_from_many_agents_are_a_storm(store, style):
    sc = Scenario(style=style)
    agents = [sc.agent(f"worker-{i}", start=-60, dur=50) for i in range(4)]
    for round_ in range(3):
        for a in agents:
            sc.tool(
                "vector_lookup",
                parent=a,
                start=-30 + round_ * 0.5,
                dur=0.1,
                attempt=round_ + 2,
                error="RateLimited",
            )
    sc.insert(store)
    finding = only(detect(store, "retry_storm"), "retry_storm")
    assert finding.evidence["peak_retries"] == 12
    assert finding.evidence["agents"] == [f"worker-{i}" for i in range(4)]
    assert finding.key == "vector_lookup"


def test_near_miss_retries_spread_out_with_backoff(store):
    sc = Scenario()
    agents = [sc.agent(f"worker-{i}", start=-290, dur=280) for i in range(4)]
    for i in range(12):  # exponential backoff with jitter: a retry every ~20 s across the fleet
        sc.tool("vector_lookup", parent=agents[i % 4], start=-280 + i * 21.7, dur=0.1, attempt=2 + i // 4)
    single = Scenario()
    lone = single.agent("worker-x", start=-60, dur=50)
    for i in range(15):  # one agent hammering: not a fleet-wide storm
        single.tool("http_get", parent=lone, start=-30 + i * 0.1, dur=0.05, attempt=i + 2)
    sc.insert(store)
    single.insert(store)
    assert detect(store, "retry_storm") == []


def test_retry_storm_resolves_when_it_leaves_the_window(store):
    sc = Scenario()
    agents = [sc.agent(f"worker-{i}", start=-60, dur=50) for i in range(3)]
    for i in range(12):
        sc.tool("search", parent=agents[i % 3], start=-30 + i * 0.2, dur=0.1, attempt=2)
    sc.insert(store)
    only(detect(store), "retry_storm")
    later = time.time_ns() // 1_000_000 + 400_000
    assert detect(store, "retry_storm", now=later) == []
    [row] = stored(store, "retry_storm")
    assert row["Status"] == "resolved"


# ---- duplicate_execution --------------------------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
def test_one_idempotency_key_completed_twice(store, style):
    first, second = Scenario(style=style, run_id="run-dup"), Scenario(style=style, run_id="run-dup")
    a = first.tool("send_email", parent=first.agent("notifier"), idempotency_key="email-42")
    b = second.tool("send_email", parent=second.agent("notifier"), idempotency_key="email-42")
    first.insert(store)
    second.insert(store)
    finding = only(detect(store), "duplicate_execution")
    assert sorted(finding.span_ids) == sorted([a.id, b.id])
    assert finding.evidence["count"] == 2
    assert finding.run_id == "run-dup"


def test_near_miss_rerun_with_new_key_and_retry_after_failure(store):
    sc = Scenario()
    agent = sc.agent("notifier")
    sc.tool("send_email", parent=agent, idempotency_key="email-1")
    sc.tool("send_email", parent=agent, idempotency_key="email-1-rerun")  # deliberate re-run, new key
    sc.tool("charge_card", parent=agent, idempotency_key="charge-9", attempt=1, error="Timeout", call_id="cc")
    sc.tool("charge_card", parent=agent, idempotency_key="charge-9", attempt=2, call_id="cc")
    sc.insert(store)
    assert detect(store, "duplicate_execution") == []


# ---- context_bloat --------------------------------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
def test_input_over_the_declared_budget(store, style):
    sc = Scenario(style=style)
    over = sc.agent("coder", input_tokens=9000, **{"swarmscope.context.budget_tokens": 8000})
    sc.agent("docs", input_tokens=7000, **{"swarmscope.context.budget_tokens": 8000})  # near miss
    sc.insert(store)
    finding = only(detect(store), "context_bloat")
    assert finding.span_ids == [over.id]
    assert finding.evidence["spans"][0]["input_tokens"] == 9000


def test_tokens_growing_along_a_chain_of_agents(store):
    sc = Scenario(style="openinference")
    root = sc.agent("orchestrator", start=-100, dur=90)
    chain = [
        sc.agent(name, parent=root, start=-90 + i * 10, dur=5, input_tokens=tokens)
        for i, (name, tokens) in enumerate(
            [("planner", 2000), ("coder", 5000), ("tester", 9000), ("docs", 16000)]
        )
    ]
    sc.insert(store)
    finding = only(detect(store), "context_bloat")
    assert finding.span_ids == [c.id for c in chain]
    assert finding.evidence["ratio"] == 8.0
    near = Scenario()
    root = near.agent("orchestrator", start=-100, dur=90)
    for i, tokens in enumerate([2000, 2500, 3000, 2800]):
        near.agent(f"a{i}", parent=root, start=-90 + i * 10, dur=5, input_tokens=tokens)
    near.insert(store)
    assert [f.trace_id for f in detect(store, "context_bloat")] == [sc.trace_id.hex()]


def test_agents_running_side_by_side_are_not_a_chain(store):
    """A fan-out: agents started together hand nothing to each other, whatever their token counts;
    agents that start one another (each the child of the previous) are a chain however they overlap."""
    fan = Scenario()
    root = fan.agent("orchestrator", start=-100, dur=90)
    for i, tokens in enumerate([2000, 5000, 9000, 16000]):
        fan.agent(f"a{i}", parent=root, start=-90 + i * 0.05, dur=30, input_tokens=tokens)
    fan.insert(store)
    assert detect(store, "context_bloat") == []
    nested = Scenario()
    parent = nested.agent("orchestrator", start=-100, dur=90, input_tokens=2000)
    chain = [parent]
    for i, tokens in enumerate([5000, 9000]):
        parent = nested.agent(f"b{i}", parent=parent, start=-90 + i, dur=30, input_tokens=tokens)
        chain.append(parent)
    nested.insert(store)
    finding = only(detect(store, "context_bloat"), "context_bloat")
    assert finding.span_ids == [c.id for c in chain]


# ---- loop -----------------------------------------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
def test_same_input_again_and_again_in_one_run(store, style):
    spans = []
    for _ in range(2):  # across two traces of one run
        sc = Scenario(style=style, run_id="run-loop")
        spans.append(sc.agent("researcher", input_hash="h-same-question", start=-50, dur=5))
        spans.append(sc.agent("researcher", input_hash="h-same-question", start=-40, dur=5))
        sc.insert(store)
    finding = only(detect(store), "loop")
    assert sorted(finding.span_ids) == sorted(s.id for s in spans)
    assert finding.run_id == "run-loop"
    assert finding.evidence["repeats"] == 4


def test_loop_counts_the_invocation_still_running_and_near_miss_twice(store):
    sc = Scenario(run_id="run-a")
    sc.agent("planner", input_hash="h-q", start=-50, dur=5)
    sc.agent("planner", input_hash="h-q", start=-40, dur=5)
    sc.insert(store)
    assert detect(store, "loop") == []  # twice: one retry is fine
    running = sc.agent("planner", input_hash="h-q", start=-10, dur=None)
    sc.heartbeat(running, at=-1)
    sc.insert(store)
    finding = only(detect(store, "loop"), "loop")
    assert running.id in finding.span_ids


# ---- drift ----------------------------------------------------------------------------------


def _tool_calls(store, tool: str, start: float, calls: int, every: float, error_every: int | None) -> None:
    sc = Scenario()
    agent = sc.agent("worker", start=start - 1, dur=calls * every + 2)
    for i in range(calls):
        sc.tool(
            tool,
            parent=agent,
            start=start + i * every,
            dur=0.2,
            error="UpstreamError" if error_every and i % error_every == 0 else None,
        )
    sc.insert(store)


def test_tool_error_rate_drifts_from_its_baseline(store):
    _tool_calls(store, "geocode", start=-7000, calls=120, every=40, error_every=50)  # baseline ~2%
    _tool_calls(store, "geocode", start=-600, calls=30, every=15, error_every=2)  # recent 50%
    _tool_calls(store, "stable", start=-7000, calls=120, every=40, error_every=50)
    _tool_calls(store, "stable", start=-600, calls=30, every=15, error_every=20)  # recent ~7%: near miss
    finding = only(detect(store, "drift"), "drift")
    assert finding.key == "tool/geocode/error_rate"
    assert finding.evidence["baseline"] < 0.05 and finding.evidence["recent"] >= 0.5


def test_agent_confidence_drifts_from_its_baseline(store):
    sc = Scenario()
    for i in range(60):
        sc.agent("summarizer", start=-7000 + i * 90, dur=1, confidence=0.9, task_status=None)
    for i in range(25):
        sc.agent("summarizer", start=-800 + i * 20, dur=1, confidence=0.55, task_status=None)
        sc.agent("steady", start=-800 + i * 20, dur=1, confidence=0.85, task_status=None)
    for i in range(60):
        sc.agent("steady", start=-7000 + i * 90, dur=1, confidence=0.9, task_status=None)
    sc.insert(store)
    finding = only(detect(store, "drift"), "drift")
    assert finding.key == "agent/summarizer/confidence"
    assert finding.agent_ids == ["summarizer"]
