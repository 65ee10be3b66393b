"""CrewAI, offline, through the OpenInference CrewAI instrumentor (`swarmscope.init(..., instrument=True)`),
the real OTLP exporter and a real `swarmscope serve`: agents, tools, tokens, the run, the hand-off of a
sequential crew, and the planted retry storm, loop and hanging tool call (tests/apps/crewai_swarm.py).

CrewAI pins older openai/pydantic/mcp releases than the test extra's frameworks, so it cannot share
their environment. The app runs in an interpreter that has it: this one if CrewAI is importable here,
else the one $SWARMSCOPE_CREWAI_PYTHON names (docs/integrations.md, "CrewAI", says how to make it);
`serve` runs from this environment as in every other test.
"""

from __future__ import annotations

import contextlib

import pytest
from framework_helpers import (
    CREWAI_MISSING,
    DEADLINE_S,
    agents_by_name,
    crewai_python,
    findings,
    run_app,
    start_hanging,
    start_server,
    wait_until_equal,
    watched_while_hanging,
)

APP = "crewai_swarm.py"


@pytest.fixture(scope="module")
def python() -> str:
    found = crewai_python()
    if found is None:
        pytest.skip(CREWAI_MISSING)
    return found


@pytest.fixture
def served(server_factory, tmp_path):
    return start_server(server_factory, tmp_path)


def test_agents_tokens_tools_runs_and_the_hand_off(python, served) -> None:
    run_app(APP, served, "run-1", "swarm", python)

    def tokens():
        agents = agents_by_name(served)
        return {name: (agents[name]["input_tokens"], agents[name]["output_tokens"])
                for name in ("planner", "coder") if name in agents}

    # Two traces; the planner's 2 model calls of 100/10 and the coder's 3 of 7/3 each, counted once.
    wait_until_equal(served, tokens, {"planner": (400, 40), "coder": (42, 18)})
    tools = {t["tool"]: t for t in served.get("/api/tools")["tools"]}
    assert {"search", "run_tests"} <= tools.keys()
    assert (tools["run_tests"]["calls"], tools["run_tests"]["errors"]) == (4, 2)

    def failures():
        rows = served.get("/api/tools/run_tests/failures")["failures"]
        return rows if len(rows) == 2 else None

    rows = served.wait_for(failures, timeout=DEADLINE_S)
    assert {r["agent_id"] for r in rows} == {"coder"}
    assert {r["message"] for r in rows} == {"2 tests failed"}  # the tool span's status message
    assert len(served.get("/api/traces", run_id="run-1")["traces"]) == 2

    # A sequential crew: the coder's task span names the planner (`graph.node.parent_id`).
    def steps():
        body = served.get("/api/runs/run-1/handoffs")
        return [(h["from_agent"], h["to_agent"], h["to_span_id"] == h["span_id"]) for h in body["handoffs"]]

    expected = [("planner", "coder", True)] * 2
    with contextlib.suppress(AssertionError):
        served.wait_for(lambda: steps() == expected, timeout=DEADLINE_S)
    assert steps() == expected


def test_retry_storm(python, served) -> None:
    """Three agents at once, each retrying a failing tool with the same arguments."""
    run_app(APP, served, "run-storm", "storm", python)
    found = served.wait_for(lambda: findings(served, "retry_storm"), timeout=DEADLINE_S)
    assert len(found) == 1 and sorted(found[0]["agent_ids"]) == ["w0", "w1", "w2"]
    assert found[0]["evidence"]["tool"] == "flaky_api"


def test_loop(python, served) -> None:
    run_app(APP, served, "run-loop", "loop", python)
    found = served.wait_for(lambda: findings(served, "loop"), timeout=DEADLINE_S)
    assert [f["agent_ids"] for f in found] == [["looper"]]


def test_hanging_tool_call_is_a_stalled_wait_before_it_ends(python, served) -> None:
    proc = start_hanging(APP, served, "run-hang", python)
    try:
        found = served.wait_for(lambda: findings(served, "stalled_wait"), timeout=DEADLINE_S)
        assert [f["agent_ids"] for f in found] == [["waiter"]]
        assert "wait_for_approval" in found[0]["summary"]
    finally:
        proc.communicate("", timeout=60)
    assert proc.returncode == 0


def test_a_hanging_agent_has_its_agent_and_tool_spans_watched(python) -> None:
    assert watched_while_hanging(APP, python) == [["wait_for_approval.run", "waiter", "TOOL"],
                                                  ["waiter.waiter's part.execute", "waiter", "AGENT"]]


def test_a_killed_process_is_a_lost_heartbeat_before_anything_ends(python, served) -> None:
    proc = start_hanging(APP, served, "run-dead", python)
    served.wait_for(lambda: findings(served, "stalled_wait"), timeout=DEADLINE_S)  # its records arrived
    proc.kill()
    proc.wait(timeout=60)
    found = served.wait_for(lambda: findings(served, "lost_heartbeat"), timeout=DEADLINE_S)
    assert [f["agent_ids"] for f in found] == [["waiter"]]
    assert {s["name"] for s in found[0]["evidence"]["spans"]} == {"wait_for_approval.run",
                                                                  "waiter.waiter's part.execute"}
