"""context_bloat: the context an agent is given outgrows what it can use.

- over budget: a span's input tokens exceed its declared `swarmscope.context.budget_tokens`
  (one finding per agent per trace, listing the spans);
- growth: along a chain of hand-offs between agent spans of one trace (in start order, each agent
  started after the previous one ended, or is its child), input tokens never shrink over at least
  `min_chain` agents and grow by at least `growth_factor`, ending above `min_tokens`: every hand-off
  passes everything on. Agents that ran side by side (a fan-out) handed nothing to each other: their
  token counts differ by role, not by accumulated context, so they do not form a chain.
"""

from __future__ import annotations

from swarmscope.schema.params import fill

from .model import Finding
from .sweep import Sweep

BUDGET_SQL = """
SELECT TraceId, agent AS AgentId, any(run) AS run_id,
    groupArray((SpanId, name, tokens, budget)) AS over
FROM (
    SELECT TraceId, SpanId, any(AgentId) AS agent, any(RunId) AS run, any(SpanName) AS name,
        max(InputTokens) AS tokens, max(ContextBudgetTokens) AS budget
    FROM spans
    WHERE {scope} AND ContextBudgetTokens > 0 AND InputTokens > ContextBudgetTokens
    GROUP BY TraceId, SpanId
)
GROUP BY TraceId, agent
"""

# Agent spans (start, span, agent, tokens, end, parent) in start order, of the traces that could hold a
# chain, in one GROUP BY over the raw rows: enough agent spans, the largest over min_tokens and factor x
# the smallest, and a piece of the list long and steep enough once split where tokens shrink or there
# was no hand-off (see `handed_off`). A row repeated by an unmerged part (same span id) splits nothing
# and only lengthens a piece, so this is a superset; Python drops the repeats and decides.
GROWTH_SQL = """
SELECT TraceId, run_id, chain
FROM (
    SELECT TraceId, any(RunId) AS run_id,
        arraySort(groupArray((toUnixTimestamp64Nano(Timestamp), SpanId, AgentId, InputTokens,
                              toUnixTimestamp64Nano(Timestamp) + toInt64(Duration), ParentSpanId))) AS chain
    FROM spans
    WHERE {scope} AND Operation = 'invoke_agent' AND InputTokens > 0
    GROUP BY TraceId
    HAVING count() >= {min_chain:UInt64} AND max(InputTokens) >= {min_tokens:UInt64}
       AND max(InputTokens) >= {factor:Float64} * min(InputTokens)
)
WHERE arrayExists(piece -> length(piece) >= {min_chain:UInt64} AND piece[-1] >= {min_tokens:UInt64}
                           AND piece[-1] >= {factor:Float64} * piece[1],
                  arraySplit((tokens, split) -> split, arrayMap(x -> x.4, chain),
                             arrayMap((cur, prev) -> NOT (cur.4 >= prev.4 AND (cur.2 = prev.2
                                                          OR cur.1 >= prev.5 OR cur.6 = prev.2)),
                                      chain, arrayPushFront(arrayPopBack(chain), chain[1]))))
"""


def longest_growth(tokens: list[int], linked: list[bool] | None = None) -> tuple[int, int]:
    """(start, end) indexes of the non-decreasing run with the largest growth ratio; `linked[i]` False
    breaks the run between i - 1 and i (no hand-off there)."""
    best, best_ratio = (0, 0), 0.0
    start = 0
    for i in range(1, len(tokens) + 1):
        if i == len(tokens) or tokens[i] < tokens[i - 1] or (linked is not None and not linked[i]):
            ratio = tokens[i - 1] / max(1, tokens[start])
            if i - 1 > start and ratio > best_ratio:
                best, best_ratio = (start, i - 1), ratio
            start = i
    return best


