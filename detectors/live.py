"""What is open right now, across all runs: the open runs, the open waits with their age and timeout,
the agents silent past their heartbeat interval, and the wait-for graph (built exactly as `/api/waits`
builds it, from the spans views.graph_open_spans selects, taken from the same one read of the open
spans as the tables).

The open runs and silent agents are aggregated in ClickHouse and cut to the most urgent `limit`: reading
every open span into Python (10,000 of them in the bench) was most of the page's time. A span is dead
(its heartbeats stopped) by the detectors' rule: silent for more than `lost_heartbeat.missed_intervals`
of its declared interval, the tool's then the agent's override first (detectors.sweep.fetch_open_spans)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from swarmscope.detectors.config import DetectorConfig
from swarmscope.detectors.sweep import OPEN_SPAN_COLUMNS, OPEN_SPANS_SQL, open_spans_of_rows
from swarmscope.detectors.views import GRAPH_OR_OWNER_ROW
from swarmscope.detectors.waitgraph import build_graph
from swarmscope.schema.params import array_of, fill, list_param
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


# Every open span with its run key, its agent's graph node (waitgraph.agent_node), and whether it is
# dead; `silent`: dead, and (for an agent's span) every open span of that agent node is dead too, so an
# agent restarted under the same run id that heartbeats again is not silent.
_OPEN = """
SELECT *, if(run_id != '', run_id, trace_id) AS run_key, concat('agent:', run_id, ':', agent_id) AS node,
    coalesce(interval_ms, 0) > 0
        AND {now_ms:Int64} - last_seen_ms > toInt64({missed} * coalesce(interval_ms, 0)) AS dead,
    dead AND (agent_id = '' OR min(dead) OVER (PARTITION BY node) = 1) AS silent
FROM ({open})
"""
_MISSED = "{column} != '' AND has({keys}, {column}), transform({column}, {keys}, {missed}, 0.)"
_TOOL_MISSED = fill(_MISSED, column="tool", keys=array_of("tool_keys"),
                    missed=array_of("tool_missed", "Float64"))
_AGENT_MISSED = fill(_MISSED, column="agent_id", keys=array_of("agent_keys"),
                     missed=array_of("agent_missed", "Float64"))

# One read of the open spans (the anti-join against finished spans is most of the cost, ~45-70 ms for
# 10,000 open spans over 1M finished ones) aggregated three ways by GROUPING SETS:
# - kind 'run': open runs, most lost spans first, then oldest; the first `limit` of them, and every run
#   with a span in the wait-for graph (only those can be deadlocked, which snapshot() ranks first);
# - kind 'silent': silent agents (spans without an agent: their service), longest silent first;
# - kind 'all' (one row): `graph_spans`, the open spans the wait-for graph is made of (what
#   views.graph_open_spans reads), and `lost_nodes`, every agent node whose open spans are all silent
#   (the graph shows them even when they wait on nobody).
# Silent agents are cut to `limit` rows; `total` is how many runs / silent agents there are in all.
# One thread: the page polls every 5 s per viewer, and on the 2-core bench machine under load the
# query's two-thread plan (parallel aggregation and window sorts over ~10,000 rows) spent ~20% more CPU
# and took longer than one thread did (docs/ui-bench.md); the other core stays free for ingest.
LIVE = fill("""
SELECT * REPLACE (if(kind = 'all', graph_spans, []) AS graph_spans) FROM (
    SELECT multiIf(grouping(silent_agent) = 0, 'silent', grouping(run_key) = 0, 'run', 'all') AS kind,
        run_key AS run, silent_agent,
        max(run_id) != '' AS is_run_id, min(trace_id) AS run_trace,
        arraySort(groupUniqArrayIf(service, service != '')) AS services,
        arraySort(groupUniqArrayIf(agent_id, agent_id != '')) AS agents,
        count() AS open_spans,
        countIf(operation = 'wait' OR wait_for != '' OR wait_task_id != '' OR wait_resource != '') AS waits,
        countIf(dead) AS lost, countIf(in_graph) AS graph_count,
        min(start_ms) AS start, max(last_seen_ms) AS last,
        arraySlice(arraySort(groupUniqArray(name)), 1, 5) AS names,
        argMin((trace_id, span_id, interval_ms), (trace_id, span_id)) AS first,
        count() OVER (PARTITION BY kind) AS total,
        row_number() OVER (PARTITION BY kind ORDER BY lost DESC, start, run) AS run_rank,
        row_number() OVER (PARTITION BY kind ORDER BY last, run, silent_agent) AS silent_rank,
        arraySort(groupUniqArrayIf(node, silent AND agent_id != '')) AS lost_nodes,
        arraySort(s -> (s.1, s.2), groupArrayIf(tuple({open_span_columns}), in_graph)) AS graph_spans
    FROM (
        SELECT *, if(silent, if(agent_id != '', agent_id, concat('service:', service)), '') AS silent_agent,
            {in_graph} AS in_graph
        FROM ({open}))
    GROUP BY GROUPING SETS ((run_key), (run_key, silent_agent), ())
    HAVING kind != 'silent' OR silent_agent != '')
