"""retry_storm and duplicate_execution: what retries do to a tool and to its side effects.

- retry_storm: within `window_s`, at least `min_retries` retries (`swarmscope.attempt` > 1) of one
  tool from at least `min_agents` agents. Retries with backoff and jitter spread out and stay under
  it; agents retrying in lock step do not. Looked for in the last `lookback_s`; resolves when the
  storm has left that window.
- duplicate_execution: one `swarmscope.idempotency_key` completed (did not fail) more than once for
  one tool: the side effect ran twice. A deliberate re-run uses a new key and is not flagged.
"""

from __future__ import annotations

from typing import NamedTuple

from swarmscope.schema.params import fill, in_list, list_param
from swarmscope.schema.resolved_spans import resolved_spans

from .model import Finding, common
from .outcomes import COMPLETED
from .sweep import Sweep

# Retries by their resolved attempt and agent: a framework's retry has neither of its own.
SINCE = "Timestamp >= fromUnixTimestamp64Milli({since_ms:Int64})"
STORM_SQL = fill("""
SELECT ToolName, max(n) AS peak, argMax(agent_list, n) AS peak_agents, argMax(t_ms, n) AS peak_start_ms,
    argMax(traces, n) AS peak_traces, min(t_ms) AS first_ms, max(t_ms) AS last_ms
FROM (
    SELECT ToolName, t_ms,
        count() OVER w AS n,
        groupUniqArray(agent) OVER w AS agent_list,
        groupUniqArray(trace) OVER w AS traces
    FROM (
        SELECT ToolName, SpanId, any(TraceId) AS trace,
            if(any(AgentId) != '', any(AgentId), concat('service:', any(ServiceName))) AS agent,
            toUnixTimestamp64Milli(any(Timestamp)) AS t_ms
        FROM {tool_calls}
        WHERE Attempt > 1
        GROUP BY ToolName, SpanId
    )
    WINDOW w AS (PARTITION BY ToolName ORDER BY t_ms
                 RANGE BETWEEN CURRENT ROW AND {window_ms:UInt64} FOLLOWING)
)
WHERE n >= {min_retries:UInt64} AND length(agent_list) >= {min_agents:UInt64}
GROUP BY ToolName
""", tool_calls=resolved_spans(fill("""{since} AND ToolName != ''
          AND ({all_tools:UInt8} OR ToolName IN {tools}) AND ToolName NOT IN {exclude}""",
          since=SINCE, tools=in_list("tools"), exclude=in_list("exclude")), SINCE))


def detect_retry_storms(sweep: Sweep) -> list[Finding]:
    cfg = sweep.config
    since = sweep.now_ms - int(cfg.get("retry_storm", "lookback_s") * 1000)
    default_window = cfg.get("retry_storm", "window_s")
    per_tool_window = cfg.overrides("retry_storm", "window_s", "tools")
    min_retries = cfg.least("retry_storm", "min_retries")
    min_agents = cfg.least("retry_storm", "min_agents")
    passes = [(default_window, True, [], sorted(per_tool_window))]
    for tool, window in per_tool_window.items():
        passes.append((window, False, [tool], []))
    findings = []
    for window_s, all_tools, tools, exclude in passes:
        rows = sweep.store.rows(
            STORM_SQL,
            {
                "since_ms": since,
                "all_tools": int(all_tools),
                "tools": list_param(tools),
                "exclude": list_param(exclude),
                "window_ms": int(window_s * 1000),
                "min_retries": int(min_retries),
                "min_agents": int(min_agents),
            },
        )
        for r in rows:
            tool = r["ToolName"]
            need_retries = cfg.get("retry_storm", "min_retries", tool=tool)
            need_agents = cfg.get("retry_storm", "min_agents", tool=tool)
            if r["peak"] < need_retries or len(r["peak_agents"]) < need_agents:
                continue
            agents = sorted(r["peak_agents"])
            findings.append(
                Finding(
                    kind="retry_storm",
                    key=tool,
                    severity="error" if r["peak"] >= 3 * need_retries else "warning",
                    summary=f"retry storm on {tool}: {r['peak']} retries from {len(agents)} agents within "
                    f"{window_s:g} s (no backoff or jitter)",
                    evidence={
                        "tool": tool,
                        "peak_retries": r["peak"],
                        "window_s": window_s,
                        "peak_window_start_ms": r["peak_start_ms"],
                        "agents": agents,
                        "trace_ids": sorted(r["peak_traces"])[:50],
                        "thresholds": {"min_retries": need_retries, "min_agents": need_agents},
                        "first_storm_retry_ms": r["first_ms"],
                        "last_storm_retry_ms": r["last_ms"],
                    },
                    trace_id=common(r["peak_traces"]),
                    agent_ids=agents,
                )
            )
    return findings


