"""The findings, waits, tools and agents API over an in-process store (the router alone, no serve)."""

from __future__ import annotations

import pytest
from harness import api_client
from scenarios import Scenario, clean_run, detect
from swarmscope.ui import api_detectors


@pytest.fixture
def client(store):
    return api_client(store, api_detectors.router)


def _deadlock(store, run_id="run-dl") -> Scenario:
    sc = Scenario(run_id=run_id)
    for me, other in (("a", "b"), ("b", "a")):
        agent = sc.agent(me, start=-100, dur=None)
        sc.heartbeat(agent, at=-1)
        wait = sc.wait(parent=agent, for_=other, start=-50, dur=None, timeout_ms=600_000)
        sc.heartbeat(wait, at=-1)
    return sc.insert(store)


def test_findings_filters(client, store):
    dl = _deadlock(store)
    phantom = Scenario(run_id="run-ph")
    phantom.agent("tester", **{"swarmscope.evidence.exit_code": 1})
    phantom.insert(store)
    detect(store)

    every = client.get("/api/findings").json()
    assert every["count"] == 2
    item = next(f for f in every["findings"] if f["kind"] == "deadlock")
    assert set(item) >= {
        "id",
        "kind",
        "severity",
        "trace_id",
        "run_id",
        "span_ids",
        "agent_ids",
        "summary",
        "evidence",
        "first_seen",
        "last_seen",
        "status",
    }
    assert item["status"] == "open" and item["first_seen"].endswith("Z")
    assert item["evidence"]["cycle"] == ["a", "b"]

    def kinds(**params):
        return [f["kind"] for f in client.get("/api/findings", params=params).json()["findings"]]

    assert kinds(kind="deadlock") == ["deadlock"]
    assert kinds(trace_id=dl.trace_id.hex().upper()) == ["deadlock"]
    assert kinds(run_id="run-ph") == ["phantom_completion"]
    assert kinds(agent="tester") == ["phantom_completion"]
    assert kinds(agent="nobody") == []
    assert kinds(status="resolved") == []
    assert sorted(kinds(status="open", since="10m")) == ["deadlock", "phantom_completion"]
    assert kinds(since="2099-01-01T00:00:00Z") == []
    assert kinds(limit=1) and len(kinds(limit=1)) == 1


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/api/findings", {"kind": "bogus"}, 422),
        ("/api/findings", {"status": "closed"}, 422),
        ("/api/findings", {"trace_id": "xyz"}, 400),
        ("/api/findings", {"since": "last tuesday"}, 400),
        ("/api/findings", {"limit": 0}, 422),
        ("/api/findings", {"limit": 100000}, 422),
        ("/api/tools", {"since": "soon"}, 400),
        ("/api/agents", {"limit": -1}, 422),
        ("/api/tools/never_called/failures", {}, 404),
    ],
)
def test_bad_parameters_are_clear_errors(client, path, params, status):
    response = client.get(path, params=params)
    assert response.status_code == status, response.text
    assert response.json()["detail"]


def test_waits_graph(client, store):
    dl = _deadlock(store)
    other = Scenario(run_id="run-other")
    agent = other.agent("c", start=-100, dur=None)
    other.heartbeat(agent, at=-1)
    wait = other.wait(parent=agent, resource="gpu-pool", start=-10, dur=None)
    other.heartbeat(wait, at=-1)
    other.insert(store)
    body = client.get("/api/waits").json()
    assert len(body["waits"]) == 3
    assert {n["id"] for n in body["nodes"]} == {
        "agent:run-dl:a",
        "agent:run-dl:b",
        "agent:run-other:c",
        "resource:gpu-pool",
    }
    assert {(e["source"], e["target"], e["kind"]) for e in body["edges"]} == {
        ("agent:run-dl:a", "agent:run-dl:b", "agent"),
        ("agent:run-dl:b", "agent:run-dl:a", "agent"),
        ("agent:run-other:c", "resource:gpu-pool", "resource"),
    }
    [cycle] = body["cycles"]
    assert cycle["nodes"] == ["agent:run-dl:a", "agent:run-dl:b"]
    assert all(s["trace_id"] == dl.trace_id.hex() for s in cycle["steps"])
    only_other = client.get("/api/waits", params={"run_id": "run-other"}).json()
    assert [w["resource"] for w in only_other["waits"]] == ["gpu-pool"] and only_other["cycles"] == []


def test_tools_and_failures(client, store):
    sc = Scenario()
    agent = sc.agent("coder")
    for i in range(8):
        sc.tool(
            "web_search",
            parent=agent,
            start=-50 + i,
            dur=0.1 * (i + 1),
            error="UpstreamError" if i < 2 else None,
            input_hash=f"h{i}",
            attempt=1 + (i == 2),
        )
    sc.tool("read_file", parent=agent, dur=0.01)
    sc.insert(store)
    tools = {t["tool"]: t for t in client.get("/api/tools", params={"since": "1h"}).json()["tools"]}
    search = tools["web_search"]
    assert (search["calls"], search["errors"], search["retries"]) == (8, 2, 1)
    assert search["error_rate"] == 0.25
    assert 300 <= search["p50_ms"] <= 500 and search["p99_ms"] >= search["p95_ms"] >= search["p50_ms"]
    assert search["top_errors"] == [{"message": "web_search failed: UpstreamError", "count": 2}]
    assert tools["read_file"]["errors"] == 0 and tools["read_file"]["top_errors"] == []

    failures = client.get("/api/tools/web_search/failures").json()["failures"]
    assert sorted(f["input_hash"] for f in failures) == ["h0", "h1"]
    assert all(f["trace_id"] == sc.trace_id.hex() and f["error_type"] == "UpstreamError" for f in failures)
    assert client.get("/api/tools/read_file/failures").json()["failures"] == []


def test_agents(client, store):
    clean_run().insert(store)
    running = Scenario()
    coder = running.agent("coder", start=-30, dur=None)
    running.heartbeat(coder, at=-1)
    running.agent("tester", **{"swarmscope.evidence.exit_code": 1}, confidence=0.4)
    running.insert(store)
    detect(store)
    agents = {a["agent_id"]: a for a in client.get("/api/agents").json()["agents"]}
    assert {"orchestrator", "planner", "coder", "tester", "docs"} <= set(agents)
    tester = agents["tester"]
    assert tester["runs"] == 2 and tester["invocations"] == 2
    assert tester["mean_confidence"] == pytest.approx((0.95 + 0.4) / 2)
    assert tester["findings"] == {"open": 1, "total": 1}
    assert agents["coder"]["open_spans"] == 1
    assert agents["planner"]["input_tokens"] == 1500 and agents["planner"]["errors"] == 0
