"""Run queries: the runs list (one row per run, else per trace) from the trace index, and a run's traces.

A run is every trace that carries one `swarmscope.run.id`; a trace without one is a run of its own.
Lists read the trace index (`traces`), bounded in time; raw spans are read only for the few traces
of one page (tokens) or, for the tool and attribute filters, inside the page's time window.
The runs page and `/api/runs` both call `list_runs`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from swarmscope.schema.params import fill, in_list, list_param
from swarmscope.schema.store import Store
from swarmscope.schema.times import iso, now_ms

from .traces import OPEN_SPANS

STATUSES = ("running", "stalled", "deadlocked", "lost", "phantom", "partial", "failed", "warn", "ok")
# Open finding kind -> run status, most urgent first; then open spans (running), a failed root, ok.
_FINDING_STATUS = (("deadlock", "deadlocked"), ("lost_heartbeat", "lost"), ("stalled_wait", "stalled"))
_CLOSED_FINDING_STATUS = (("phantom_completion", "phantom"), ("partial_failure", "partial"))
DEFAULT_WINDOW_MS = 24 * 3_600_000
CLOCK_SKEW_MS = 5 * 60_000  # spans stamped a little in the future (other hosts' clocks) still show
MAX_SCAN_ROUNDS = 5  # status filters are applied after the query: this many pages are read at most

_ATTR = re.compile(r"^\s*([^=~\s][^=~]*?)\s*([=~])\s*(.*?)\s*$")


class BadFilter(ValueError):
    """A filter value that cannot be understood; the message says the accepted forms."""


@dataclass(frozen=True)
class AttrFilter:
    key: str
    op: str  # "=" exact, "~" substring
    value: str


def parse_attr(text: str) -> AttrFilter:
    match = _ATTR.match(text or "")
    if not match or not match.group(1):
        raise BadFilter(f"invalid attribute search {text!r}: use key=value (exact) or key~substring")
    return AttrFilter(match.group(1), match.group(2), match.group(3))


def parse_cursor(text: str) -> tuple[int, str]:
    """`before` cursor: `<last activity, unix ns>:<run key>` of the last row of the previous page."""
    ns, sep, key = (text or "").partition(":")
    if not sep or not ns.isdigit() or not key:
        raise BadFilter(f"invalid page cursor {text!r}: use the 'older' link of the runs page")
    return int(ns), key


@dataclass
class RunFilters:
    service: str | None = None
    agent: str | None = None
    tool: str | None = None
    run_id: str | None = None
    status: str | None = None
    finding: str | None = None
    attr: AttrFilter | None = None
    since_ms: int | None = None  # epoch milliseconds
    until_ms: int | None = None

    def check(self, finding_kinds: tuple[str, ...] = ()) -> None:
        """BadFilter for a value outside its accepted forms (`finding_kinds`: the detectors' kinds)."""
        if self.status and self.status not in STATUSES:
            raise BadFilter(f"invalid status {self.status!r}: one of {', '.join(STATUSES)}")
        if self.finding and finding_kinds and self.finding not in finding_kinds:
            raise BadFilter(f"invalid finding kind {self.finding!r}: one of {', '.join(finding_kinds)}")
        if self.since_ms is not None and self.until_ms is not None and self.since_ms > self.until_ms:
            raise BadFilter("since is after until")


# The page: one row per trace of the window, then one per run key (the run id, else the trace id),
# newest activity first. The index holds several rows per trace until it merges: traces are picked by
# the window first, then all of their rows are aggregated (by the primary key), so a trace reaching
# past the window is counted whole and a filter sees the whole trace, not one of its insert blocks.
# Only what orders, pages and filters the list is aggregated here (`trace_columns` adds what a filter
# reads); RUN_DETAILS aggregates the rest for the page's traces only: merging the exact span counts and
# agent/service sets of every trace of the 24 h window before the LIMIT was most of the page's time.
RUNS = """
SELECT run_key, max(t_end) AS last_activity, toUnixTimestamp64Nano(last_activity) AS last_ns,
    groupArray(TraceId) AS trace_ids
FROM (
    SELECT TraceId, max(End) AS t_end, groupUniqArrayArray(RunIds) AS t_runs{trace_columns},
        if(notEmpty(t_runs), arraySort(t_runs)[1], TraceId) AS run_key
    FROM traces
    WHERE TraceId IN (
        SELECT TraceId FROM traces
        WHERE Start <= fromUnixTimestamp64Milli({until_ms:Int64})
          AND End >= fromUnixTimestamp64Milli({since_ms:Int64}))
      AND {trace_where}
    GROUP BY TraceId
    HAVING {trace_having}
)
GROUP BY run_key
HAVING {having}
ORDER BY last_activity DESC, run_key DESC
LIMIT {limit:UInt32}
"""
_TRACE_COLUMNS = {"service": ", groupUniqArrayArray(Services) AS t_services",
                  "agent": ", groupUniqArrayArray(Agents) AS t_agents"}
# Everything else the list shows, per run key, over the page's traces (bound as `ids`).
RUN_DETAILS = fill("""
SELECT run_key, any(has_run) AS is_run, max(t_end) AS last_activity, min(t_start) AS start_time,
    sum(t_spans) AS spans, sum(t_errors) AS errors,
    arraySort(groupUniqArrayArray(t_agents)) AS agents,
    arraySort(groupUniqArrayArray(t_services)) AS services,
    argMin(t_root, t_start) AS root_name
FROM (
    SELECT TraceId, min(Start) AS t_start, max(End) AS t_end,
        uniqExactMerge(SpanIds) AS t_spans, uniqExactMerge(ErrorSpanIds) AS t_errors,
        max(RootName) AS t_root, groupUniqArrayArray(Services) AS t_services,
        groupUniqArrayArray(Agents) AS t_agents, groupUniqArrayArray(RunIds) AS t_runs,
        notEmpty(t_runs) AS has_run, if(has_run, arraySort(t_runs)[1], TraceId) AS run_key
    FROM traces WHERE TraceId IN {ids}
    GROUP BY TraceId
)
GROUP BY run_key""", ids=in_list("ids"))


_SPANS_MATCHING = """TraceId IN (SELECT DISTINCT TraceId FROM spans
    WHERE Timestamp BETWEEN fromUnixTimestamp64Milli({since_ms:Int64})
          AND fromUnixTimestamp64Milli({until_ms:Int64})
      AND {conditions})"""
_TOOL_IS = "ToolName = {tool:String}"
_ATTR_HAS = "mapContains(SpanAttributes, {attr_key:String})"
_ATTR_OPS = {"=": "SpanAttributes[{attr_key:String}] = {attr_value:String}",
             "~": "positionCaseInsensitiveUTF8(SpanAttributes[{attr_key:String}], {attr_value:String}) > 0"}
_HAS = {"service": "has(t_services, {service:String})", "agent": "has(t_agents, {agent:String})"}
_RUN_IS = "run_key = {run_id:String}"
_HAS_OPEN_FINDING = """run_key IN (SELECT if(RunId = '', TraceId, RunId) FROM findings FINAL
    WHERE Status = 'open' AND Kind = {finding:String})"""
_BEFORE = "(last_ns, run_key) < ({cursor_ns:Int64}, {cursor_key:String})"


def _span_filter(filters: RunFilters, params: dict[str, Any]) -> str | None:
    """Traces with a span matching the tool / attribute filters, inside the window (raw spans)."""
    conds = []
    if filters.tool:
        conds.append(_TOOL_IS)
        params["tool"] = filters.tool
    if filters.attr:
        params["attr_key"], params["attr_value"] = filters.attr.key, filters.attr.value
        conds += [_ATTR_HAS, _ATTR_OPS[filters.attr.op]]
    return fill(_SPANS_MATCHING, conditions=" AND ".join(conds)) if conds else None


def list_runs(store: Store, filters: RunFilters, *, limit: int = 50, before: tuple[int, str] | None = None,
              now: int | None = None) -> dict[str, Any]:
    """Runs newest activity first, `limit` per page; `next` is the cursor of the following page.
    The window is `since_ms`..`until_ms` (default: the last 24 hours before `now`, epoch ms)."""
    filters.check()
    now = now_ms() if now is None else now
    until = filters.until_ms if filters.until_ms is not None else now + CLOCK_SKEW_MS
    since = filters.since_ms if filters.since_ms is not None else until - CLOCK_SKEW_MS - DEFAULT_WINDOW_MS
    params: dict[str, Any] = {"since_ms": since, "until_ms": until}
    trace_where, trace_having, having, trace_columns = ["1"], ["1"], ["1"], []
    for name, value in (("service", filters.service), ("agent", filters.agent)):
        if value:
            trace_columns.append(_TRACE_COLUMNS[name])
            trace_having.append(_HAS[name])
            params[name] = value
    spans_cond = _span_filter(filters, params)
    if spans_cond:
        trace_where.append(spans_cond)
    if filters.run_id:
        having.append(_RUN_IS)
        params["run_id"] = filters.run_id
    if filters.finding:
        having.append(_HAS_OPEN_FINDING)
        params["finding"] = filters.finding
    rows: list[dict[str, Any]] = []
    cursor = before
    page = limit + 1 if not filters.status else max(limit + 1, 200)
    exhausted = False
    for _ in range(MAX_SCAN_ROUNDS):
        round_having = list(having)
        if cursor:
            round_having.append(_BEFORE)
            params["cursor_ns"], params["cursor_key"] = cursor
        params["limit"] = page
        sql = fill(RUNS, trace_where=" AND ".join(trace_where), trace_having=" AND ".join(trace_having),
                   having=" AND ".join(round_having), trace_columns="".join(trace_columns))
        batch = store.rows(sql, params)
        runs = _describe(store, _with_details(store, batch), now)
        rows.extend(r for r in runs if not filters.status or r["status"] == filters.status)
        if len(batch) < page:
            exhausted = True
            break
        if len(rows) > limit:
            break
        cursor = (int(batch[-1]["last_ns"]), batch[-1]["run_key"])
    more = len(rows) > limit or not exhausted
    rows = rows[:limit]
    nxt = f"{rows[-1]['last_activity_ns']}:{rows[-1]['run_key']}" if rows and more else None
    return {"runs": rows, "next": nxt}


def _with_details(store: Store, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The page's rows with RUN_DETAILS' columns, in the page's order."""
    if not batch:
        return batch
    ids = list_param([t for r in batch for t in r["trace_ids"]])
    details = {d["run_key"]: d for d in store.rows(RUN_DETAILS, {"ids": ids})}
    # A trace the index dropped in between (TTL) leaves its run out rather than failing the page.
    return [{**details[r["run_key"]], **r} for r in batch if r["run_key"] in details]


def _describe(store: Store, batch: list[dict[str, Any]], now: int) -> list[dict[str, Any]]:
    """Add what the index does not hold: tokens, open and lost spans, open findings, the status."""
    trace_ids = [t for r in batch for t in r["trace_ids"]]
    run_keys = [r["run_key"] for r in batch]
    totals = _span_totals(store, batch)
    open_spans = _open_spans(store, trace_ids, now)
    findings = _open_findings(store, run_keys, trace_ids)
    out = []
    for r in batch:
        traces = sorted(r["trace_ids"])
        opened = [o for t in traces for o in open_spans.get(t, [])]
        kinds = sorted({k for key in [r["run_key"], *traces] for k in findings.get(key, ())})
        lost = sum(1 for o in opened if o["lost"])
        last_seen = max([r["last_activity"], *(o["last_seen"] for o in opened)])
        run = {
            "run_key": r["run_key"],
            "run_id": r["run_key"] if r["is_run"] else None,
            "trace_ids": traces,
            "url": f"/runs/{quote(r['run_key'], safe='')}" if r["is_run"] else f"/traces/{r['run_key']}",
            "root_name": r["root_name"],
            "start_time": iso(r["start_time"]),
            "last_activity": iso(last_seen),
            "last_activity_ns": int(r["last_ns"]),
            "duration_ms": (r["last_activity"] - r["start_time"]).total_seconds() * 1000,
            "span_count": int(r["spans"]) + len(opened),
            "error_count": int(r["errors"]),
            "open_span_count": len(opened),
            "lost_span_count": lost,
            "tokens": sum(totals.get(t, {}).get("tokens", 0) for t in traces),
            "failed_roots": sum(totals.get(t, {}).get("failed_roots", 0) for t in traces),
            "agents": list(r["agents"]),
            "services": list(r["services"]),
            "finding_kinds": kinds,
        }
        run["status"] = run_status(run)
        out.append(run)
    return out


def run_status(run: dict[str, Any]) -> str:
    kinds = set(run["finding_kinds"])
    for kind, status in _FINDING_STATUS:
        if kind in kinds:
            return status
    if run["lost_span_count"]:
        return "lost"
    if run["open_span_count"]:
        return "running"
    for kind, status in _CLOSED_FINDING_STATUS:
        if kind in kinds:
            return status
    # A failed call the agents went on past is their normal work: failed means a root span failed.
    if run["failed_roots"]:
        return "failed"
    # Finished, nothing failed, but a detector still has something open (a loop, a duplicate, context
    # bloat, a retry storm, drift): not "ok" next to a red findings badge.
    return "warn" if kinds else "ok"


SPAN_TOTALS = fill("""SELECT TraceId, sum(InputTokens + OutputTokens) AS tokens,
    countIf(ParentSpanId = '' AND StatusCode = 'Error') AS failed_roots FROM spans
WHERE Timestamp BETWEEN {s:DateTime64(9)} AND {e:DateTime64(9)} AND TraceId IN {ids}
GROUP BY TraceId""", ids=in_list("ids"))


def _span_totals(store: Store, batch: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Tokens and failed roots per trace of this page: raw spans of these traces only, in their time range."""
    if not batch:
        return {}
    rows = store.rows(SPAN_TOTALS, {
        "s": min(r["start_time"] for r in batch), "e": max(r["last_activity"] for r in batch),
        "ids": list_param([t for r in batch for t in r["trace_ids"]])})
    return {r["TraceId"]: {"tokens": int(r["tokens"] or 0), "failed_roots": int(r["failed_roots"])}
            for r in rows}


def _open_spans(store: Store, trace_ids: list[str], now: int) -> dict[str, list[dict[str, Any]]]:
    if not trace_ids:
        return {}
    rows = store.rows(OPEN_SPAN_BEATS, {"ids": list_param(trace_ids)})
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["TraceId"], []).append(
            {"last_seen": r["LastSeen"], "lost": is_lost(r["last_ms"], r["HeartbeatIntervalMs"], now)})
    return out


def is_lost(last_seen_ms: int, interval_ms: int | None, now: int) -> bool:
    """Silent for more than 3 declared heartbeat intervals (no interval: never judged dead); epoch ms."""
    return bool(interval_ms) and now - last_seen_ms > 3 * interval_ms


OPEN_SPAN_BEATS = fill("""SELECT TraceId, LastSeen, toUnixTimestamp64Milli(LastSeen) AS last_ms,
    HeartbeatIntervalMs FROM ({open})""", open=OPEN_SPANS)
OPEN_FINDING_KINDS = """SELECT RunId, TraceId, Kind FROM findings FINAL
WHERE Status = 'open' AND (RunId IN {keys} OR TraceId IN {ids})"""


def _open_findings(store: Store, run_keys: list[str], trace_ids: list[str]) -> dict[str, set[str]]:
    if not run_keys:
        return {}
    rows = store.rows(fill(OPEN_FINDING_KINDS, keys=in_list("keys"), ids=in_list("ids")),
                      {"keys": list_param(run_keys), "ids": list_param(trace_ids)})
    out: dict[str, set[str]] = {}
    for r in rows:
        for key in (r["RunId"], r["TraceId"]):
            if key:
                out.setdefault(key, set()).add(r["Kind"])
    return out


RUN_TRACES = "SELECT DISTINCT TraceId FROM traces WHERE has(RunIds, {id:String}) ORDER BY TraceId"


def run_traces(store: Store, run_id: str) -> list[str]:
    """The trace ids of a run (from the trace index); empty for an unknown run."""
    rows = store.rows(RUN_TRACES, {"id": run_id})
    return [r["TraceId"] for r in rows]