# Two steps: count completions per hash of the key (no strings kept per key) to find the few keys
# completed more than once, then, only if there are any, group their completions by key, tool and span
# (a row repeated by an unmerged part counts once there); see docs/detectors.md, "Cost".
# Only keys seen in scope (on an incremental sweep: in the traces that moved) count.
# PREWHERE on the key alone, the other conditions after it (cheaper than the planner's own split).
DUPLICATE_KEYS_SQL = fill("""
SELECT cityHash64(IdempotencyKey) AS k
FROM spans
PREWHERE IdempotencyKey != ''
WHERE Timestamp >= fromUnixTimestamp64Milli({since_ms:Int64}) AND {completed} AND {keys_in_scope}
GROUP BY k
HAVING count() > 1
""", completed=COMPLETED)
# The completions' agents, runs and attempts resolved (a tool span under a framework agent names none).
DUPLICATE_SQL = fill("""
SELECT IdempotencyKey, ToolName, groupArray((trace, SpanId, agent, run, t_ms, attempt)) AS runs
FROM (
    SELECT IdempotencyKey, ToolName, SpanId, any(TraceId) AS trace, any(AgentId) AS agent,
        any(RunId) AS run, toUnixTimestamp64Milli(any(Timestamp)) AS t_ms, max(Attempt) AS attempt
    FROM {completions}
    GROUP BY IdempotencyKey, ToolName, SpanId
)
GROUP BY IdempotencyKey, ToolName
HAVING count() > 1
""", completions=resolved_spans(fill("""{since} AND IdempotencyKey != '' AND {completed}
      AND cityHash64(IdempotencyKey) IN {keys}""", since=SINCE, completed=COMPLETED,
                                     keys=in_list("keys", "UInt64")), SINCE))
KEYS_IN_SCOPE = "IdempotencyKey IN (SELECT IdempotencyKey FROM spans WHERE {scope} AND IdempotencyKey != '')"


class Execution(NamedTuple):
    """One completion of DUPLICATE_SQL's `runs` (its tuple order)."""

    trace_id: str
    span_id: str
    agent_id: str
    run_id: str
    time_ms: int
    attempt: int


def detect_duplicate_executions(sweep: Sweep) -> list[Finding]:
    scope, params = sweep.scope()
    since = min(
        sweep.since_ms, sweep.now_ms - int(sweep.config.get("duplicate_execution", "lookback_s") * 1000)
    )
    findings = []
    # A full sweep's scope is the window itself: every key in it is in scope.
    keys_in_scope = "1" if sweep.dirty is None else fill(KEYS_IN_SCOPE, scope=scope)
    repeated = sweep.store.rows(
        fill(DUPLICATE_KEYS_SQL, keys_in_scope=keys_in_scope), {**params, "since_ms": since}
    )
    if not repeated:
        return findings
    keys = list_param(r["k"] for r in repeated)
    for r in sweep.store.rows(DUPLICATE_SQL, {"since_ms": since, "keys": keys}):
        runs = sorted(map(Execution._make, r["runs"]), key=lambda x: x.time_ms)
        what = r["ToolName"] or "operation"
        findings.append(
            Finding(
                kind="duplicate_execution",
                key=f"{r['IdempotencyKey']}/{r['ToolName']}",
                severity="error",
                summary=f"{what} completed {len(runs)} times with one idempotency key "
                f"{r['IdempotencyKey'][:40]!r}: its side effect ran more than once",
                evidence={
                    "idempotency_key": r["IdempotencyKey"],
                    "tool": r["ToolName"] or None,
                    "completions": [
                        dict(x._asdict(), agent_id=x.agent_id or None, run_id=x.run_id or None)
                        for x in runs[:50]
                    ],
                    "count": len(runs),
                },
                trace_id=common(x.trace_id for x in runs),
                run_id=common(x.run_id for x in runs),
                span_ids=[x.span_id for x in runs],
                agent_ids=[x.agent_id for x in runs],
            )
        )
    return findings
