"""The wait-for graph: cycles through agents, tasks and resources, agents blocked behind them, near
misses, and a four-agent deadlock found by the continuous loop within two sweeps while the agents
are still heartbeating."""

from __future__ import annotations

import pytest
from scenarios import STYLES, Scenario, detect, stored
from swarmscope.detectors.config import DetectorConfig
from swarmscope.detectors.runner import DetectionLoop
from swarmscope.detectors.sweep import OpenSpan
from swarmscope.detectors.waitgraph import build_graph


def _waiting_agent(sc: Scenario, name: str, heartbeat: float = -1, **wait_kw):
    agent = sc.agent(
        name, start=-300, dur=None, task_id=wait_kw.pop("owns_task", None), **wait_kw.pop("agent_attrs", {})
    )
    sc.heartbeat(agent, at=heartbeat)
    wait = None
    if wait_kw:
        wait = sc.wait(parent=agent, start=-60, dur=None, timeout_ms=600_000, **wait_kw)
        sc.heartbeat(wait, at=heartbeat)
    return agent, wait


@pytest.mark.parametrize("style", STYLES)
def test_four_agents_waiting_in_a_ring_is_a_deadlock(store, style):
    sc = Scenario(style=style)
    ring = ["planner", "coder", "tester", "docs"]
    waits = {name: _waiting_agent(sc, name, for_=ring[(i + 1) % 4])[1] for i, name in enumerate(ring)}
    # a reviewer waits on the tester: blocked behind the deadlock, not part of it
    _, blocked = _waiting_agent(sc, "reviewer", for_="tester")
    sc.insert(store)
    findings = detect(store)
    assert [f.kind for f in findings] == ["deadlock"]
    finding = findings[0]
    assert finding.severity == "critical"
    assert finding.evidence["cycle"] == [
        "coder",
        "tester",
        "docs",
        "planner",
    ]  # from the smallest id, in order
    assert [s["span_id"] for s in finding.evidence["steps"]] == [
        waits[n].id for n in ("coder", "tester", "docs", "planner")
    ]
    assert {w["span_id"] for w in finding.evidence["waits"]} == {w.id for w in waits.values()}
    assert finding.evidence["blocked_agents"] == ["reviewer"]
    assert finding.evidence["blocked"][0]["span_id"] == blocked.id
    assert set(finding.agent_ids) == {*ring, "reviewer"}
    assert finding.trace_id == sc.trace_id.hex() and finding.run_id == sc.run_id
    assert finding.key == ",".join(sorted(w.id for w in waits.values()))
    assert "coder -> tester -> docs -> planner -> coder" in finding.summary


def test_cycle_through_a_task_and_a_held_resource(store):
    sc = Scenario()
    # coder holds the repo lock and waits for task T-test; the tester owns T-test and waits for the lock
    _, coder_wait = _waiting_agent(
        sc, "coder", task_id="T-test", agent_attrs={"swarmscope.resource.held": "repo-lock, cache"}
    )
    _, tester_wait = _waiting_agent(sc, "tester", owns_task="T-test", resource="repo-lock")
    sc.insert(store)
    finding = detect(store, "deadlock")[0]
    assert finding.evidence["cycle"] == ["coder", "tester", "repo-lock"]
    assert [s["kind"] for s in finding.evidence["steps"]] == ["task", "resource", "holder"]
    assert sorted(finding.key.split(",")) == sorted([coder_wait.id, tester_wait.id])
    assert finding.evidence["holders"][0]["agent_id"] == "coder"


def test_leader_of_a_group_holds_it(store):
    sc = Scenario()
    _waiting_agent(sc, "leader", for_="follower", agent_attrs={"swarmscope.leader.group": "shard-3"})
    _waiting_agent(sc, "follower", resource="shard-3")
    sc.insert(store)
    assert detect(store, "deadlock")[0].evidence["cycle"] == ["follower", "shard-3", "leader"]


