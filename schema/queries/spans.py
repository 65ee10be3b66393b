"""Span queries of the trace view: the waterfall's outline of a trace or run (no attributes), one span
in full.

The outline holds only what a waterfall row shows, so a 10,000-span trace is one light query; a span's
attributes, events and links are read when its panel is opened (`get_span`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from swarmscope.schema.params import fill, in_list, list_param
from swarmscope.schema.resolved_spans import overlay, resolution_of, with_resolved_agents
from swarmscope.schema.store import Store
from swarmscope.schema.times import iso, now_ms

from .runs import is_lost
from .traces import OPEN_SPANS, span_fields

_EPOCH = datetime(1970, 1, 1)
_OUTLINE_COLUMNS = """TraceId, SpanId, ParentSpanId, SpanName, ServiceName, Operation, AgentId, AgentName,
    ToolName, WaitFor, RunId, TaskStatus, InputTokens, OutputTokens"""

# Framework spans' agents, runs and tokens come from their resolution (schema/resolve.py).
OUTLINE_FINISHED = with_resolved_agents(fill("""
SELECT {columns}, toUnixTimestamp64Nano(Timestamp) AS start_ns, Duration, StatusCode, StatusMessage
FROM spans FINAL
WHERE TraceId IN {ids} AND Timestamp BETWEEN {s:DateTime64(9)} AND {e:DateTime64(9)}
""", columns=_OUTLINE_COLUMNS, ids=in_list("ids")))
OUTLINE_OPEN = with_resolved_agents(fill("""
SELECT {columns}, toUnixTimestamp64Nano(StartTime) AS start_ns, LastSeen,
    toUnixTimestamp64Nano(LastSeen) AS last_ns, HeartbeatIntervalMs
FROM ({open})
""", columns=_OUTLINE_COLUMNS, open=OPEN_SPANS))
TRACES_BOUNDS = fill("SELECT min(Start) AS s, max(End) AS e FROM traces WHERE TraceId IN {ids} "
                     "HAVING count() > 0", ids=in_list("ids"))
FINISHED_SPAN = """SELECT * FROM spans FINAL WHERE TraceId = {id:String} AND SpanId = {span:String}
  AND Timestamp BETWEEN {s:DateTime64(9)} AND {e:DateTime64(9)} LIMIT 1"""
OPEN_SPAN = "SELECT * FROM pending_spans FINAL WHERE TraceId = {id:String} AND SpanId = {span:String}"


def trace_bounds(store: Store, trace_ids: list[str]) -> tuple[datetime, datetime] | None:
    rows = store.rows(TRACES_BOUNDS, {"ids": list_param(trace_ids)})
    return (rows[0]["s"], rows[0]["e"]) if rows else None


def _light(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "trace_id": r["TraceId"], "span_id": r["SpanId"], "parent_span_id": r["ParentSpanId"],
        "name": r["SpanName"], "service_name": r["ServiceName"], "operation": r["Operation"],
        "agent_id": r["AgentId"], "agent_name": r["AgentName"], "tool_name": r["ToolName"],
        "wait_for": r["WaitFor"], "run_id": r["RunId"], "task_status": r["TaskStatus"],
        "input_tokens": r["InputTokens"], "output_tokens": r["OutputTokens"], "start_ns": int(r["start_ns"]),
    }


def outline(store: Store, trace_ids: list[str], now: int | None = None) -> list[dict[str, Any]] | None:
    """Every span of these traces (finished and open) without attributes, by start; None if unknown.

    Keys are those of `traces.get_trace` minus attributes/events/links, plus `start_ns`/`end_ns`
    (an open span ends at its last heartbeat) and `lost` (its heartbeat went silent)."""
    bounds = trace_bounds(store, trace_ids)
    if bounds is None:
        return None
    now = now_ms() if now is None else now
    spans = []
    for r in store.rows(OUTLINE_FINISHED, {"ids": list_param(trace_ids), "s": bounds[0], "e": bounds[1]}):
        span = _light(r)
        span.update(end_ns=span["start_ns"] + int(r["Duration"]), duration_ms=r["Duration"] / 1e6,
                    status_code=r["StatusCode"], status_message=r["StatusMessage"], open=False,
                    last_seen=None, heartbeat_interval_ms=None, lost=False)
        spans.append(span)
    for r in store.rows(OUTLINE_OPEN, {"ids": list_param(trace_ids)}):
        span = _light(r)
        span.update(end_ns=max(int(r["last_ns"]), span["start_ns"]), duration_ms=None, status_code="Unset",
                    status_message="", open=True, last_seen=iso(r["LastSeen"]),
                    heartbeat_interval_ms=r["HeartbeatIntervalMs"],
                    lost=is_lost(int(r["last_ns"]) // 1_000_000, r["HeartbeatIntervalMs"], now))
        spans.append(span)
    for span in spans:
        span["start_time"] = _iso_ns(span["start_ns"])
        span["end_time"] = None if span["open"] else _iso_ns(span["end_ns"])
    spans.sort(key=lambda s: (s["start_ns"], s["span_id"]))
    return spans


def _iso_ns(ns: int) -> str:
    return iso(_EPOCH + timedelta(microseconds=ns // 1000))


def get_span(store: Store, trace_id: str, span_id: str) -> dict[str, Any] | None:
    """One span with its attributes, events and links (finished, else its open record); None if unknown."""
    bounds = trace_bounds(store, [trace_id])
    if bounds is None:
        return None
    params = {"id": trace_id, "span": span_id, "s": bounds[0], "e": bounds[1]}
    resolution = resolution_of(store, [trace_id])
    rows = store.rows(FINISHED_SPAN, params)
    if rows:
        r = overlay(rows[0], resolution)
        span = span_fields(r)
        span.update(
            start_time=iso(r["Timestamp"]), duration_ms=r["Duration"] / 1e6, open=False,
            status_code=r["StatusCode"], status_message=r["StatusMessage"], last_seen=None,
            events=[{"time": iso(t), "name": n, "attributes": dict(a)} for t, n, a in
                    zip(r["Events.Timestamp"], r["Events.Name"], r["Events.Attributes"], strict=True)],
            links=[{"trace_id": t, "span_id": s, "attributes": dict(a)} for t, s, a in
                   zip(r["Links.TraceId"], r["Links.SpanId"], r["Links.Attributes"], strict=True)])
        return span
    rows = store.rows(OPEN_SPAN, params)
    if not rows:
        return None
    r = overlay(rows[0], resolution)
    span = span_fields(r)
    span.update(start_time=iso(r["StartTime"]), duration_ms=None, open=True, status_code="Unset",
                status_message="", last_seen=iso(r["LastSeen"]),
                heartbeat_interval_ms=r["HeartbeatIntervalMs"], events=[], links=[])
    return span
