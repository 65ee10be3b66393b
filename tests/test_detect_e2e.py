"""Detection inside a real `swarmscope serve`: the continuous loop finds a four-agent deadlock while the
agents heartbeat (through the SDK and as raw OTLP/HTTP), serves it from /api/findings and /api/waits,
and resolves it when the waits end."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

from scenarios import Scenario

SDK_SCENARIOS = str(Path(__file__).with_name("scenarios_sdk.py"))


def _post(server, request: bytes) -> None:
    req = urllib.request.Request(
        server.url + "/v1/traces",
        data=request,
        method="POST",
        headers={"Content-Type": "application/x-protobuf", **server.headers()},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200


def _deadlocks(server, run_id: str, status: str = "open"):
    return server.get("/api/findings", kind="deadlock", run_id=run_id, status=status)["findings"]


def test_sdk_agents_deadlocked_in_a_ring_are_reported_while_heartbeating(server_factory):
    server = server_factory(extra_args=["--detect-interval", "1"])
    run_id = "run-" + uuid.uuid4().hex[:10]
    proc = subprocess.Popen(
        [sys.executable, SDK_SCENARIOS, "deadlock", server.url, run_id, "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "WAITING"
        [finding] = server.wait_for(lambda: _deadlocks(server, run_id), timeout=25)
        assert finding["severity"] == "critical" and finding["status"] == "open"
        assert finding["evidence"]["cycle"] == ["coder", "tester", "docs", "planner"]
        assert len(finding["evidence"]["waits"]) == 4
        waits = server.get("/api/waits", run_id=run_id)
        assert len(waits["cycles"]) == 1 and len(waits["waits"]) == 4
        # the agents are alive: no lost heartbeat, no stall (their timeouts are far away)
        others = server.get("/api/findings", run_id=run_id)["findings"]
        assert [f["kind"] for f in others] == ["deadlock"]
    finally:
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    # the waits ended: the deadlock resolves
    [resolved] = server.wait_for(lambda: _deadlocks(server, run_id, "resolved"), timeout=30)
    assert resolved["resolved_at"] and resolved["id"] == finding["id"]


def test_raw_otlp_deadlock_is_found_once_the_cycle_closes(server_factory):
    server = server_factory(extra_args=["--detect-interval", "1"])
    sc = Scenario(run_id="run-raw-" + uuid.uuid4().hex[:6])
    ring = ["planner", "coder", "tester", "docs"]
    agents = [sc.agent(name, start=-30, dur=None) for name in ring]
    waits = [
        sc.wait(parent=agents[i], for_=ring[(i + 1) % 4], start=-20, dur=None, timeout_ms=600_000)
        for i in range(4)
    ]

    def beat(refs) -> None:
        hb = Scenario(run_id=sc.run_id, trace_id=sc.trace_id)
        for ref in refs:
            hb.heartbeat(ref, at=0, interval_ms=1000)
        for request in hb.requests():
            _post(server, request)

    def beating(refs, found):
        """A wait_for predicate that heartbeats `refs` (interval 1 s) each time it asks `found`."""
        def check():
            beat(refs)
            return found()
        return check

    def phantoms():
        return server.get("/api/findings", kind="phantom_completion", run_id=sc.run_id)["findings"]

    # Three waits and a finished phantom completion: once a sweep has reported the phantom, that sweep
    # has seen the three waits too, and its findings (written together) hold no deadlock.
    beat(agents + waits[:3])
    marker = Scenario(run_id=sc.run_id)
    marker.agent("reviewer", **{"swarmscope.evidence.exit_code": 1})
    for request in marker.requests():
        _post(server, request)
    server.wait_for(beating(agents + waits[:3], phantoms), timeout=60)
    assert _deadlocks(server, sc.run_id) == []
    found = server.wait_for(beating(agents + waits, lambda: _deadlocks(server, sc.run_id)), timeout=60)
    assert found[0]["evidence"]["cycle"] == ["coder", "tester", "docs", "planner"]
