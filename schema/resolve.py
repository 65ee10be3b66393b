"""Per-trace facts that one span cannot tell on its own: written to `span_resolution` after ingest.

Frameworks (OpenInference, OpenLLMetry, LangSmith, the GenAI conventions) name the agent on the agent
span only; their tool and model spans are its descendants. They repeat token totals on agent spans, give
nested agent runs their own conversation ids, and set no input fingerprint or attempt number. All of
that needs the trace's tree, and spans arrive children first, across requests. So ingest stays per span
(schema/normalize.py) and this pass, run before each detection sweep on the traces that received spans,
works out per span:

- AgentId/AgentName: its own agent key, else its nearest ancestor's (an agent span without a key but
  named `invoke_agent {name}` is agent {name});
- RunId: the outermost run on its path to the root (one user request is one run);
- InputTokens/OutputTokens: its own, unless a descendant reports tokens (then the descendants count);
  an agent span's aggregated usage only when nothing under it reports tokens;
- InputHash: `swarmscope.input.hash`, else the SDK's fingerprint of its content (tool arguments,
  `input.value`, `gen_ai.input.messages`), parsed as JSON when it is JSON, so both give the same hash;
- Attempt: `swarmscope.attempt`, else n for the n-th call in a row of one tool with one argument
  fingerprint by one agent, each after a failed one;
- ErrorMessage: the status message, else (or when it is a multi-line traceback) the exception event's
  `type: message`;
- HandoffFrom/HandoffTo: `gen_ai.handoff.*`, `transfer_to_<agent>` tools, `handoff to X` spans,
  `graph.node.parent_id`.

A trace is re-resolved whenever it receives spans, so an ancestor arriving later corrects its
descendants (ReplacingMergeTree on (TraceId, SpanId), latest ResolvedAt wins). Read through the
`spans_resolved` view (m021).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from swarmscope import _conventions as c
from swarmscope._fingerprint import fingerprint

from .params import array_of, fill, in_list, list_param

log = logging.getLogger("swarmscope.resolve")

# Attributes the pass reads; only these leave the store.
_KEYS = (
    c.INPUT_HASH, c.ATTEMPT, c.TOOL_ARGUMENTS, c.OI_INPUT_VALUE, c.INPUT_MESSAGES,
    c.AGGREGATED_INPUT_TOKENS, c.AGGREGATED_OUTPUT_TOKENS, c.HANDOFF_FROM, c.HANDOFF_TO,
    c.OI_GRAPH_NODE_ID, c.OI_GRAPH_NODE_PARENT_ID,
)
# OpenInference's LangChain spans name no agent; LangGraph's run metadata says which node of the outer
# graph (the agent, in a multi-agent graph) a span runs in. Read only where it can matter.
_SPAN_FIELDS = """
    arrayMap(k -> SpanAttributes[k], {keys}) AS attrs,
    if(AgentId = '' AND position(SpanAttributes[{metadata_key:String}], {namespace_key:String}) > 0,
       SpanAttributes[{metadata_key:String}], '') AS graph_metadata"""
_SPANS_SQL = fill("""
SELECT TraceId, SpanId, ParentSpanId, SpanName, Operation, AgentId, AgentName, ToolName, RunId,
    InputTokens, OutputTokens, StatusCode, StatusMessage, toUnixTimestamp64Nano(Timestamp) AS start_ns,
    Timestamp, arrayFirstIndex(n -> n = {exception_event:String}, `Events.Name`) AS exc,
    `Events.Attributes` AS events, {span_fields}, 0 AS open, ServiceName, InsertedAt
FROM spans WHERE TraceId IN {traces}
UNION ALL
SELECT TraceId, SpanId, ParentSpanId, SpanName, Operation, AgentId, AgentName, ToolName, RunId,
    InputTokens, OutputTokens, 'Unset', '', toUnixTimestamp64Nano(StartTime), StartTime, 0, [],
    {span_fields}, 1, ServiceName, toDateTime64(0, 3)
