"""loop: one agent receives the same input (`swarmscope.input.hash`) again and again in one run.

Counts finished and still-open agent spans alike, so a loop is seen while the run goes on. A run is
`swarmscope.run.id` (else the trace). Fires at `max_repeats` identical inputs (per-agent override).

Framework traces carry no input fingerprint of ours: there the same tool called by one agent with the
same arguments (fingerprint derived from its content, schema/resolve.py), succeeding each time, is the
loop. Failed calls are retries (retry_storm's business), not a loop.
"""

from __future__ import annotations

from typing import NamedTuple

from swarmscope.schema.params import fill

from .model import Finding, common
from .sweep import REPEATED_INPUT, Sweep

# Agent invocations with their run (RunId, else the trace), finished (resolved: a framework agent's
# input fingerprint is derived from its content) and still running.
AGENT_SPANS = "Operation = 'invoke_agent'"
INVOCATIONS = """
    SELECT RunId, TraceId, AgentId, InputHash, InputHash64, SpanId, toUnixTimestamp64Milli(Timestamp) AS t_ms
    FROM {resolved_agent_spans}
    WHERE InputHash != '' AND AgentId != ''
    UNION ALL
    SELECT RunId, TraceId, AgentId, InputHash, InputHash64, SpanId, toUnixTimestamp64Milli(StartTime) AS t_ms
    FROM pending_spans
    WHERE {pending_run_scope} AND Operation = 'invoke_agent' AND InputHash != '' AND AgentId != ''
"""
# Only inputs given more than once (Sweep.repeated_inputs) can repeat for one agent in one run.
LOOP_SQL = fill("""
SELECT if(RunId != '', RunId, TraceId) AS run, AgentId, InputHash,
    groupUniqArray((TraceId, SpanId, t_ms)) AS spans
FROM ({invocations})
WHERE {repeated_input}
GROUP BY run, AgentId, InputHash
HAVING length(spans) >= {min_repeats:UInt64}
""", invocations=INVOCATIONS)


class Invocation(NamedTuple):
    """One agent span of LOOP_SQL's `spans` (its tuple order)."""

    trace_id: str
    span_id: str
    time_ms: int


# Tool calls whose fingerprint was derived from content (no swarmscope.input.hash of their own, so an
# empty InputHash in `spans`), with the tool in the fingerprint so two tools given the same arguments
# differ; agent, run and fingerprint resolved.
TOOL_CALLS = "ToolName != '' AND InputHash = '' AND StatusCode != 'Error'"
TOOL_LOOP_SQL = """
SELECT if(RunId != '', RunId, TraceId) AS run, AgentId, concat(ToolName, ':', InputHash) AS InputHash,
    groupUniqArray((TraceId, SpanId, toUnixTimestamp64Milli(Timestamp))) AS spans
FROM {resolved}
WHERE InputHash != '' AND AgentId != ''
GROUP BY run, AgentId, ToolName, InputHash
HAVING length(spans) >= {min_repeats:UInt64}
"""


def detect_loops(sweep: Sweep) -> list[Finding]:
    return _agent_loops(sweep) + _tool_loops(sweep)


def _tool_loops(sweep: Sweep) -> list[Finding]:
    resolved, params = sweep.resolved_run_scope(TOOL_CALLS)
    least = int(sweep.config.least("loop", "max_repeats"))
    rows = sweep.store.rows(fill(TOOL_LOOP_SQL, resolved=resolved), {**params, "min_repeats": least})
    return _findings(sweep, rows, "called the same tool with the same arguments")


def _agent_loops(sweep: Sweep) -> list[Finding]:
    cfg = sweep.config
    _, pending_scope, _ = sweep.agent_runs_scope()
    resolved, params = sweep.resolved_run_scope(AGENT_SPANS, sweep.running_agent_runs())
    least = cfg.least("loop", "max_repeats")
    repeated = "1"  # every input, if one invocation is already a loop
    if least > 1:
        params = {**params, "repeated": sweep.repeated_inputs()}
        if not params["repeated"]:
            return []
        repeated = REPEATED_INPUT
    rows = sweep.store.rows(
        fill(LOOP_SQL, resolved_agent_spans=resolved, pending_run_scope=pending_scope,
             repeated_input=repeated),
        {**params, "min_repeats": int(least)},
    )
    return _findings(sweep, rows, "received the same input")


def _findings(sweep: Sweep, rows: list[dict], what: str) -> list[Finding]:
    cfg = sweep.config
    findings = []
    for r in rows:
        agent = r["AgentId"]
        limit = cfg.get("loop", "max_repeats", agent=agent)
        spans = sorted(map(Invocation._make, r["spans"]), key=lambda x: x.time_ms)
        if len(spans) < limit:
            continue
        is_run = not (len(r["run"]) == 32 and r["run"] == spans[0].trace_id)
        findings.append(
            Finding(
                kind="loop",
                key=f"{r['run']}/{agent}/{r['InputHash']}",
                severity="warning",
                summary=f"{agent} {what} {len(spans)} times in one "
                f"{'run' if is_run else 'trace'}: it is going round in circles",
                evidence={
                    "agent_id": agent,
                    "input_hash": r["InputHash"],
                    "repeats": len(spans),
                    "threshold": limit,
                    "run_id": r["run"] if is_run else None,
                    "spans": [x._asdict() for x in spans[:50]],
                },
                trace_id=common(x.trace_id for x in spans),
                run_id=r["run"] if is_run else "",
                span_ids=[x.span_id for x in spans],
                agent_ids=[agent],
            )
        )
    return findings
