"""LangGraph through the OpenInference LangChain instrumentor (`swarmscope.init(..., instrument=True)`),
on a fake chat model from langchain_core: its spans go through the real OTLP exporter to a real
`swarmscope serve` (tests/apps/langgraph_swarm.py). OpenInference names no agent on LangChain spans:
a span gets its agent from the LangGraph node it runs in."""

from __future__ import annotations

import pytest
from framework_helpers import (
    agents_by_name,
    findings,
    run_app,
    start_hanging,
    start_server,
    wait_until_equal,
)

pytest.importorskip("langgraph", reason="the test extra installs langgraph")
APP = "langgraph_swarm.py"


@pytest.fixture
def served(server_factory, tmp_path):
    return start_server(server_factory, tmp_path)


def test_agents_tokens_tools_and_runs(served) -> None:
    run_app(APP, served, "lg-run", "swarm")

    def tokens():
        agents = agents_by_name(served)
        return {name: (agents[name]["input_tokens"], agents[name]["output_tokens"])
                for name in ("planner", "coder") if name in agents}

    # Until a detection sweep has resolved the traces, model spans have no agent: poll for the totals.
    # Two traces; per trace the planner's model is called twice (100/10; it hands off), the coder's 3 times.
    expected = {"planner": (400, 40), "coder": (42, 18)}
    wait_until_equal(served, tokens, expected)
    tools = {t["tool"]: t for t in served.get("/api/tools")["tools"]}
    assert {"search", "transfer_to_coder", "run_tests"} <= tools.keys()
    assert (tools["run_tests"]["calls"], tools["run_tests"]["errors"]) == (4, 2)

    def failures():
        rows = served.get("/api/tools/run_tests/failures")["failures"]
        return rows if len(rows) == 2 and all(r["attempt"] == 1 for r in rows) else None

    rows = served.wait_for(failures)
    assert {r["agent_id"] for r in rows} == {"coder"}
    # OpenInference puts a traceback in the status message: the exception event's line is kept instead.
    assert {r["message"] for r in rows} == {"ValueError: 2 tests failed"}
    assert len(served.get("/api/traces", run_id="lg-run")["traces"]) == 2


def test_retry_storm(served) -> None:
    run_app(APP, served, "lg-storm", "storm")
    found = served.wait_for(lambda: findings(served, "retry_storm"))
    assert len(found) == 1 and sorted(found[0]["agent_ids"]) == ["w0", "w1", "w2"]
    assert found[0]["evidence"]["tool"] == "flaky_api"


def test_loop(served) -> None:
    run_app(APP, served, "lg-loop", "loop")
    found = served.wait_for(lambda: findings(served, "loop"))
    assert [f["agent_ids"] for f in found] == [["looper"]]


def test_hanging_tool_call_is_a_stalled_wait_before_it_ends(served) -> None:
    proc = start_hanging(APP, served, "lg-hang")
    try:
        found = served.wait_for(lambda: findings(served, "stalled_wait"), timeout=30)
        assert [f["agent_ids"] for f in found] == [["waiter"]]
        assert "wait_for_approval" in found[0]["summary"]
    finally:
        proc.communicate("", timeout=60)
    assert proc.returncode == 0