FROM pending_spans FINAL WHERE TraceId IN {traces}
""", span_fields=fill(_SPAN_FIELDS, keys=array_of("keys")), traces=in_list("traces"))
_SPANS_PARAMS = {"keys": list_param(_KEYS), "metadata_key": c.OI_METADATA,
                 "namespace_key": c.LANGGRAPH_CHECKPOINT_NS, "exception_event": c.EXCEPTION_EVENT}

# Traces that received finished spans in a window of InsertedAt, and need the pass at all: SDK traces
# that name every agent and fingerprint every input are left alone, and so are traces whose resolution
# already read their newest span (SeenInsertedAt, m022).
DIRTY_SQL = """
SELECT TraceId FROM (
    SELECT TraceId, max(InsertedAt) AS inserted FROM spans
    WHERE InsertedAt > fromUnixTimestamp64Milli({after_ms:Int64})
      AND InsertedAt <= fromUnixTimestamp64Milli({upto_ms:Int64})
    GROUP BY TraceId
    HAVING countIf(AgentId = '') > 0
        OR countIf(InputHash = '' AND Operation IN ({op_tool:String}, {op_agent:String})) > 0
        OR countIf(StatusCode = 'Error' AND StatusMessage = '') > 0
) AS dirty
LEFT ANY JOIN (
    SELECT TraceId, max(SeenInsertedAt) AS seen FROM span_resolution
    WHERE TraceId IN (SELECT TraceId FROM spans
                      WHERE InsertedAt > fromUnixTimestamp64Milli({after_ms:Int64})
                        AND InsertedAt <= fromUnixTimestamp64Milli({upto_ms:Int64}))
    GROUP BY TraceId
) AS done USING TraceId
WHERE inserted > done.seen
"""

COLUMNS = ["TraceId", "SpanId", "Timestamp", "AgentId", "AgentName", "RunId", "InputTokens", "OutputTokens",
           "InputHash", "Attempt", "ErrorMessage", "HandoffFrom", "HandoffTo", "SeenInsertedAt"]
# Spans of these traces whose derived attempt was already counted as a retry (see _derived_retries).
COUNTED_RETRIES_SQL = fill("""
SELECT TraceId, SpanId FROM span_resolution FINAL WHERE TraceId IN {traces} AND Attempt > 1
""", traces=in_list("traces"))
TOOL_MINUTES_COLUMNS = ["Minute", "ToolName", "ServiceName", "Calls", "Errors", "Timeouts", "Retries"]
TRACES_COLUMNS = ["TraceId", "Start", "End", "Agents"]
BATCH_TRACES = 500


@dataclass
class _Span:
    row: dict[str, Any]
    attrs: dict[str, str]

    @property
    def id(self) -> str:
        return self.row["SpanId"]

    @property
    def parent(self) -> str:
        return self.row["ParentSpanId"]

    def own_agent(self) -> tuple[str, str]:
        if self.row["AgentId"]:
            return self.row["AgentId"], self.row["AgentName"] or self.row["AgentId"]
        # An agent span without a key, named the GenAI way (`invoke_agent {name}`). Other unnamed agent
        # spans (OpenInference's "Agent workflow" root) name no agent: their children do.
        prefix = c.OP_AGENT + " "
        if self.row["Operation"] == c.OP_AGENT and self.row["SpanName"].startswith(prefix):
            name = self.row["SpanName"].removeprefix(prefix).strip()
            return name, name
        if name := langgraph_agent(self.row["graph_metadata"], self.row["Operation"] == c.OP_AGENT):
            return name, name
        return "", ""


def langgraph_agent(metadata: str, is_agent_span: bool) -> str:
    """The agent of a LangGraph span, from the OpenInference `metadata` JSON (c.langgraph_agent)."""
    if not metadata:
        return ""
    try:
        return c.langgraph_agent(json.loads(metadata).get(c.LANGGRAPH_CHECKPOINT_NS, ""), is_agent_span)
    except (ValueError, AttributeError):
        return ""


def content_fingerprint(text: str) -> str:
    """The SDK's fingerprint of a recorded input: of the JSON value when `text` is JSON, else of the text."""
    try:
        value = json.loads(text)
    except ValueError:
        value = text
    return fingerprint(value)


