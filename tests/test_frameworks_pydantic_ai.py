"""Pydantic AI, natively instrumented (`swarmscope.init(..., instrument=True)`), on FunctionModel: its
spans go through the real OTLP exporter to a real `swarmscope serve` (tests/apps/pydantic_swarm.py)."""

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

pytest.importorskip("pydantic_ai", reason="the test extra installs pydantic-ai-slim")
APP = "pydantic_swarm.py"


@pytest.fixture
def served(server_factory, tmp_path):
    return start_server(server_factory, tmp_path)


def test_agents_tokens_tools_and_runs(served) -> None:
    run_app(APP, served, "pyd-run", "swarm")

    def tokens():
        agents = agents_by_name(served)
        return {name: (agents[name]["input_tokens"], agents[name]["output_tokens"])
                for name in ("planner", "coder") if name in agents}

    # Until a detection sweep has resolved the traces, model spans have no agent: poll for the totals.
    # Two traces; per trace the planner's model is called 3 times (100/10), the coder's 3 times (7/3).
    # Pydantic AI repeats the totals on its agent spans: counted once.
    expected = {"planner": (600, 60), "coder": (42, 18)}
    wait_until_equal(served, tokens, expected)
    tools = {t["tool"]: t for t in served.get("/api/tools")["tools"]}
    assert {"search", "transfer_to_coder", "run_tests"} <= tools.keys()
    assert (tools["run_tests"]["calls"], tools["run_tests"]["errors"]) == (4, 2)

    def failures():
        rows = served.get("/api/tools/run_tests/failures")["failures"]
        return rows if len(rows) == 2 and all(r["attempt"] == 1 for r in rows) else None

    rows = served.wait_for(failures)
    assert {r["agent_id"] for r in rows} == {"coder"}
    assert {r["message"] for r in rows} == {"pydantic_ai.exceptions.ToolRetryError: 2 tests failed"}
    assert len(served.get("/api/traces", run_id="pyd-run")["traces"]) == 2


def test_retry_storm(served) -> None:
    run_app(APP, served, "pyd-storm", "storm")
    found = served.wait_for(lambda: findings(served, "retry_storm"))
    assert len(found) == 1 and sorted(found[0]["agent_ids"]) == ["w0", "w1", "w2"]
    assert found[0]["evidence"]["tool"] == "flaky_api"


def test_loop(served) -> None:
    run_app(APP, served, "pyd-loop", "loop")
    found = served.wait_for(lambda: findings(served, "loop"))
    assert [f["agent_ids"] for f in found] == [["looper"]]


def test_hanging_tool_call_is_a_stalled_wait_before_it_ends(served) -> None:
    proc = start_hanging(APP, served, "pyd-hang")
    try:
        found = served.wait_for(lambda: findings(served, "stalled_wait"), timeout=30)
        assert [f["agent_ids"] for f in found] == [["waiter"]]
        assert "wait_for_approval" in found[0]["summary"]
    finally:
        proc.communicate("", timeout=60)
    assert proc.returncode == 0
