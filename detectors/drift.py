"""drift: an agent's or tool's recent behaviour moved away from its own baseline.

Recent = the last `recent_s`; baseline = the `baseline_s` before that. With at least `min_recent` and
`min_baseline` samples, it fires when the error rate rose by `error_rate_delta` (absolute) and at
least doubled, mean confidence fell by `confidence_drop`, mean input tokens or p95 latency grew by
`tokens_factor` / `latency_factor`. Tools are read from the per-minute aggregates, agents from their
agent spans. Resolves when the metric is back within bounds.
"""

from __future__ import annotations

from swarmscope.schema.params import fill
from swarmscope.schema.resolved_spans import resolved_spans, traces_of

from .model import Finding
from .sweep import Sweep

BASE = "Timestamp >= fromUnixTimestamp64Milli({base_ms:Int64})"
# Agent spans with their resolved agent (a GenAI `invoke_agent {name}` span without an agent key is
# agent {name}, schema/resolve.py) and their own token figures.
AGENT_SQL = fill("""
SELECT AgentId AS name,
    countIf(recent) AS n_recent, countIf(NOT recent) AS n_base,
    avgIf(StatusCode = 'Error', recent) AS err_recent, avgIf(StatusCode = 'Error', NOT recent) AS err_base,
    avgIf(Confidence, recent AND Confidence IS NOT NULL) AS conf_recent,
    avgIf(Confidence, NOT recent AND Confidence IS NOT NULL) AS conf_base,
    avgIf(InputTokens, recent AND InputTokens > 0) AS tok_recent,
    avgIf(InputTokens, NOT recent AND InputTokens > 0) AS tok_base,
    quantileIf(0.95)(Duration, recent) / 1e6 AS p95_recent,
    quantileIf(0.95)(Duration, NOT recent) / 1e6 AS p95_base
FROM (
    SELECT AgentId, StatusCode, Confidence, OwnInputTokens AS InputTokens, Duration,
        Timestamp >= fromUnixTimestamp64Milli({recent_ms:Int64}) AS recent
    FROM {agent_spans}
    WHERE AgentId != ''
)
GROUP BY AgentId
HAVING n_recent >= {min_recent:UInt64} AND n_base >= {min_base:UInt64}
""", agent_spans=resolved_spans(
    fill("{since} AND Operation = 'invoke_agent'", since=BASE),
    # Only an agent span without an agent of its own can be given one: only those traces' resolution
    # rows are read (hours of them cost ~0.1 s a sweep).
    traces_of(fill("{since} AND Operation = 'invoke_agent' AND AgentId = ''", since=BASE), BASE)))

TOOL_SQL = """
SELECT ToolName AS name,
    sumIf(Calls, recent) AS n_recent, sumIf(Calls, NOT recent) AS n_base,
    sumIf(Errors, recent) / greatest(n_recent, 1) AS err_recent,
    sumIf(Errors, NOT recent) / greatest(n_base, 1) AS err_base,
    quantilesMergeIf(0.5, 0.95, 0.99)(DurationQuantiles, recent)[2] / 1e6 AS p95_recent,
    quantilesMergeIf(0.5, 0.95, 0.99)(DurationQuantiles, NOT recent)[2] / 1e6 AS p95_base
FROM (
    SELECT ToolName, Calls, Errors, DurationQuantiles,
        Minute >= toStartOfMinute(fromUnixTimestamp64Milli({recent_ms:Int64})) AS recent
    FROM tool_minutes
    WHERE Minute >= toStartOfMinute(fromUnixTimestamp64Milli({base_ms:Int64}))
)
GROUP BY ToolName
HAVING n_recent >= {min_recent:UInt64} AND n_base >= {min_base:UInt64}
"""


def _finite(x) -> float | None:
    return None if x is None or x != x else float(x)


def detect_drift(sweep: Sweep) -> list[Finding]:
    cfg = sweep.config
    recent_ms = sweep.now_ms - int(cfg.get("drift", "recent_s") * 1000)
    base_ms = recent_ms - int(cfg.get("drift", "baseline_s") * 1000)
    findings = []
    for scope, sql in (("agent", AGENT_SQL), ("tool", TOOL_SQL)):
        rows = sweep.store.rows(
            sql,
            {
                "recent_ms": recent_ms,
                "base_ms": base_ms,
                "min_recent": int(cfg.get("drift", "min_recent")),
                "min_base": int(cfg.get("drift", "min_baseline")),
            },
        )
        for r in rows:
            name = r["name"]
            who = {"agent": name} if scope == "agent" else {"tool": name}

            def get(param: str, name: str = name, scope: str = scope) -> float:
                return cfg.get("drift", param, **({"agent": name} if scope == "agent" else {"tool": name}))

            checks = []
            err_r, err_b = _finite(r["err_recent"]), _finite(r["err_base"])
            if (
                err_r is not None
                and err_b is not None
                and err_r - err_b >= get("error_rate_delta")
                and err_r >= 2 * err_b
            ):
                checks.append(("error_rate", err_b, err_r, {"error_rate_delta": get("error_rate_delta")}))
            conf_r, conf_b = _finite(r.get("conf_recent")), _finite(r.get("conf_base"))
            if conf_r is not None and conf_b is not None and conf_b - conf_r >= get("confidence_drop"):
                checks.append(("confidence", conf_b, conf_r, {"confidence_drop": get("confidence_drop")}))
            tok_r, tok_b = _finite(r.get("tok_recent")), _finite(r.get("tok_base"))
            if tok_r is not None and tok_b and tok_r >= get("tokens_factor") * tok_b:
                checks.append(("input_tokens", tok_b, tok_r, {"tokens_factor": get("tokens_factor")}))
            p95_r, p95_b = _finite(r["p95_recent"]), _finite(r["p95_base"])
            if p95_r is not None and p95_b and p95_r >= get("latency_factor") * p95_b:
                checks.append(("latency_p95_ms", p95_b, p95_r, {"latency_factor": get("latency_factor")}))
            for metric, baseline, recent, threshold in checks:
                findings.append(
                    Finding(
                        kind="drift",
                        key=f"{scope}/{name}/{metric}",
                        severity="warning" if metric in ("error_rate", "confidence") else "info",
                        summary=f"{scope} {name}: {metric} moved from {baseline:.3g} to {recent:.3g} "
                        f"in the last {cfg.get('drift', 'recent_s'):g} s",
                        evidence={
                            **who,
                            "metric": metric,
                            "baseline": round(baseline, 4),
                            "recent": round(recent, 4),
                            "samples": {"recent": r["n_recent"], "baseline": r["n_base"]},
                            "windows_s": {
                                "recent": cfg.get("drift", "recent_s"),
                                "baseline": cfg.get("drift", "baseline_s"),
                            },
                            "threshold": threshold,
                        },
                        agent_ids=[name] if scope == "agent" else [],
                    )
                )
    return findings