def _input_hash(span: _Span) -> str:
    if own := span.attrs[c.INPUT_HASH]:
        return own
    op = span.row["Operation"]
    if op == c.OP_TOOL:
        content = span.attrs[c.TOOL_ARGUMENTS] or span.attrs[c.OI_INPUT_VALUE]
    elif op == c.OP_AGENT:
        content = span.attrs[c.OI_INPUT_VALUE] or span.attrs[c.INPUT_MESSAGES]
    else:
        content = ""
    return content_fingerprint(content) if content else ""


def _error_message(span: _Span) -> str:
    # A status message with a traceback in it (OpenInference's LangChain spans) groups failures by line
    # numbers; the exception event says the same in one line.
    status = span.row["StatusMessage"]
    if (status and "\n" not in status) or not span.row["exc"]:
        return status
    event = span.row["events"][span.row["exc"] - 1]
    kind, message = event.get(c.EXCEPTION_TYPE, ""), event.get(c.EXCEPTION_MESSAGE, "")
    return f"{kind}: {message}" if kind and message else kind or message


def _handoff(span: _Span, agent: str) -> tuple[str, str]:
    a, name = span.attrs, span.row["SpanName"]
    if a[c.HANDOFF_TO]:
        return a[c.HANDOFF_FROM] or agent, a[c.HANDOFF_TO]
    tool = span.row["ToolName"]
    if tool.startswith(c.HANDOFF_TOOL_PREFIX):
        return agent, tool.removeprefix(c.HANDOFF_TOOL_PREFIX)
    if name.startswith(c.OI_HANDOFF_SPAN_PREFIX):
        return agent, name.removeprefix(c.OI_HANDOFF_SPAN_PREFIX).strip()
    if a[c.OI_GRAPH_NODE_PARENT_ID] and span.row["Operation"] == c.OP_AGENT:
        return a[c.OI_GRAPH_NODE_PARENT_ID], a[c.OI_GRAPH_NODE_ID] or agent
    return "", ""


def resolve_trace(rows: list[dict[str, Any]]) -> list[list[Any]]:
    """Resolution rows (COLUMNS order) for one trace's spans; finished records win over pending ones."""
    spans: dict[str, _Span] = {}
    for row in sorted(rows, key=lambda r: -r["open"]):  # pending first, finished overwrite
        spans[row["SpanId"]] = _Span(row, dict(zip(_KEYS, row["attrs"], strict=True)))
    children: dict[str, list[str]] = defaultdict(list)
    for span in spans.values():
        children[span.parent].append(span.id)

    agent: dict[str, tuple[str, str]] = {}
    run: dict[str, str] = {}

    def walk(span_id: str, inherited_agent: tuple[str, str], outer_run: str) -> None:
        stack = [(span_id, inherited_agent, outer_run)]
        while stack:
            sid, up_agent, up_run = stack.pop()
            if sid in agent:  # parent ids that form a cycle (hostile or broken input)
                continue
            span = spans[sid]
            own = span.own_agent()
            agent[sid] = own if own[0] else up_agent
            run[sid] = up_run or span.row["RunId"]
            stack.extend((child, agent[sid], run[sid]) for child in children.get(sid, ()))

    # Roots: spans whose parent is not (yet) here. A late parent re-resolves the trace.
    for span in spans.values():
        if span.parent not in spans:
            walk(span.id, ("", ""), "")
    # Only spans on a parent cycle are left: entered at an agent span, if the cycle has one.
    for span in sorted(spans.values(), key=lambda s: (not s.own_agent()[0], s.id)):
        if span.id not in agent:
            walk(span.id, ("", ""), "")

    # Tokens reported below a span make its own figures a repeat of theirs.
    below: dict[str, bool] = {}
    for span in sorted(spans.values(), key=lambda s: _depth(s, spans), reverse=True):
        has = below.get(span.id, False)
        reports = bool(span.row["InputTokens"] or span.row["OutputTokens"])
        if span.parent in spans:
            below[span.parent] = below.get(span.parent, False) or has or reports
    out: list[list[Any]] = []
    attempts = _attempts(spans, agent, run)
    seen = max(s.row["InsertedAt"] for s in spans.values())
    for span in spans.values():
        sid = span.id
        tokens_in, tokens_out = span.row["InputTokens"], span.row["OutputTokens"]
        if below.get(sid):
            tokens_in = tokens_out = 0
        elif not (tokens_in or tokens_out):
            tokens_in = _uint(span.attrs[c.AGGREGATED_INPUT_TOKENS])
            tokens_out = _uint(span.attrs[c.AGGREGATED_OUTPUT_TOKENS])
        handoff_from, handoff_to = _handoff(span, agent[sid][0])
        out.append([
            span.row["TraceId"], sid, span.row["Timestamp"], agent[sid][0], agent[sid][1], run[sid],
            tokens_in, tokens_out, _input_hash(span), attempts.get(sid, 0), _error_message(span),
            handoff_from, handoff_to, seen,
        ])
    return out


