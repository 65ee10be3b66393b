"""The live page's tables (detectors.live.snapshot): open runs and silent agents are aggregated in
ClickHouse with the detectors' dead rule, so these pin that rule's edge cases on a fresh store."""

from __future__ import annotations

import json
import time

from scenarios import Scenario
from swarmscope.detectors import live
from swarmscope.detectors.config import DetectorConfig
from swarmscope.detectors.views import graph_open_spans
from swarmscope.detectors.waitgraph import build_graph


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


def _open(sc: Scenario, ref, heartbeat: float = -1):
    sc.heartbeat(ref, at=heartbeat)
    return ref


def test_one_read_gives_the_wait_graph_and_ranks_a_young_deadlock_first(store) -> None:
    """snapshot() reads the open spans once for the tables and the graph: the graph equals the one built
    from views.graph_open_spans (task owners and an agentless wait's parent agent included), and a
    deadlocked run outranks runs with lost spans even past `limit` in the query's own order."""
    now_ns = time.time_ns()
    cycle = Scenario(run_id="run-cycle", now_ns=now_ns)
    a = _open(cycle, cycle.agent("alpha", start=-10, dur=None))
    b = _open(cycle, cycle.agent("beta", start=-10, dur=None))
    _open(cycle, cycle.wait(parent=a, for_="beta", start=-5, dur=None))
    _open(cycle, cycle.wait(parent=b, for_="alpha", start=-5, dur=None))
    tasks = Scenario(run_id="run-tasks", now_ns=now_ns)
    _open(tasks, tasks.agent("builder", task_id="T-1", task_status=None, start=-8, dur=None))
    checker = _open(tasks, tasks.agent("checker", start=-8, dur=None))
    _open(tasks, tasks.wait(parent=checker, task_id="T-1", start=-4, dur=None))
    lead = _open(tasks, tasks.agent("lead", start=-8, dur=None))
    _open(tasks, tasks.wait(parent=lead, resource="db-lock", agent="", start=-4, dur=None))
    for sc in (cycle, tasks):
        sc.insert(store)
    for i in range(3):  # older runs, each with a lost agent: first in the query's order
        old = Scenario(run_id=f"run-lost-{i}", now_ns=now_ns)
        _open(old, old.agent("sleeper", start=-600 + i, dur=None), heartbeat=-100)
        old.insert(store)

    now = now_ns // 1_000_000
    config = DetectorConfig()
    snap = live.snapshot(store, config, now=now, limit=2)
    assert [(r["run"], r["deadlocked"]) for r in snap.runs] == [("run-cycle", True), ("run-lost-0", False)]
    assert snap.totals == {"runs": 5, "waits": 4, "silent": 3}

    expected = build_graph(graph_open_spans(store, config, now)).to_dict(now)
    got = {k: v for k, v in snap.graph.items() if k != "lost_nodes"}
    assert _sorted(got) == _sorted(expected)
    edges = {(e["source"], e["target"], e["kind"]) for e in snap.graph["edges"]}
    assert ("agent:run-tasks:checker", "agent:run-tasks:builder", "task") in edges  # the task's owner
    assert ("agent:run-tasks:lead", "resource:db-lock", "resource") in edges  # the wait's parent agent


def _sorted(graph: dict) -> dict:
    return {k: sorted(json.dumps(x, sort_keys=True) for x in v) if isinstance(v, list) else v
            for k, v in graph.items()}
