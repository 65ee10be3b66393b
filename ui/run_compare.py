"""Two runs side by side: aligned agent by agent, tool by tool and span by span, with the deltas.

Alignment is by name and order: each side's agents (and tools) in order of first appearance, and its
span names in start order, are matched as a longest common subsequence (difflib's SequenceMatcher,
without its junk heuristic), so a run that added, dropped or reordered one step still lines up
everywhere else; what is left unmatched is "only in A" / "only in B".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

Spans = list[dict[str, Any]]
STATS = ("duration_ms", "tokens", "errors", "tool_calls", "spans")


def _tokens(span: dict[str, Any]) -> int:
    return (span["input_tokens"] or 0) + (span["output_tokens"] or 0)


def _end(span: dict[str, Any]) -> int:
    return span["end_ns"]


def totals(spans: Spans) -> dict[str, float]:
    if not spans:
        return dict.fromkeys(STATS, 0)
    return {
        "duration_ms": (max(_end(s) for s in spans) - min(s["start_ns"] for s in spans)) / 1e6,
        # Agent spans carry their own tokens or their LLM calls do: count the larger, never both.
        "tokens": max(sum(_tokens(s) for s in spans if s["operation"] == "invoke_agent"),
                      sum(_tokens(s) for s in spans if s["operation"] != "invoke_agent")),
        "errors": sum(1 for s in spans if s["status_code"] == "Error"),
        "tool_calls": sum(1 for s in spans if s["tool_name"]),
        "spans": len(spans),
    }


def _agent_key(span: dict[str, Any]) -> str:
    return span["agent_id"] or span["agent_name"] or ""


def by_key(spans: Spans, key) -> dict[str, Spans]:
    """Spans grouped by `key(span)` (empty keys dropped), groups in order of first appearance."""
    groups: dict[str, Spans] = {}
    for s in spans:
        k = key(s)
        if k:
            groups.setdefault(k, []).append(s)
    return groups


def agent_stats(spans: Spans) -> dict[str, float]:
    invocations = [s for s in spans if s["operation"] == "invoke_agent"]
    timed = invocations or spans
    out = totals(spans)
    out["duration_ms"] = sum((_end(s) - s["start_ns"]) / 1e6 for s in timed)
    out["invocations"] = len(invocations)
    return out


def tool_stats(spans: Spans) -> dict[str, float]:
    return {"calls": len(spans), "errors": sum(1 for s in spans if s["status_code"] == "Error"),
            "duration_ms": sum((_end(s) - s["start_ns"]) / 1e6 for s in spans)}


@dataclass
class Pair:
    name: str
    a: dict[str, float] | None
    b: dict[str, float] | None
    delta: dict[str, float] = field(default_factory=dict)

    @property
    def side(self) -> str:
        return "both" if self.a and self.b else ("a" if self.a else "b")

    @property
    def changes(self) -> set[str]:
        """The stats that moved enough to point at (see `moved`); highlighted cell by cell."""
        if self.side != "both":
            return set()
        return {k for k, d in self.delta.items() if moved(k, self.a[k], d)}

    @property
    def changed(self) -> bool:
        """One side only, or a stat that moved: the row is highlighted."""
        return self.side != "both" or bool(self.changes)


RELATIVE = ("duration_ms", "tokens")  # noisy from run to run: only a change of 20% or more counts
MIN_MS = 5.0  # and for durations at least this much, so a 2 ms step taking 3 ms is not news


def moved(stat: str, before: float, delta: float) -> bool:
    """A count (errors, calls, spans) moved when it differs at all; a duration or token total when the
    change is at least 20% of A (5 x delta >= A: exact for the integers and round ms it is fed)."""
    if stat not in RELATIVE:
        return delta != 0
    if stat == "duration_ms" and abs(delta) < MIN_MS:
        return False
    return delta != 0 and abs(delta) * 5 >= before


def align(names_a: list[str], names_b: list[str]) -> list[tuple[str | None, str | None]]:
    """The two sequences matched as an LCS: (a, b) pairs, None where one side has nothing."""
    out: list[tuple[str | None, str | None]] = []
    ops = SequenceMatcher(None, names_a, names_b, autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in ops:
        if tag == "equal":
            out += list(zip(names_a[i1:i2], names_b[j1:j2], strict=True))
        else:
            out += [(n, None) for n in names_a[i1:i2]] + [(None, n) for n in names_b[j1:j2]]
    return out


def _pairs(groups_a: dict[str, Spans], groups_b: dict[str, Spans], stats) -> list[Pair]:
    pairs = []
    for name_a, name_b in align(list(groups_a), list(groups_b)):
        a = stats(groups_a[name_a]) if name_a else None
        b = stats(groups_b[name_b]) if name_b else None
        if name_a and not name_b and name_a in groups_b:  # same name, moved: still a match
            b = stats(groups_b[name_a])
        if name_b and not name_a and name_b in groups_a:
            continue  # reported with its moved twin above
        delta = {k: b[k] - a[k] for k in a} if a and b else {}
        pairs.append(Pair(name_a or name_b or "", a, b, delta))
    return pairs


@dataclass
class Comparison:
    a: dict[str, float]
    b: dict[str, float]
    delta: dict[str, float]
    changes: set[str]  # run totals that moved (see `moved`)
    agents: list[Pair]
    tools: list[Pair]
    spans_matched: int
    only_a: list[tuple[str, int]]  # span name, how many times only A has it
    only_b: list[tuple[str, int]]


def compare(spans_a: Spans, spans_b: Spans) -> Comparison:
    ta, tb = totals(spans_a), totals(spans_b)
    agents = _pairs(by_key(spans_a, _agent_key), by_key(spans_b, _agent_key), agent_stats)
    tools = _pairs(by_key(spans_a, lambda s: s["tool_name"]), by_key(spans_b, lambda s: s["tool_name"]),
                   tool_stats)
    names = align([s["name"] for s in spans_a], [s["name"] for s in spans_b])
    only_a: dict[str, int] = {}
    only_b: dict[str, int] = {}
    for x, y in names:
        if x and not y:
            only_a[x] = only_a.get(x, 0) + 1
        elif y and not x:
            only_b[y] = only_b.get(y, 0) + 1
    delta = {k: tb[k] - ta[k] for k in ta}
    return Comparison(ta, tb, delta, {k for k, d in delta.items() if moved(k, ta[k], d)}, agents, tools,
                      sum(1 for x, y in names if x and y), sorted(only_a.items()), sorted(only_b.items()))