def _depth(span: _Span, spans: dict[str, _Span]) -> int:
    depth, seen = 0, set()
    while span.parent in spans and span.id not in seen:
        seen.add(span.id)
        span = spans[span.parent]
        depth += 1
    return depth


def _uint(text: str) -> int:
    return int(text) if text.isdigit() else 0


def _attempts(spans: dict[str, _Span], agent: dict, run: dict) -> dict[str, int]:
    """Attempt numbers of tool calls: n-th call in a row of one (agent, tool, arguments), each after a
    failed one. A span's own `swarmscope.attempt` wins."""
    calls: dict[tuple, list[_Span]] = defaultdict(list)
    result: dict[str, int] = {}
    for span in spans.values():
        if own := _uint(span.attrs[c.ATTEMPT]):
            result[span.id] = own
        elif span.row["ToolName"] and not span.row["open"]:
            calls[(run[span.id], agent[span.id][0], span.row["ToolName"], _input_hash(span))].append(span)
    for series in calls.values():
        series.sort(key=lambda s: s.row["start_ns"])
        attempt, previous_failed = 0, False
        for span in series:
            attempt = attempt + 1 if previous_failed else 1
            result[span.id] = attempt
            previous_failed = span.row["StatusCode"] == "Error"
    return result


# One pass at a time in a process: two passes over one trace would both count its new retries.
_PASS_LOCK = threading.Lock()


def resolve_traces(store, trace_ids: Iterable[str]) -> int:
    """Resolve these traces now; returns the number of rows written."""
    ids = sorted(set(trace_ids))
    written = 0
    with _PASS_LOCK:
        for start in range(0, len(ids), BATCH_TRACES):
            batch = ids[start:start + BATCH_TRACES]
            rows = store.rows(_SPANS_SQL, {**_SPANS_PARAMS, "traces": list_param(batch)})
            by_trace: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for row in rows:
                by_trace[row["TraceId"]].append(row)
            out = [r for trace_rows in by_trace.values() for r in resolve_trace(trace_rows)]
            if not out:
                continue
            counted = {(r["TraceId"], r["SpanId"]) for r in
                       store.rows(COUNTED_RETRIES_SQL, {"traces": list_param(batch)})}
            retries = _derived_retries(by_trace, out, counted)
            agents = _trace_agents(by_trace, out)
            store.client.insert("span_resolution", out, column_names=COLUMNS)
            if retries:
                store.client.insert("tool_minutes", retries, column_names=TOOL_MINUTES_COLUMNS)
            if agents:
                store.client.insert("traces", agents, column_names=TRACES_COLUMNS)
            written += len(out)
    return written


_ATTEMPT = COLUMNS.index("Attempt")
_AGENT_NAME = COLUMNS.index("AgentName")


