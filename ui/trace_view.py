"""Trace view queries and layout: the waterfall's span outline (no attributes), one span in full, the tree.

The outline holds only what a waterfall row shows, so a 10,000-span trace is one light query; a span's
attributes, events and links are read when its panel is opened (`get_span`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from swarmscope.schema.params import in_list, list_param
from swarmscope.schema.store import Store

from .params import iso
from .runs import is_lost
from .traces import OPEN_SPANS, _common

_OUTLINE_COLUMNS = """TraceId, SpanId, ParentSpanId, SpanName, ServiceName, Operation, AgentId, AgentName,
    ToolName, WaitFor, RunId, TaskStatus, InputTokens, OutputTokens"""

OUTLINE_FINISHED = f"""
SELECT {_OUTLINE_COLUMNS}, toUnixTimestamp64Nano(Timestamp) AS start_ns, Duration, StatusCode, StatusMessage
FROM spans FINAL
WHERE TraceId IN {in_list('ids')} AND Timestamp BETWEEN {{s:DateTime64(9)}} AND {{e:DateTime64(9)}}
"""
OUTLINE_OPEN = f"""
SELECT {_OUTLINE_COLUMNS}, toUnixTimestamp64Nano(StartTime) AS start_ns, LastSeen,
    toUnixTimestamp64Nano(LastSeen) AS last_ns, HeartbeatIntervalMs