def test_near_misses_chain_ended_wait_other_runs_and_dead_agents(store):
    chain = Scenario()
    _waiting_agent(chain, "a", for_="b")
    _waiting_agent(chain, "b", for_="c")
    _waiting_agent(chain, "c")  # working, not waiting
    chain.insert(store)

    ended = Scenario()
    _waiting_agent(ended, "a", for_="b")
    _, wait = _waiting_agent(ended, "b", for_="a")
    ended.finish(wait, end=-1)  # b got what it waited for
    ended.insert(store)

    for run, (me, other) in (("run-1", ("x", "y")), ("run-2", ("y", "x"))):
        sc = Scenario(run_id=run)  # x waits y in run-1, y waits x in run-2: different agents
        _waiting_agent(sc, me, for_=other)
        sc.insert(store)

    dead = Scenario()
    _waiting_agent(dead, "p", for_="q")
    _waiting_agent(dead, "q", for_="p", heartbeat=-120)  # q's process died: lost heartbeat, not deadlock
    dead.insert(store)

    findings = detect(store)
    assert [f.kind for f in findings] == ["lost_heartbeat"]


def test_deadlock_resolves_when_a_wait_ends(store):
    sc = Scenario()
    _waiting_agent(sc, "a", for_="b")
    _, wait = _waiting_agent(sc, "b", for_="a")
    sc.insert(store)
    first = detect(store)[0]
    assert first.kind == "deadlock"
    sc.finish(wait, end=0, status="error")
    sc.insert(store)
    assert detect(store) == []
    [row] = stored(store, "deadlock")
    assert row["Status"] == "resolved" and row["Id"] == first.id


def test_self_wait_and_graph_shape():
    def span(sid, agent, **kw):
        base = dict(
            trace_id="t",
            span_id=sid,
            parent_span_id="",
            name=f"wait {sid}",
            service="s",
            start_ms=0,
            last_seen_ms=0,
            interval_ms=None,
            operation="wait",
            agent_id=agent,
            tool="",
            run_id="r",
            task_id="",
            wait_for="",
            wait_task_id="",
            wait_resource="",
            wait_timeout_ms=None,
        )
        base.update(kw)
        return OpenSpan(**base)

    graph = build_graph(
        [span("1", "solo", wait_for="solo"), span("2", "a", wait_for="b"), span("3", "b", wait_for="c")]
    )
    assert [c["nodes"] for c in graph.cycles] == [["agent:r:solo"]]
    assert {(e["source"], e["target"]) for e in graph.to_dict(0)["edges"]} == {
        ("agent:r:solo", "agent:r:solo"),
        ("agent:r:a", "agent:r:b"),
        ("agent:r:b", "agent:r:c"),
    }
    # a long chain is handled without recursion limits
    long_chain = [span(str(i), f"n{i}", wait_for=f"n{i + 1}") for i in range(5000)]
    long_chain.append(span("end", "n5000", wait_for="n0"))
    cycles = build_graph(long_chain).cycles
    assert len(cycles) == 1 and len(cycles[0]["nodes"]) == 5001


def test_continuous_loop_reports_a_four_agent_deadlock_on_the_next_sweep(store):
    """Four agents heartbeat (declared interval 1 s); three waits are open, then the fourth closes the
    cycle between two sweeps of the loop: the next sweep reports the deadlock, and nothing else (no
    stall, no lost heartbeat) is ever reported. The loop's clock and the heartbeats move together."""
    sc = Scenario()
    ring = ["planner", "coder", "tester", "docs"]
    agents = [sc.agent(name, start=-30, dur=None) for name in ring]
    waits = [
        sc.wait(parent=agents[i], for_=ring[(i + 1) % 4], timeout_ms=600_000, start=-20, dur=None)
        for i in range(3)
    ]
    start_ms = sc.now_ns // 1_000_000
    now = start_ms

    def beat(spans) -> None:
        """Heartbeats of `spans` at `now`, from the same trace."""
        beats = Scenario(run_id=sc.run_id, trace_id=sc.trace_id, now_ns=now * 1_000_000)
        for ref in spans:
            beats.heartbeat(ref, at=0, interval_ms=1000)
        beats.insert(store)

    loop = DetectionLoop(store, DetectorConfig(), interval_s=1.0, clock=lambda: now)
    for _ in range(2):
        beat([*agents, *waits])
        assert loop.run_once() == []
        now += 1000
    elapsed_s = (now - start_ms) / 1000
    closing = sc.wait(parent=agents[3], for_="planner", timeout_ms=600_000, start=elapsed_s, dur=None)
    beat([*agents, *waits, closing])
    [found] = loop.run_once()
    assert found.kind == "deadlock" and found.status == "open"
    assert set(found.span_ids) >= {w.id for w in [*waits, closing]}
    assert [r["Kind"] for r in stored(store)] == ["deadlock"]
    assert loop.last_error is None and loop.sweeps == 3