def _derived_retries(by_trace: dict[str, list[dict]], out: list[list[Any]], counted: set) -> list[list]:
    """Rows for `tool_minutes` (Calls 0, Retries n) of the finished tool calls that are retries by their
    derived attempt only (no `swarmscope.attempt`, which ingest counted) and were not counted before:
    `sum(Retries)` then holds framework retries too."""
    own = {(r["TraceId"], r["SpanId"]): r for rows in by_trace.values() for r in rows if not r["open"]}
    per_minute: dict[tuple, int] = defaultdict(int)
    for row in out:
        key = (row[0], row[1])
        span = own.get(key)
        if (span is None or not span["ToolName"] or row[_ATTEMPT] <= 1 or key in counted
                or _uint(span["attrs"][_KEYS.index(c.ATTEMPT)])):
            continue
        minute = span["Timestamp"].replace(second=0, microsecond=0)
        per_minute[(minute, span["ToolName"], span["ServiceName"])] += 1
    return [[minute, tool, service, 0, 0, 0, n] for (minute, tool, service), n in per_minute.items()]


def _trace_agents(by_trace: dict[str, list[dict]], out: list[list[Any]]) -> list[list]:
    """Rows for the trace index (`traces`) naming the agents that only resolution found, so the trace
    list shows and filters by them (min Start / max End are unchanged by the trace's first span)."""
    unnamed = {(r["TraceId"], r["SpanId"]) for rows in by_trace.values() for r in rows if not r["AgentName"]}
    found: dict[str, set[str]] = defaultdict(set)
    for row in out:
        if (row[0], row[1]) in unnamed and row[_AGENT_NAME]:
            found[row[0]].add(row[_AGENT_NAME])
    rows = []
    for trace, names in found.items():
        start = min(r["Timestamp"] for r in by_trace[trace])
        rows.append([trace, start, start, sorted(names)])
    return rows


def resolve_window(store, after_ms: int, upto_ms: int) -> int:
    """Resolve the traces that received spans inserted in (after_ms, upto_ms] and need it."""
    rows = store.rows(DIRTY_SQL, {"after_ms": after_ms, "upto_ms": upto_ms, "op_tool": c.OP_TOOL,
                                  "op_agent": c.OP_AGENT})
    return resolve_traces(store, (r["TraceId"] for r in rows))


WATERMARK_SQL = "SELECT toUnixTimestamp64Milli(max(InsertedAt)) FROM spans"


class Resolver:
    """Resolution on a cadence of its own: each step() resolves what was inserted since the last one
    (the first: the last `lookback_s` of inserts, as a full detection sweep does; not a month of
    history at every start). serve runs it on a ResolutionLoop, and its detection sweeps call the same
    Resolver first, so that framework traces get their agents whether detection runs or not."""

    def __init__(self, store, lookback_s: float = 3600.0, overlap_s: float = 10.0) -> None:
        """`overlap_s`: a span's InsertedAt is set before its insert is visible, so each step looks
        this far back again (the detection sweeps' `overlap_s`)."""
        self.store = store
        self.lookback_ms = int(lookback_s * 1000)
        self.overlap_ms = int(overlap_s * 1000)
        self._watermark_ms: int | None = None
        self._lock = threading.Lock()
        self.steps = 0

    def step(self) -> int:
        """Resolve the traces that received spans since the last step; returns the rows written."""
        with self._lock:
            upto = self.store.scalar(WATERMARK_SQL) or 0
            first = self._watermark_ms is None
            after = upto - self.lookback_ms if first else self._watermark_ms - self.overlap_ms
            written = resolve_window(self.store, after, upto) if upto > after else 0
            self._watermark_ms = max(upto, self._watermark_ms or 0)
            self.steps += 1
            return written


class ResolutionLoop:
    """Calls `resolver.step()` every `interval_s` seconds on a daemon thread (tests call step())."""

    def __init__(self, resolver: Resolver, interval_s: float = 2.0) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.resolver = resolver
        self.interval_s = interval_s
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ResolutionLoop:
        self._thread = threading.Thread(target=self._run, name="swarmscope-resolve", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.resolver.step()
                self.last_error = None
            except Exception as exc:  # keep going; the store may be back next time
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("resolution step failed")
            self._stop.wait(self.interval_s)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
