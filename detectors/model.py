"""What a detector reports: a Finding, identified by its kind and the identity of its condition."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from swarmscope.schema.times import iso_ms

KINDS = (
    "stalled_wait",
    "deadlock",
    "lost_heartbeat",
    "phantom_completion",
    "partial_failure",
    "retry_storm",
    "duplicate_execution",
    "context_bloat",
    "loop",
    "drift",
)
SEVERITIES = ("info", "warning", "error", "critical")

# Kinds whose condition can clear while we watch (a wait ends, a heartbeat returns, a storm stops,
# a metric comes back): an open finding of these kinds that a sweep no longer sees is resolved.
# The others are facts about finished spans; they stay open until someone deals with them.
LIVE_KINDS = frozenset({"stalled_wait", "deadlock", "lost_heartbeat", "retry_storm", "drift"})

MAX_IDS = 50  # span/agent ids listed on one finding; evidence says how many there were in all


def finding_id(kind: str, key: str) -> str:
    return hashlib.sha256(f"{kind}\x00{key}".encode()).hexdigest()[:32]


@dataclass
class Finding:
    kind: str
    key: str  # the identity of the condition, e.g. the wait span, the cycle's sorted wait span ids
    severity: str
    summary: str
    evidence: dict[str, Any]
    trace_id: str = ""
    run_id: str = ""
    span_ids: list[str] = field(default_factory=list)
    agent_ids: list[str] = field(default_factory=list)
    # Set when stored / read back.
    first_seen_ms: int | None = None
    last_seen_ms: int | None = None
    status: str = "open"
    resolved_at_ms: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown finding kind {self.kind!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")
        self.span_ids = _unique(self.span_ids)[:MAX_IDS]
        self.agent_ids = _unique(a for a in self.agent_ids if a)[:MAX_IDS]

    @property
    def id(self) -> str:
        return finding_id(self.kind, self.key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "severity": self.severity,
            "status": self.status,
            "trace_id": self.trace_id or None,
            "run_id": self.run_id or None,
            "span_ids": self.span_ids,
            "agent_ids": self.agent_ids,
            "summary": self.summary,
            "evidence": self.evidence,
            "first_seen": iso_ms(self.first_seen_ms),
            "last_seen": iso_ms(self.last_seen_ms),
            "resolved_at": iso_ms(self.resolved_at_ms),
        }


def _unique(values) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        seen.setdefault(value, None)
    return list(seen)


def common(values) -> str:
    """The one value all of `values` share, else ''."""
    distinct = {v for v in values if v}
    return distinct.pop() if len(distinct) == 1 else ""