def handed_off(previous: tuple, current: tuple) -> bool:
    """Could `current` (a chain entry: start, span, agent, tokens, end, parent) have been given what
    `previous` had? Only if it started after `previous` ended, or `previous` started it (its child)."""
    return current[0] >= previous[4] or current[5] == previous[1]


def detect_context_bloat(sweep: Sweep) -> list[Finding]:
    cfg = sweep.config
    scope, params = sweep.scope()
    findings = []
    for r in sweep.store.rows(fill(BUDGET_SQL, scope=scope), params):
        over = r["over"]
        worst = max(over, key=lambda x: x[2] / x[3])
        who = r["AgentId"] or worst[1]
        findings.append(
            Finding(
                kind="context_bloat",
                key=f"budget/{r['TraceId']}/{r['AgentId']}",
                severity="warning",
                summary=f"{who} was given {worst[2]} input tokens against a budget of {worst[3]} "
                f"({len(over)} span(s) over budget)",
                evidence={
                    "check": "budget",
                    "spans": [
                        {"span_id": s, "name": n, "input_tokens": t, "budget_tokens": b}
                        for s, n, t, b in over[:50]
                    ],
                },
                trace_id=r["TraceId"],
                run_id=r["run_id"],
                span_ids=[x[0] for x in over],
                agent_ids=[r["AgentId"]],
            )
        )

    min_chain = min(
        [
            cfg.get("context_bloat", "min_chain"),
            *cfg.overrides("context_bloat", "min_chain", "agents").values(),
        ]
    )
    min_tokens = min(
        [
            cfg.get("context_bloat", "min_tokens"),
            *cfg.overrides("context_bloat", "min_tokens", "agents").values(),
        ]
    )
    factor = min(
        [
            cfg.get("context_bloat", "growth_factor"),
            *cfg.overrides("context_bloat", "growth_factor", "agents").values(),
        ]
    )
    rows = sweep.store.rows(
        fill(GROWTH_SQL, scope=scope),
        {**params, "min_chain": int(min_chain), "min_tokens": int(min_tokens), "factor": factor},
    )
    for r in rows:
        unique: dict[str, tuple] = {}  # span id -> its entry (a repeated row counts once)
        for entry in r["chain"]:
            if entry[1] not in unique or entry[3] > unique[entry[1]][3]:
                unique[entry[1]] = entry
        chain = sorted(unique.values())
        if len(chain) < min_chain:
            continue
        linked = [True] + [handed_off(a, b) for a, b in zip(chain, chain[1:], strict=False)]
        start, end = longest_growth([c[3] for c in chain], linked)
        last_agent = chain[end][2] or None
        length = end - start + 1
        ratio = chain[end][3] / max(1, chain[start][3])
        if (
            length < cfg.get("context_bloat", "min_chain", agent=last_agent)
            or ratio < cfg.get("context_bloat", "growth_factor", agent=last_agent)
            or chain[end][3] < cfg.get("context_bloat", "min_tokens", agent=last_agent)
        ):
            continue
        links = chain[start : end + 1]
        findings.append(
            Finding(
                kind="context_bloat",
                key=f"growth/{r['TraceId']}",
                severity="warning",
                summary=f"input tokens grew {ratio:.1f}x along {length} agents "
                f"({' -> '.join(f'{c[2]} {c[3]}' for c in links[:6])})",
                evidence={
                    "check": "growth",
                    "ratio": round(ratio, 2),
                    "chain": [{"span_id": c[1], "agent_id": c[2], "input_tokens": c[3]} for c in links],
                    "thresholds": {
                        "growth_factor": cfg.get("context_bloat", "growth_factor", agent=last_agent),
                        "min_chain": cfg.get("context_bloat", "min_chain", agent=last_agent),
                        "min_tokens": cfg.get("context_bloat", "min_tokens", agent=last_agent),
                    },
                },
                trace_id=r["TraceId"],
                run_id=r["run_id"],
                span_ids=[c[1] for c in links],
                agent_ids=[c[2] for c in links],
            )
        )
    return findings
