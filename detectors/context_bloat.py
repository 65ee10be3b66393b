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

from typing import NamedTuple

from swarmscope.schema.params import fill

from .model import Finding
from .sweep import Sweep

# Spans over budget by their own token count, grouped by their resolved agent (a framework's model
# call names no agent: its agent span does).
OVER_BUDGET = "ContextBudgetTokens > 0 AND InputTokens > ContextBudgetTokens"
BUDGET_SQL = """
SELECT TraceId, agent AS AgentId, any(run) AS run_id,
    groupArray((SpanId, name, tokens, budget)) AS over
FROM (
    SELECT TraceId, SpanId, any(AgentId) AS agent, any(RunId) AS run, any(SpanName) AS name,
        max(OwnInputTokens) AS tokens, max(ContextBudgetTokens) AS budget
    FROM {resolved}
    GROUP BY TraceId, SpanId
)
GROUP BY TraceId, agent
"""

# Agent spans (start, span, agent, tokens, end, parent) in start order, of the traces that could hold a
# chain, in one GROUP BY over the raw rows: enough agent spans, the largest over min_tokens and factor x
# the smallest, and a piece of the list long and steep enough once split where tokens shrink or there
# was no hand-off (see `handed_off`). A row repeated by an unmerged part (same span id) splits nothing
# and only lengthens a piece, so this is a superset; Python drops the repeats and decides.
# Its tokens are the agent span's own (the context it was given; the resolved figure is 0 where its model
# calls report them), its agent and run resolved.
AGENT_SPANS = "Operation = 'invoke_agent' AND InputTokens > 0"
GROWTH_SQL = """
SELECT TraceId, run_id, chain
FROM (
    SELECT TraceId, any(RunId) AS run_id,
        arraySort(groupArray((toUnixTimestamp64Nano(Timestamp), SpanId, AgentId, OwnInputTokens,
                              toUnixTimestamp64Nano(Timestamp) + toInt64(Duration), ParentSpanId))) AS chain
    FROM {resolved}
    GROUP BY TraceId
    HAVING count() >= {min_chain:UInt64} AND max(OwnInputTokens) >= {min_tokens:UInt64}
       AND max(OwnInputTokens) >= {factor:Float64} * min(OwnInputTokens)
)
WHERE arrayExists(piece -> length(piece) >= {min_chain:UInt64} AND piece[-1] >= {min_tokens:UInt64}
                           AND piece[-1] >= {factor:Float64} * piece[1],
                  arraySplit((tokens, split) -> split, arrayMap(x -> x.4, chain),
                             arrayMap((cur, prev) -> NOT (cur.4 >= prev.4 AND (cur.2 = prev.2
                                                          OR cur.1 >= prev.5 OR cur.6 = prev.2)),
                                      chain, arrayPushFront(arrayPopBack(chain), chain[1]))))
"""


class OverBudget(NamedTuple):
    """A span of BUDGET_SQL's `over` list."""

    span_id: str
    name: str
    tokens: int
    budget: int


class Link(NamedTuple):
    """An agent span of GROWTH_SQL's `chain` (field order = its tuple order = start order)."""

    start_ns: int
    span_id: str
    agent_id: str
    tokens: int
    end_ns: int
    parent_span_id: str


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


def handed_off(previous: Link, current: Link) -> bool:
    """Could `current` have been given what `previous` had? Only if it started after `previous`
    ended, or `previous` started it (its child)."""
    return current.start_ns >= previous.end_ns or current.parent_span_id == previous.span_id


def detect_context_bloat(sweep: Sweep) -> list[Finding]:
    return detect_over_budget(sweep) + detect_growth(sweep)


def detect_over_budget(sweep: Sweep) -> list[Finding]:
    """One finding per agent per trace whose spans were given more input tokens than their budget."""
    resolved, params = sweep.resolved_scope(OVER_BUDGET, selective=True)
    findings = []
    for r in sweep.store.rows(fill(BUDGET_SQL, resolved=resolved), params):
        over = [OverBudget._make(x) for x in r["over"]]
        worst = max(over, key=lambda x: x.tokens / x.budget)
        who = r["AgentId"] or worst.name
        findings.append(
            Finding(
                kind="context_bloat",
                key=f"budget/{r['TraceId']}/{r['AgentId']}",
                severity="warning",
                summary=f"{who} was given {worst.tokens} input tokens against a budget of {worst.budget} "
                f"({len(over)} span(s) over budget)",
                evidence={
                    "check": "budget",
                    "spans": [
                        {"span_id": x.span_id, "name": x.name, "input_tokens": x.tokens,
                         "budget_tokens": x.budget}
                        for x in over[:50]
                    ],
                },
                trace_id=r["TraceId"],
                run_id=r["run_id"],
                span_ids=[x.span_id for x in over],
                agent_ids=[r["AgentId"]],
            )
        )
    return findings


def detect_growth(sweep: Sweep) -> list[Finding]:
    """One finding per trace whose input tokens grew along a chain of hand-offs."""
    cfg = sweep.config
    resolved, params = sweep.resolved_scope(AGENT_SPANS)
    min_chain = cfg.least("context_bloat", "min_chain")
    min_tokens = cfg.least("context_bloat", "min_tokens")
    factor = cfg.least("context_bloat", "growth_factor")
    rows = sweep.store.rows(
        fill(GROWTH_SQL, resolved=resolved),
        {**params, "min_chain": int(min_chain), "min_tokens": int(min_tokens), "factor": factor},
    )
    findings = []
    for r in rows:
        unique: dict[str, Link] = {}  # span id -> its link (a repeated row counts once)
        for link in map(Link._make, r["chain"]):
            if link.span_id not in unique or link.tokens > unique[link.span_id].tokens:
                unique[link.span_id] = link
        chain = sorted(unique.values())
        if len(chain) < min_chain:
            continue
        linked = [True] + [handed_off(a, b) for a, b in zip(chain, chain[1:], strict=False)]
        start, end = longest_growth([c.tokens for c in chain], linked)
        last_agent = chain[end].agent_id or None
        thresholds = {
            name: cfg.get("context_bloat", name, agent=last_agent)
            for name in ("growth_factor", "min_chain", "min_tokens")
        }
        length = end - start + 1
        ratio = chain[end].tokens / max(1, chain[start].tokens)
        if (
            length < thresholds["min_chain"]
            or ratio < thresholds["growth_factor"]
            or chain[end].tokens < thresholds["min_tokens"]
        ):
            continue
        links = chain[start : end + 1]
        findings.append(
            Finding(
                kind="context_bloat",
                key=f"growth/{r['TraceId']}",
                severity="warning",
                summary=f"input tokens grew {ratio:.1f}x along {length} agents "
                f"({' -> '.join(f'{c.agent_id} {c.tokens}' for c in links[:6])})",
                evidence={
                    "check": "growth",
                    "ratio": round(ratio, 2),
                    "chain": [
                        {"span_id": c.span_id, "agent_id": c.agent_id, "input_tokens": c.tokens}
                        for c in links
                    ],
                    "thresholds": thresholds,
                },
                trace_id=r["TraceId"],
                run_id=r["run_id"],
                span_ids=[c.span_id for c in links],
                agent_ids=[c.agent_id for c in links],
            )
        )
    return findings
