"""What is open right now, across all runs: one read of the open spans (the detectors' own read,
detectors.sweep.fetch_open_spans), from which the live page takes the open runs, the open waits with
their age and timeout, the agents silent past their heartbeat interval, and the wait-for graph (built
exactly as `/api/waits` builds it)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from swarmscope.detectors.config import DetectorConfig
from swarmscope.detectors.sweep import OpenSpan, fetch_open_spans
from swarmscope.detectors.waitgraph import agent_node, build_graph
from swarmscope.schema.store import Store
from swarmscope.schema.times import iso_ms, now_ms


@dataclass
class Live:
    as_of: str
    runs: list[dict[str, Any]]  # the first `limit` of each list, most urgent first
    waits: list[dict[str, Any]]
    silent: list[dict[str, Any]]
    graph: dict[str, Any]  # the /api/waits shape, plus `lost_nodes`
    totals: dict[str, int]  # how many there are in all


def _run_key(span: OpenSpan) -> str:
    return span.run_id or span.trace_id


def snapshot(store: Store, config: DetectorConfig | None = None, now: int | None = None,
             limit: int = 100) -> Live:
    config = config or DetectorConfig()
    now = now_ms() if now is None else now
    spans = fetch_open_spans(store, config, now)
    graph = build_graph(spans)
    as_dict = graph.to_dict(now)
    in_cycles = {n for c in graph.cycles for n in c["nodes"] if n in graph.nodes}
    cycle_runs = {graph.nodes[n].get("run_id") or "" for n in in_cycles}

    by_run: dict[str, list[OpenSpan]] = defaultdict(list)
    for s in spans:
        by_run[_run_key(s)].append(s)
    runs = []
    for key, group in by_run.items():
        start = min(s.start_ms for s in group)
        runs.append({
            "run": key, "is_run_id": bool(group[0].run_id), "trace_id": group[0].trace_id,
            "services": sorted({s.service for s in group if s.service}),
            "agents": sorted({s.agent_id for s in group if s.agent_id}),
            "open_spans": len(group), "waits": sum(1 for s in group if s.is_wait),
            "lost": sum(1 for s in group if s.dead), "deadlocked": key in cycle_runs,
            "since": iso_ms(start), "age_ms": now - start,
            "last_seen": iso_ms(max(s.last_seen_ms for s in group)),
        })
    runs.sort(key=lambda r: (not r["deadlocked"], -r["lost"], -r["age_ms"]))

    waits = []
    for w in graph.waits:
        age = now - w.start_ms
        waits.append({
            **w.wait_brief(now), "run": _run_key(w), "dead": w.dead, "age_ms": age,
            "since": iso_ms(w.start_ms),
            "stalled": bool(w.wait_timeout_ms) and age > (w.wait_timeout_ms or 0),
        })

    # An agent is lost when its open spans are all silent (a restarted agent reusing the run id is not).
    alive = {agent_node(s.run_id, s.agent_id) for s in spans if not s.dead and s.agent_id}
    silent_by_agent: dict[tuple[str, str], list[OpenSpan]] = defaultdict(list)
    for s in spans:
        if s.dead and agent_node(s.run_id, s.agent_id) not in alive:
            silent_by_agent[(_run_key(s), s.agent_id or f"service:{s.service}")].append(s)
    silent = []
    for (run, agent), group in sorted(silent_by_agent.items()):
        last = max(s.last_seen_ms for s in group)
        silent.append({"run": run, "agent": agent, "spans": sorted({s.name for s in group})[:5],
                       "trace_id": group[0].trace_id, "span_id": group[0].span_id,
                       "last_heartbeat": iso_ms(last), "silent_ms": now - last,
                       "interval_ms": group[0].interval_ms})
    as_dict["lost_nodes"] = sorted({agent_node(s.run_id, s.agent_id) for s in spans if s.dead and s.agent_id}
                                   - alive)
    # Most urgent first: waits in a deadlock run, then past their timeout, then live ones, oldest first.
    waits.sort(key=lambda w: (w["run"] not in cycle_runs, not w["stalled"], w["dead"], -w["age_ms"]))
    silent.sort(key=lambda s: -s["silent_ms"])
    totals = {"runs": len(runs), "waits": len(waits), "silent": len(silent)}
    return Live(as_of=iso_ms(now), runs=runs[:limit], waits=waits[:limit], silent=silent[:limit],
                graph=as_dict, totals=totals)