WHERE kind = 'all' OR (kind = 'run' AND (run_rank <= {limit:UInt32} OR graph_count > 0))
   OR (kind = 'silent' AND silent_rank <= {limit:UInt32})
ORDER BY kind, if(kind = 'silent', silent_rank, run_rank)
SETTINGS max_threads = 1
""", open_span_columns=", ".join(OPEN_SPAN_COLUMNS),
    in_graph=GRAPH_OR_OWNER_ROW)


def _open_sql(config: DetectorConfig, now: int, params: dict[str, Any]) -> str:
    """_OPEN with the dead rule's overrides bound into `params`."""
    branches = []
    for scope, branch in (("tools", _TOOL_MISSED), ("agents", _AGENT_MISSED)):
        overrides = config.overrides("lost_heartbeat", "missed_intervals", scope)
        if overrides:
            key = scope[:-1]
            params[f"{key}_keys"] = list_param(overrides)
            params[f"{key}_missed"] = json.dumps([float(v) for v in overrides.values()])
            branches.append(branch)
    params["missed"] = float(config.get("lost_heartbeat", "missed_intervals"))
    params["now_ms"] = now
    params["horizon_ms"] = now - int(config.get("sweep", "open_horizon_s") * 1000)
    missed = f"multiIf({', '.join(branches)}, {{missed:Float64}})" if branches else "{missed:Float64}"
    return fill(_OPEN, missed=missed, open=fill(OPEN_SPANS_SQL, only="1"))


def snapshot(store: Store, config: DetectorConfig | None = None, now: int | None = None,
             limit: int = 100) -> Live:
    config = config or DetectorConfig()
    now = now_ms() if now is None else now
    params: dict[str, Any] = {"limit": limit}
    rows: dict[str, list[dict[str, Any]]] = {"run": [], "silent": [], "all": []}
    for r in store.rows(fill(LIVE, open=_open_sql(config, now, params)), params):
        rows[r["kind"]].append(r)
    graph = build_graph(open_spans_of_rows(rows["all"][0]["graph_spans"] if rows["all"] else [], config, now))
    as_dict = graph.to_dict(now)
    in_cycles = {n for c in graph.cycles for n in c["nodes"] if n in graph.nodes}
    cycle_runs = {graph.nodes[n].get("run_id") or "" for n in in_cycles}

    # Deadlocked first, then the query's order: most lost spans, then oldest.
    ranked = sorted(rows["run"], key=lambda r: (r["run"] not in cycle_runs, -r["lost"], r["start"], r["run"]))
    runs = [{
        "run": r["run"], "is_run_id": bool(r["is_run_id"]), "trace_id": r["run_trace"],
        "services": list(r["services"]), "agents": list(r["agents"]),
        "open_spans": int(r["open_spans"]), "waits": int(r["waits"]), "lost": int(r["lost"]),
        "deadlocked": r["run"] in cycle_runs, "since": iso_ms(r["start"]), "age_ms": now - r["start"],
        "last_seen": iso_ms(r["last"]),
    } for r in ranked[:limit]]

    def stalled(w) -> bool:
        return bool(w.wait_timeout_ms) and now - w.start_ms > w.wait_timeout_ms

    # Most urgent first: waits in a deadlock run, then past their timeout, then live ones, oldest first;
    # only the first `limit` are described (there can be thousands).
    urgent = sorted(graph.waits, key=lambda w: ((w.run_id or w.trace_id) not in cycle_runs, not stalled(w),
                                                w.dead, w.start_ms))
    waits = [{
        **w.wait_brief(now), "run": w.run_id or w.trace_id, "dead": w.dead, "age_ms": now - w.start_ms,
        "since": iso_ms(w.start_ms), "stalled": stalled(w),
    } for w in urgent[:limit]]

    silent = [{
        "run": r["run"], "agent": r["silent_agent"], "spans": list(r["names"]),
        "trace_id": r["first"][0], "span_id": r["first"][1], "last_heartbeat": iso_ms(r["last"]),
        "silent_ms": now - r["last"], "interval_ms": r["first"][2],
    } for r in rows["silent"]]
    as_dict["lost_nodes"] = list(rows["all"][0]["lost_nodes"]) if rows["all"] else []
    totals = {"runs": int(rows["run"][0]["total"]) if rows["run"] else 0, "waits": len(graph.waits),
              "silent": int(rows["silent"][0]["total"]) if rows["silent"] else 0}
    return Live(as_of=iso_ms(now), runs=runs, waits=waits, silent=silent,
                graph=as_dict, totals=totals)
