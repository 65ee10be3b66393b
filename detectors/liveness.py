"""stalled_wait and lost_heartbeat: judgements on open spans (pending records without a finished span).

- lost_heartbeat: an open span that declared a heartbeat interval and has been silent for more than
  `missed_intervals` of them. The process died holding work. Spans of one agent in one trace that
  died together are one finding.
- stalled_wait: an open wait (or tool call) older than its threshold while its process is alive:
  the declared `swarmscope.wait.timeout_ms`, else a configured `timeout_s`, else for tools
  `tool_p99_factor` x the tool's own p99 (with enough history) but never under the default,
  else `default_timeout_s`.
"""

from __future__ import annotations

from collections import defaultdict

from .model import Finding, common
from .sweep import OpenSpan, Sweep


def stall_threshold(sweep: Sweep, span: OpenSpan) -> tuple[float, str]:
    """(threshold in ms, where it came from) for an open wait or tool span."""
    cfg = sweep.config
    tool, agent = span.tool or None, span.agent_id or None
    if span.wait_timeout_ms is not None and span.is_wait:
        return float(span.wait_timeout_ms), "declared swarmscope.wait.timeout_ms"
    fixed = cfg.get("stalled_wait", "timeout_s", tool=tool, agent=agent)
    if fixed:
        return fixed * 1000, "config timeout_s"
    default_ms = cfg.get("stalled_wait", "default_timeout_s", tool=tool, agent=agent) * 1000
    if span.is_tool and span.tool:
        calls, _p50, _p95, p99 = sweep.tool_latency().get(span.tool, (0, 0.0, 0.0, 0.0))
        if calls >= cfg.get("stalled_wait", "tool_min_calls", tool=tool, agent=agent):
            factor = cfg.get("stalled_wait", "tool_p99_factor", tool=tool, agent=agent)
            learned = factor * p99
            if learned > default_ms:
                return learned, f"{factor:g} x p99 of {span.tool} ({p99:.0f} ms over {calls} calls)"
    return default_ms, "default"


def detect_stalled_waits(sweep: Sweep) -> list[Finding]:
    findings = []
    now = sweep.now_ms
    for span in sweep.open_spans():
        if span.dead or not (span.is_wait or span.is_tool):
            continue
        threshold, source = stall_threshold(sweep, span)
        age = span.age_ms(now)
        if age <= threshold:
            continue
        target = (
            span.wait_for
            or (f"task {span.wait_task_id}" if span.wait_task_id else "")
            or (f"resource {span.wait_resource}" if span.wait_resource else "")
            or (f"tool {span.tool}" if span.tool else span.name)
        )
        who = span.agent_id or span.service or "?"
        findings.append(
            Finding(
                kind="stalled_wait",
                key=f"{span.trace_id}/{span.span_id}",
                severity="error" if age > 3 * threshold else "warning",
                summary=f"{who} has been waiting on {target} for {age / 1000:.0f} s "
                f"(threshold {threshold / 1000:.0f} s) and is still alive",
                evidence={
                    "span": span.brief(now),
                    "waiting_on": {
                        "agent": span.wait_for or None,
                        "task_id": span.wait_task_id or None,
                        "resource": span.wait_resource or None,
                        "tool": span.tool or None,
                    },
                    "open_for_ms": age,
                    "threshold_ms": round(threshold),
                    "threshold_source": source,
                    "declared_timeout_ms": span.wait_timeout_ms,
                },
                trace_id=span.trace_id,
                run_id=span.run_id,
                span_ids=[span.span_id],
                agent_ids=[span.agent_id, span.wait_for],
            )
        )
    return findings


def detect_lost_heartbeats(sweep: Sweep) -> list[Finding]:
    groups: dict[tuple[str, str], list[OpenSpan]] = defaultdict(list)
    for span in sweep.open_spans():
        if span.dead:
            groups[(span.trace_id, span.agent_id or f"service:{span.service}")].append(span)
    findings = []
    now = sweep.now_ms
    for (trace_id, who), spans in groups.items():
        spans.sort(key=lambda s: s.start_ms)
        last = max(s.last_seen_ms for s in spans)
        silent = now - last
        holding = [s.name for s in spans]
        findings.append(
            Finding(
                kind="lost_heartbeat",
                key=f"{trace_id}/{who}",
                severity="error",
                summary=f"{who} stopped heartbeating {silent / 1000:.0f} s ago "
                f"while holding {len(spans)} open "
                f"span(s) ({', '.join(holding[:3])}{'...' if len(holding) > 3 else ''}): "
                "the process likely died holding work",
                evidence={
                    "spans": [dict(s.brief(now), dead_after_ms=s.dead_after_ms) for s in spans[:50]],
                    "open_spans": len(spans),
                    "last_heartbeat_ms_ago": silent,
                    "missed_intervals": sweep.config.get("lost_heartbeat", "missed_intervals"),
                    "held_resources": sorted(
                        {r for s in spans for r in s.held} | {s.leader_group for s in spans if s.leader_group}
                    ),
                },
                trace_id=trace_id,
                run_id=common(s.run_id for s in spans),
                span_ids=[s.span_id for s in spans],
                agent_ids=[s.agent_id for s in spans],
            )
        )
    return findings
