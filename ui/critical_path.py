"""The critical path of a trace or run: the spans its duration actually waited on.

Jaeger's walk: start at the end of the root; the child that ended last before the current point is what
the parent was waiting on, so step into it (from its end); when a span has no child left that ends before
the point, the span itself is what ran, and the walk returns to its parent from the span's start. Before
walking, children are clipped to their parent's interval (a child outliving its parent, clock skew between
processes, counts only up to the parent's end; one that starts after the parent ended is off the path).

Open spans run to their last heartbeat. A run over several traces is walked as if one span spanning the
whole run were the parent of every root, so the path crosses from trace to trace.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any, NamedTuple

_RUN = "\0run"  # the virtual parent of the roots


class Section(NamedTuple):
    """A stretch of time [start_ns, end_ns] during which the run waited on `span_id` itself."""

    span_id: str
    start_ns: int
    end_ns: int


def critical_path(spans: Iterable[dict[str, Any]]) -> list[str]:
    """Span ids on the critical path, each once, in time order (a parent before a child starting with it)."""
    sections, depth = _walk(list(spans))
    first: dict[str, int] = {}
    for s in sections:
        first[s.span_id] = min(first.get(s.span_id, s.start_ns), s.start_ns)
    return sorted(first, key=lambda sid: (first[sid], depth[sid], sid))


def critical_sections(spans: Iterable[dict[str, Any]]) -> list[Section]:
    """The path as time sections, latest first (a span appears once per stretch it was waited on)."""
    return [s for s in _walk(list(spans))[0] if s.end_ns > s.start_ns]


def _walk(spans: list[dict[str, Any]]) -> tuple[list[Section], dict[str, int]]:
    times = {s["span_id"]: _interval(s) for s in spans}
    if not times:
        return [], {}
    parent = {s["span_id"]: s.get("parent_span_id") or "" for s in spans}
    children: dict[str, list[str]] = {}
    for sid, pid in parent.items():
        key = pid if pid in times and pid != sid else _RUN
        parent[sid] = key
        children.setdefault(key, []).append(sid)
    times[_RUN] = (min(t[0] for t in times.values()), max(t[1] for t in times.values()))
    depth = _clip(times, children)
    # Children by end, latest first (ties: the later start, then the id, so the walk is deterministic).
    for kids in children.values():
        kids.sort(key=lambda c: (-times[c][1], -times[c][0], c))
    sections: list[Section] = []
    next_child = dict.fromkeys(children, 0)  # children before this index end after the walk's point
    current, until = _RUN, times[_RUN][1]
    while True:
        kids = children.get(current, [])
        i = next_child.get(current, 0)
        while i < len(kids) and (kids[i] not in depth or times[kids[i]][1] > until):
            i += 1
        next_child[current] = i
        if i < len(kids):  # the child that ended last before `until`: the parent waited on it
            child = kids[i]
            next_child[current] = i + 1
            sections.append(Section(current, times[child][1], until))
            current, until = child, times[child][1]
            continue
        sections.append(Section(current, min(times[current][0], until), until))
        if current == _RUN:
            break
        current, until = parent[current], times[current][0]
    return [s for s in sections if s.span_id != _RUN], {k: v for k, v in depth.items() if k != _RUN}


def _clip(times: dict[str, tuple[int, int]], children: dict[str, list[str]]) -> dict[str, int]:
    """Clip every span into its parent's interval, top down; returns the depth of each span kept.

    Spans that start after their parent ended, and spans caught in a parent cycle, get no depth: off the path.
    """
    depth = {_RUN: -1}
    stack = [_RUN]
    while stack:
        pid = stack.pop()
        p_start, p_end = times[pid]
        d = depth[pid] + 1
        for c in children.get(pid, ()):
            start, end = times[c]
            if start > p_end or c in depth:
                continue
            if start < p_start:
                start = p_start
            if end > p_end:
                end = p_end
            times[c] = (start, end if end > start else start)
            depth[c] = d
            stack.append(c)
    return depth


def _interval(span: dict[str, Any]) -> tuple[int, int]:
    """(start, end) in ns: the outline's start_ns/end_ns, else get_trace's ISO times (open: last_seen)."""
    if "start_ns" in span and "end_ns" in span:
        start, end = int(span["start_ns"]), int(span["end_ns"])
    else:
        start = _ns(span["start_time"])
        end_text = span.get("end_time") or span.get("last_seen") or span["start_time"]
        end = _ns(end_text)
    return start, max(start, end)


def _ns(iso_text: str) -> int:
    moment = datetime.fromisoformat(iso_text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000