FROM ({OPEN_SPANS})
"""


def trace_bounds(store: Store, trace_ids: list[str]) -> tuple[datetime, datetime] | None:
    rows = store.rows(f"SELECT min(Start) AS s, max(End) AS e FROM traces WHERE TraceId IN {in_list('ids')} "
                      "HAVING count() > 0", {"ids": list_param(trace_ids)})
    return (rows[0]["s"], rows[0]["e"]) if rows else None


def _light(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "trace_id": r["TraceId"], "span_id": r["SpanId"], "parent_span_id": r["ParentSpanId"],
        "name": r["SpanName"], "service_name": r["ServiceName"], "operation": r["Operation"],
        "agent_id": r["AgentId"], "agent_name": r["AgentName"], "tool_name": r["ToolName"],
        "wait_for": r["WaitFor"], "run_id": r["RunId"], "task_status": r["TaskStatus"],
        "input_tokens": r["InputTokens"], "output_tokens": r["OutputTokens"], "start_ns": int(r["start_ns"]),
    }


def outline(store: Store, trace_ids: list[str], now: datetime | None = None) -> list[dict[str, Any]] | None:
    """Every span of these traces (finished and open) without attributes, by start; None if unknown.

    Keys are those of `traces.get_trace` minus attributes/events/links, plus `start_ns`/`end_ns`
    (an open span ends at its last heartbeat) and `lost` (its heartbeat went silent)."""
    bounds = trace_bounds(store, trace_ids)
    if bounds is None:
        return None
    now = now or datetime.utcnow()
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
                    lost=is_lost(r["LastSeen"], r["HeartbeatIntervalMs"], now))
        spans.append(span)
    for span in spans:
        span["start_time"] = _iso_ns(span["start_ns"])
        span["end_time"] = None if span["open"] else _iso_ns(span["end_ns"])
    spans.sort(key=lambda s: (s["start_ns"], s["span_id"]))
    return spans


def _iso_ns(ns: int) -> str:
    return iso(datetime.utcfromtimestamp(ns / 1e9))


def get_span(store: Store, trace_id: str, span_id: str) -> dict[str, Any] | None:
    """One span with its attributes, events and links (finished, else its open record); None if unknown."""
    bounds = trace_bounds(store, [trace_id])
    if bounds is None:
        return None
    params = {"id": trace_id, "span": span_id, "s": bounds[0], "e": bounds[1]}
    rows = store.rows("""
        SELECT * FROM spans FINAL WHERE TraceId = {id:String} AND SpanId = {span:String}
          AND Timestamp BETWEEN {s:DateTime64(9)} AND {e:DateTime64(9)} LIMIT 1""", params)
    if rows:
        r = rows[0]
        span = _common(r)
        span.update(
            start_time=iso(r["Timestamp"]), duration_ms=r["Duration"] / 1e6, open=False,
            status_code=r["StatusCode"], status_message=r["StatusMessage"], last_seen=None,
            events=[{"time": iso(t), "name": n, "attributes": dict(a)} for t, n, a in
                    zip(r["Events.Timestamp"], r["Events.Name"], r["Events.Attributes"], strict=True)],
            links=[{"trace_id": t, "span_id": s, "attributes": dict(a)} for t, s, a in
                   zip(r["Links.TraceId"], r["Links.SpanId"], r["Links.Attributes"], strict=True)])
        return span
    rows = store.rows("SELECT * FROM pending_spans FINAL "
                      "WHERE TraceId = {id:String} AND SpanId = {span:String}", params)
    if not rows:
        return None
    r = rows[0]
    span = _common(r)
    span.update(start_time=iso(r["StartTime"]), duration_ms=None, open=True, status_code="Unset",
                status_message="", last_seen=iso(r["LastSeen"]),
                heartbeat_interval_ms=r["HeartbeatIntervalMs"], events=[], links=[])
    return span


# --- the tree -------------------------------------------------------------------------------------

COLLAPSE_OVER = 60  # a subtree with more spans than this starts collapsed and loads on expand
CHILD_PAGE = 200  # children rendered per expand; a "more" row loads the next ones
ROW_BUDGET = 1500  # rows rendered by the first page; past it, subtrees start collapsed
ROOT_LIMIT = 1000  # top-level spans rendered at most (orphans whose parents never arrived are roots)


@dataclass
class Tree:
    spans: dict[str, dict[str, Any]]
    children: dict[str, list[str]]
    roots: list[str]
    sizes: dict[str, int] = field(default_factory=dict)  # spans in each subtree, the span included
    t0: int = 0
    t1: int = 1


def build_tree(spans: list[dict[str, Any]]) -> Tree:
    """Parent links inside the given spans; a span whose parent is missing is a root (orphans shown)."""
    by_id = {s["span_id"]: s for s in spans}
    children: dict[str, list[str]] = {}
    roots = []
    for s in spans:
        parent = s["parent_span_id"]
        if parent and parent in by_id and parent != s["span_id"]:
            children.setdefault(parent, []).append(s["span_id"])
        else:
            roots.append(s["span_id"])
    tree = Tree(by_id, children, roots)
    _sizes(tree)
    if spans:
        tree.t0 = min(s["start_ns"] for s in spans)
        tree.t1 = max(max(s["end_ns"] for s in spans), tree.t0 + 1)
    return tree


def _sizes(tree: Tree) -> None:
    """Subtree sizes, iteratively (a 10,000-deep chain must not hit the recursion limit). Spans that
    no root reaches (a parent cycle in hostile data) become roots, so nothing sent is hidden."""
    seen: set[str] = set()
    order: list[str] = []

    def walk(start: list[str]) -> None:
        stack = list(start)
        while stack:
            sid = stack.pop()
            if sid in seen:
                continue
            seen.add(sid)
            order.append(sid)
            stack.extend(tree.children.get(sid, ()))

    walk(tree.roots)
    for sid in tree.spans:
        if sid not in seen:
            tree.roots.append(sid)
            walk([sid])
    for sid in reversed(order):
        tree.sizes[sid] = 1 + sum(tree.sizes.get(c, 0) for c in tree.children.get(sid, ()))


@dataclass
class Row:
    span: dict[str, Any]
    depth: int
    x: float  # bar start, 0..1000 of the time range
    w: float  # bar width
    child_count: int
    expanded: bool  # children rendered below (False: collapsed, they load on expand)
    more: int = 0  # a "more children" row: how many are left (span = the parent, x = next offset)


def rows(tree: Tree, start_ids: list[str], depth: int, budget: int = ROW_BUDGET) -> list[Row]:
    """Rows in tree order from `start_ids` (siblings at `depth`); big or over-budget subtrees collapsed."""
    out: list[Row] = []
    span_ns = tree.t1 - tree.t0
    stack: list[tuple[str, int] | tuple[str, int, int]] = []
    _push_children(stack, start_ids, depth, 0)
    seen: set[str] = set()
    while stack:
        item = stack.pop()
        if len(item) == 3:  # a "more" marker: (parent id, depth, next offset)
            parent, d, offset = item
            left = len(tree.children.get(parent, ())) - offset
            out.append(Row(tree.spans[parent], d, offset, 0, left, False, more=left))
            continue
        sid, d = item
        if sid in seen:
            continue
        seen.add(sid)
        s = tree.spans[sid]
        kids = tree.children.get(sid, [])
        expand = bool(kids) and (d == 0 or tree.sizes.get(sid, 1) <= COLLAPSE_OVER) and len(out) < budget
        x = (s["start_ns"] - tree.t0) * 1000 / span_ns
        w = max((s["end_ns"] - s["start_ns"]) * 1000 / span_ns, 0.5)
        out.append(Row(s, d, round(x, 2), round(min(w, 1000 - x), 2), len(kids), expand))
        if expand:
            _push_children(stack, kids, d + 1, 0, parent=sid)
    return out


def _push_children(stack: list, ids: list[str], depth: int, offset: int, parent: str | None = None) -> None:
    page = ids[offset:offset + CHILD_PAGE]
    if parent is not None and offset + CHILD_PAGE < len(ids):
        stack.append((parent, depth, offset + CHILD_PAGE))
    stack.extend((sid, depth) for sid in reversed(page))


def child_rows(tree: Tree, parent_id: str, depth: int, offset: int = 0) -> list[Row]:
    """The rows an expand (or a "more" click) of `parent_id` loads."""
    stack: list = []
    _push_children(stack, tree.children.get(parent_id, []), depth, offset, parent=parent_id)
    out: list[Row] = []
    for item in reversed(stack):
        if len(item) == 3:
            parent, d, nxt = item
            left = len(tree.children.get(parent, ())) - nxt
            out.append(Row(tree.spans[parent], d, nxt, 0, left, False, more=left))
        else:
            out.extend(rows(tree, [item[0]], item[1], budget=ROW_BUDGET // 4))
    return out
