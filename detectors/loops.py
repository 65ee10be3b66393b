"""loop: one agent receives the same input (`swarmscope.input.hash`) again and again in one run.

Counts finished and still-open agent spans alike, so a loop is seen while the run goes on. A run is
`swarmscope.run.id` (else the trace). Fires at `max_repeats` identical inputs (per-agent override).
"""

from __future__ import annotations

from .model import Finding
from .sweep import Sweep

# Agent invocations with their run (RunId, else the trace), finished and still running.
INVOCATIONS = """
    SELECT RunId, TraceId, AgentId, InputHash, SpanId, toUnixTimestamp64Milli(Timestamp) AS t_ms
    FROM spans
    WHERE {run_scope} AND Operation = 'invoke_agent' AND InputHash != '' AND AgentId != ''
    UNION ALL
    SELECT RunId, TraceId, AgentId, InputHash, SpanId, toUnixTimestamp64Milli(StartTime) AS t_ms
    FROM pending_spans
    WHERE {pending_run_scope} AND Operation = 'invoke_agent' AND InputHash != '' AND AgentId != ''
"""
# The few (run, agent, input) groups with enough invocations are found first by counting a hash of the
# group (no strings kept per group; TraceId hashed in only when RunId is empty), then only their spans
# are grouped by strings: grouping every invocation by its strings cost ~0.2 s of a cold sweep.
LOOP_KEY = "cityHash64(RunId, if(RunId = '', cityHash64(TraceId), 0), AgentId, InputHash)"
LOOP_SQL = f"""
SELECT if(RunId != '', RunId, TraceId) AS run, AgentId, InputHash,
    groupUniqArray((TraceId, SpanId, t_ms)) AS spans
FROM ({INVOCATIONS})
WHERE {LOOP_KEY} IN (
    SELECT {LOOP_KEY} AS k FROM ({INVOCATIONS}) GROUP BY k HAVING count() >= {{min_repeats:UInt64}})
GROUP BY run, AgentId, InputHash
HAVING length(spans) >= {{min_repeats:UInt64}}
"""


def detect_loops(sweep: Sweep) -> list[Finding]:
    cfg = sweep.config
    # Runs in scope, and runs where an agent with a fingerprinted input is running right now.
    running = sorted({s.run_id or s.trace_id for s in sweep.open_spans() if s.is_agent and s.input_hash})
    scope, params = sweep.run_scope(extra_runs=running)
    pending_scope, _ = sweep.run_scope("StartTime", extra_runs=running)
    least = min([cfg.get("loop", "max_repeats"), *cfg.overrides("loop", "max_repeats", "agents").values()])
    rows = sweep.store.rows(
        LOOP_SQL.replace("{run_scope}", scope).replace("{pending_run_scope}", pending_scope),
        {**params, "min_repeats": int(least)},
    )
    findings = []
    for r in rows:
        agent = r["AgentId"]
        limit = cfg.get("loop", "max_repeats", agent=agent)
        spans = sorted(r["spans"], key=lambda x: x[2])
        if len(spans) < limit:
            continue
        is_run = not (len(r["run"]) == 32 and r["run"] == spans[0][0])
        findings.append(
            Finding(
                kind="loop",
                key=f"{r['run']}/{agent}/{r['InputHash']}",
                severity="warning",
                summary=f"{agent} received the same input {len(spans)} times in one "
                f"{'run' if is_run else 'trace'}: it is going round in circles",
                evidence={
                    "agent_id": agent,
                    "input_hash": r["InputHash"],
                    "repeats": len(spans),
                    "threshold": limit,
                    "run_id": r["run"] if is_run else None,
                    "spans": [{"trace_id": t, "span_id": s, "time_ms": ms} for t, s, ms in spans[:50]],
                },
                trace_id=spans[0][0] if len({s[0] for s in spans}) == 1 else "",
                run_id=r["run"] if is_run else "",
                span_ids=[s[1] for s in spans],
                agent_ids=[agent],
            )
        )
    return findings
