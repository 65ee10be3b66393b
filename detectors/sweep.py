"""One detection sweep's view of the store: the clock, the window, the traces in scope, the open spans.

Detectors share one Sweep so the open-span set (the most used input: waits, heartbeats, the wait-for
graph) is read once per sweep, and the tool latency table once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields
from typing import Any

from swarmscope import _conventions as c
from swarmscope.schema.open_spans import unfinished
from swarmscope.schema.params import fill, in_list, list_param
from swarmscope.schema.resolved_spans import resolved_spans, traces_of, unresolved_spans
from swarmscope.schema.sql import first_of

from .config import DetectorConfig

# The open spans (schema/open_spans.py) seen within the horizon, those matching `{only}`; columns
# named as OpenSpan's fields.
OPEN_SPANS_SQL = fill("""
WITH fromUnixTimestamp64Milli({horizon_ms:Int64}) AS horizon
SELECT TraceId AS trace_id, SpanId AS span_id, ParentSpanId AS parent_span_id, SpanName AS name,
    ServiceName AS service, toUnixTimestamp64Milli(StartTime) AS start_ms,
    toUnixTimestamp64Milli(LastSeen) AS last_seen_ms, HeartbeatIntervalMs AS interval_ms,
    Operation AS operation, AgentId AS agent_id, ToolName AS tool, RunId AS run_id, TaskId AS task_id,
    WaitFor AS wait_for, WaitTaskId AS wait_task_id, WaitResource AS wait_resource,
    WaitTimeoutMs AS wait_timeout_ms, {held} AS held, {leader_group} AS leader_group, InputHash AS input_hash
FROM pending_spans FINAL
WHERE LastSeen >= horizon AND ({only}) AND {unfinished}
""", unfinished=unfinished("LastSeen >= horizon AND ({only})"),
    held=first_of("SpanAttributes", c.RESOURCE_HELD), leader_group=first_of("SpanAttributes", c.LEADER_GROUP))


def fetch_open_spans(
    store, config: DetectorConfig, now_ms: int, only: str = "1", params: dict[str, Any] | None = None
) -> list[OpenSpan]:
    """Open spans (optionally only those matching the SQL condition `only`), judged alive or dead."""
    horizon = now_ms - int(config.get("sweep", "open_horizon_s") * 1000)
    result = store.client.query(
        fill(OPEN_SPANS_SQL, only=only), parameters={**(params or {}), "horizon_ms": horizon}
    )
    rows = result.result_rows
    if rows and tuple(result.column_names) != OPEN_SPAN_COLUMNS:  # rows go to OpenSpan in field order
        raise RuntimeError(f"OPEN_SPANS_SQL columns {result.column_names} are not OpenSpan's fields")
    return open_spans_of_rows(rows, config, now_ms)


def open_spans_of_rows(rows, config: DetectorConfig, now_ms: int) -> list[OpenSpan]:
    """OpenSpans of rows holding OPEN_SPAN_COLUMNS in order, judged alive or dead."""
    spans = []
    for row in rows:
        values = list(row)
        values[HELD] = [h.strip() for h in values[HELD].split(",") if h.strip()]
        span = OpenSpan(*values)
        if span.interval_ms:
            missed = config.get(
                "lost_heartbeat", "missed_intervals", tool=span.tool or None, agent=span.agent_id or None
            )
            span.dead_after_ms = int(missed * span.interval_ms)
            span.dead = now_ms - span.last_seen_ms > span.dead_after_ms
        spans.append(span)
    return spans


# Per-tool latency from the per-minute aggregates (never a scan of spans).
TOOL_LATENCY_SQL = """
SELECT ToolName, sum(Calls) AS calls,
    quantilesMerge(0.5, 0.95, 0.99)(DurationQuantiles) AS q
