"""The live page's tables (detectors.live.snapshot): open runs and silent agents are aggregated in
ClickHouse with the detectors' dead rule, so these pin that rule's edge cases on a fresh store."""

from __future__ import annotations

import time

from scenarios import Scenario
from swarmscope.detectors import live
from swarmscope.detectors.config import DetectorConfig


def _open_agent(sc: Scenario, name: str, heartbeat: float):
    agent = sc.agent(name, start=-600, dur=None)
    sc.heartbeat(agent, at=heartbeat)  # every 10 s declared: dead after 3 missed (30 s) by default
    return agent


def _swarm(store, now_ns: int) -> Scenario:
    sc = Scenario(run_id="run-live", now_ns=now_ns)
    _open_agent(sc, "coder", heartbeat=-25)  # 25 s silent: alive by default, dead with 2 intervals
    tester = _open_agent(sc, "tester", heartbeat=-100)  # dead
    _open_agent(sc, "planner", heartbeat=-100)  # dead, but restarted below: not silent
    _open_agent(sc, "planner", heartbeat=-1)
    wait = sc.wait(parent=tester, for_="planner", timeout_ms=60_000, start=-200, dur=None)
    sc.heartbeat(wait, at=-100)
    other = Scenario(run_id="run-quiet", now_ns=now_ns)
    _open_agent(other, "docs", heartbeat=-1)
    sc.insert(store)
    other.insert(store)
    return sc


def test_live_tables_apply_the_dead_rule_and_spare_a_restarted_agent(store) -> None:
    now_ns = time.time_ns()
    _swarm(store, now_ns)
    snap = live.snapshot(store, DetectorConfig(), now=now_ns // 1_000_000)
    assert snap.totals == {"runs": 2, "waits": 1, "silent": 1}
    assert [(r["run"], r["open_spans"], r["waits"], r["lost"]) for r in snap.runs] == [
        ("run-live", 5, 1, 3), ("run-quiet", 1, 0, 0)]  # most lost spans first
    assert snap.runs[0]["agents"] == ["coder", "planner", "tester"]
    assert [(s["run"], s["agent"], s["spans"]) for s in snap.silent] == [
        ("run-live", "tester", ["invoke_agent tester", "wait planner"])]
    assert snap.graph["lost_nodes"] == ["agent:run-live:tester"]


def test_an_agent_override_of_missed_intervals_makes_an_agent_silent_sooner(store) -> None:
    now_ns = time.time_ns()
    _swarm(store, now_ns)
    config = DetectorConfig.from_dict({"agents": {"coder": {"lost_heartbeat": {"missed_intervals": 2}}}})
    snap = live.snapshot(store, config, now=now_ns // 1_000_000, limit=1)
    assert snap.totals == {"runs": 2, "waits": 1, "silent": 2}
    assert [s["agent"] for s in snap.silent] == ["tester"]  # limit 1: the longest silent
    assert [r["run"] for r in snap.runs] == ["run-live"]
    assert snap.runs[0]["lost"] == 4
    assert snap.graph["lost_nodes"] == ["agent:run-live:coder", "agent:run-live:tester"]