FROM tool_minutes
WHERE Minute >= toStartOfMinute(fromUnixTimestamp64Milli({since_ms:Int64}))
GROUP BY ToolName
"""


# Input fingerprints given to more than one span (agents, or spans that completed a task) in the runs in
# scope, counting agents still running: `loop` and the disagreement check look only at those. One
# cheap count of a hash shared by both, instead of each grouping every agent span by its strings. A
# span counts once (min != max of its id hash): its pending record and a row repeated by an unmerged
# part are the same span.
# Agent spans count with their resolved fingerprint (derived from content in framework traces).
REPEATED_INPUTS_SQL = """
SELECT h FROM (
    SELECT InputHash64 AS h, cityHash64(TraceId, SpanId) AS span FROM {resolved_runs}
    WHERE InputHash64 != 0
    UNION ALL
    SELECT InputHash64 AS h, cityHash64(TraceId, SpanId) AS span FROM pending_spans
    WHERE {pending_run_scope} AND InputHash64 != 0 AND Operation = 'invoke_agent'
)
GROUP BY h
HAVING min(span) != max(span)
"""
# How a query keeps only those inputs (`repeated` is Sweep.repeated_inputs()).
REPEATED_INPUT = "InputHash64 IN " + in_list("repeated", "UInt64")


@dataclass
class OpenSpan:
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    service: str
    start_ms: int
    last_seen_ms: int
    interval_ms: int | None
    operation: str
    agent_id: str
    tool: str
    run_id: str
    task_id: str
    wait_for: str
    wait_task_id: str
    wait_resource: str
    wait_timeout_ms: int | None
    held: list[str] = field(default_factory=list)
    leader_group: str = ""
    input_hash: str = ""
    dead: bool = False  # heartbeats stopped (see lost_heartbeat)
    dead_after_ms: int | None = None

    @property
    def is_wait(self) -> bool:
        return self.operation == "wait" or bool(self.wait_for or self.wait_task_id or self.wait_resource)

    @property
    def is_tool(self) -> bool:
        return self.operation == "execute_tool" or bool(self.tool)

    @property
    def is_agent(self) -> bool:
        return self.operation == "invoke_agent"

    def age_ms(self, now_ms: int) -> int:
        return max(0, now_ms - self.start_ms)

    def brief(self, now_ms: int) -> dict[str, Any]:
        return {
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "name": self.name,
            "agent_id": self.agent_id,
            "run_id": self.run_id or None,
            "service": self.service,
            "open_for_s": round(self.age_ms(now_ms) / 1000, 3),
            "last_heartbeat_s_ago": round(max(0, now_ms - self.last_seen_ms) / 1000, 3),
            "heartbeat_interval_ms": self.interval_ms,
        }

    def wait_brief(self, now_ms: int) -> dict[str, Any]:
        """brief() plus what the span waits on: how the wait-for graph and its findings show a wait."""
        return dict(
            self.brief(now_ms),
            waiting_for=self.wait_for or None,
            task_id=self.wait_task_id or None,
            resource=self.wait_resource or None,
            timeout_ms=self.wait_timeout_ms,
        )


# OPEN_SPANS_SQL's columns: OpenSpan's fields up to input_hash, in order (`held` arrives as text).
_FIELDS = tuple(f.name for f in fields(OpenSpan))
OPEN_SPAN_COLUMNS = _FIELDS[: _FIELDS.index("input_hash") + 1]
HELD = OPEN_SPAN_COLUMNS.index("held")


# The traces that received finished spans inserted in (after, upto]: an incremental sweep's scope.
DIRTY_TRACES_SQL = (
    "SELECT TraceId FROM spans WHERE InsertedAt > fromUnixTimestamp64Milli({dirty_after_ms:Int64}) "
    "AND InsertedAt <= fromUnixTimestamp64Milli({dirty_upto_ms:Int64})"
)


DIRTY_OF_TRACES_SQL = fill(
    "SELECT DISTINCT TraceId FROM ({dirty}) WHERE TraceId IN {ids}",
    dirty=DIRTY_TRACES_SQL, ids=in_list("ids"),
)
IN_DIRTY_TRACES = fill("TraceId IN ({dirty})", dirty=DIRTY_TRACES_SQL)
# The spans of the runs bound as `scope_runs` (a run is its RunId, else its trace) and of the dirty
# traces without a run.
IN_SCOPE_RUNS = fill(
    "(RunId IN {runs} OR (RunId = '' AND {in_dirty}) OR TraceId IN {runs})",
    runs=in_list("scope_runs"), in_dirty=IN_DIRTY_TRACES,
)
SINCE = "{time} >= fromUnixTimestamp64Milli({since_ms:Int64})"
NARROWED = "{scope} AND ({only})"
RESOLVED_DIRTY_SQL = fill("SELECT DISTINCT TraceId FROM span_resolution WHERE {in_dirty}",
                          in_dirty=IN_DIRTY_TRACES)
RESOLVED_TRACES = "TraceId IN " + in_list("resolved_traces")
RESOLVED_RUN_TRACES_SQL = fill("""SELECT DISTINCT TraceId FROM span_resolution
WHERE {since} AND ({resolved} OR RunId IN {runs} OR TraceId IN {runs})""",
                     since=fill(SINCE, time="Timestamp"), resolved=RESOLVED_TRACES,
                     runs=in_list("scope_runs"))
RUNS_SQL = "SELECT DISTINCT RunId FROM spans WHERE {scope}"


@dataclass(frozen=True)
class Dirty:
    """An incremental sweep's scope: the traces that received finished spans inserted in (after_ms,
    upto_ms], `traces` of them. Kept as a condition ClickHouse evaluates (DIRTY_TRACES_SQL, through the
    InsertedAt skip index), not as a list of ids: after a burst the list is tens of thousands of ids,
    and every query of the sweep would carry it (see docs/detectors.md, "Cost")."""

    after_ms: int
    upto_ms: int
    traces: int

    def params(self) -> dict[str, int]:
        return {"dirty_after_ms": self.after_ms, "dirty_upto_ms": self.upto_ms}


class Sweep:
    """Inputs of one sweep. `dirty` None means every trace in the window (a full sweep); otherwise
    the finished-span detectors look only at the traces it selects (an incremental sweep)."""

    def __init__(
        self, store, config: DetectorConfig, now_ms: int, since_ms: int, dirty: Dirty | None = None
    ) -> None:
        self.store = store
        self.config = config
        self.now_ms = now_ms
        self.since_ms = since_ms
        self.dirty = dirty
        self._open: list[OpenSpan] | None = None
        self._latency: dict[str, tuple[int, float, float, float]] | None = None
        self._runs: set[str] | None = None
        self._repeated: str | None = None  # list_param of hashes, "" when there are none
        self._resolved_dirty: str | None = None  # list_param of trace ids
        self._resolved_runs: dict[str, str] = {}  # scope_runs -> list_param of trace ids
        # Detectors run on several threads (see runner.run_sweep); the shared inputs are read once.
        self._lock = threading.RLock()

    # ---- scope of finished-span detectors ---------------------------------------------------

    @property
    def empty_scope(self) -> bool:
        return self.dirty is not None and not self.dirty.traces

    def in_scope(self, trace_ids: set[str]) -> set[str]:
        """Those of `trace_ids` in an incremental sweep's scope (all of them on a full sweep)."""
        if self.dirty is None or not trace_ids:
            return trace_ids
        rows = self.store.rows(DIRTY_OF_TRACES_SQL, {**self.dirty.params(), "ids": list_param(trace_ids)})
        return {r["TraceId"] for r in rows}

    def scope(self, time_column: str = "Timestamp") -> tuple[str, dict[str, Any]]:
        """SQL condition (and its parameters) selecting the spans in scope."""
        sql = fill(SINCE, time=time_column)
        params: dict[str, Any] = {"since_ms": self.since_ms}
        if self.dirty is not None:
            sql += " AND " + IN_DIRTY_TRACES
            params.update(self.dirty.params())
        return sql, params

    def resolved_scope(self, only: str = "1", selective: bool = False) -> tuple[str, dict[str, Any]]:
        """The spans in scope matching `only` (a condition on unresolved columns) with their resolved
        values (schema/resolved_spans.py), as a subquery for FROM, and its parameters. Only the
        resolution rows of the window (and of the dirty traces, on an incremental sweep) are read;
        `selective` (few spans match `only`): only those of the traces of the spans that match."""
        where, params = self.scope()
        narrowed = fill(NARROWED, scope=where, only=only)
        if self.dirty is None:
            bounds = traces_of(narrowed, where) if selective else where
            return resolved_spans(narrowed, bounds), params
        # Incremental: the few dirty traces that have resolution rows, bound as a list (a primary-key
        # read); none (SDK traffic), no join at all.
        resolved = self.resolved_dirty_traces()
        if resolved == "[]":
            return unresolved_spans(narrowed), params
        return resolved_spans(narrowed, RESOLVED_TRACES), {**params, "resolved_traces": resolved}

    def resolved_dirty_traces(self) -> str:
        """The dirty traces that have resolution rows (list_param; "[]" if none)."""
        with self._lock:
            if self._resolved_dirty is None:
                rows = self.store.rows(RESOLVED_DIRTY_SQL, self.dirty.params()) if self.dirty else []
                self._resolved_dirty = list_param(r["TraceId"] for r in rows)
            return self._resolved_dirty

    def resolved_run_scope(
        self, only: str = "1", extra_runs: list[str] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """run_scope()'s spans matching `only`, with their resolved values, like resolved_scope()."""
        where, params = self.run_scope(extra_runs=extra_runs)
        narrowed = fill(NARROWED, scope=where, only=only)
        if self.dirty is None:
            return resolved_spans(narrowed, fill(SINCE, time="Timestamp")), params
        # Incremental: the resolution rows of the dirty traces and of the runs in scope (by their
        # resolved run), found once per sweep and bound as a list (then a primary-key read per query);
        # none, no join at all.
        traces = self._resolved_run_traces(params)
        if traces == "[]":
            return unresolved_spans(narrowed), params
        return resolved_spans(narrowed, RESOLVED_TRACES), {**params, "resolved_traces": traces}

    def _resolved_run_traces(self, params: dict[str, Any]) -> str:
        """The traces with resolution rows among the dirty ones and those of the runs bound in
        `params` (list_param), once per sweep and set of runs."""
        with self._lock:
            key = params["scope_runs"]
            if key not in self._resolved_runs:
                rows = self.store.rows(RESOLVED_RUN_TRACES_SQL,
                                       {**params, "resolved_traces": self.resolved_dirty_traces()})
                self._resolved_runs[key] = list_param(r["TraceId"] for r in rows)
            return self._resolved_runs[key]

    def run_scope(
        self, time_column: str = "Timestamp", extra_runs: list[str] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """SQL condition selecting every span of the runs in scope (a run is its RunId, else its
        trace): on an incremental sweep the runs of the traces in scope (plus `extra_runs`), found
        through the RunId and TraceId skip indexes."""
        sql = fill(SINCE, time=time_column)
        params: dict[str, Any] = {"since_ms": self.since_ms}
        if self.dirty is not None:
            with self._lock:
                if self._runs is None:
                    self._runs = set()
                    if self.dirty.traces:
                        where, args = self.scope()
                        rows = self.store.rows(fill(RUNS_SQL, scope=where), args)
                        self._runs.update(r["RunId"] for r in rows)
            runs = (self._runs | set(extra_runs or ())) - {""}
            sql += " AND " + IN_SCOPE_RUNS
            params.update(scope_runs=list_param(sorted(runs)), **self.dirty.params())
        return sql, params

    def agent_runs_scope(self) -> tuple[str, str, dict[str, Any]]:
        """(spans condition, pending_spans condition, parameters) selecting the runs in scope and the
        runs where an agent with a fingerprinted input is running right now."""
        running = self.running_agent_runs()
        scope, params = self.run_scope(extra_runs=running)
        pending_scope, _ = self.run_scope("StartTime", extra_runs=running)
        return scope, pending_scope, params

    def running_agent_runs(self) -> list[str]:
        """Runs (else traces) where an agent with a fingerprinted input is running right now."""
        return sorted({s.run_id or s.trace_id for s in self.open_spans() if s.is_agent and s.input_hash})

    def repeated_inputs(self) -> str | None:
        """Hashes (bound as `repeated` for REPEATED_INPUT) of the inputs given more than once; None if
        there are none."""
        with self._lock:
            if self._repeated is None:
                _, pending_scope, _ = self.agent_runs_scope()
                runs, params = self.resolved_run_scope(
                    "Operation = 'invoke_agent' OR TaskStatus = 'completed'", self.running_agent_runs())
                sql = fill(REPEATED_INPUTS_SQL, resolved_runs=runs, pending_run_scope=pending_scope)
                hashes = [r["h"] for r in self.store.rows(sql, params)]
                self._repeated = list_param(hashes) if hashes else ""
            return self._repeated or None

    # ---- open spans -------------------------------------------------------------------------

    def open_spans(self) -> list[OpenSpan]:
        with self._lock:
            if self._open is None:
                self._open = fetch_open_spans(self.store, self.config, self.now_ms)
            return self._open

    # ---- tool latency -----------------------------------------------------------------------

    def tool_latency(self) -> dict[str, tuple[int, float, float, float]]:
        """{tool: (calls, p50_ms, p95_ms, p99_ms)} over the stalled_wait history window."""
        with self._lock:
            if self._latency is None:
                since = self.now_ms - int(self.config.get("stalled_wait", "tool_history_s") * 1000)
                rows = self.store.rows(TOOL_LATENCY_SQL, {"since_ms": since})
                self._latency = {
                    r["ToolName"]: (int(r["calls"]), *(float(q) / 1e6 for q in r["q"])) for r in rows
                }
        return self._latency
