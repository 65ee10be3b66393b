"""Pending spans: make spans that have not ended yet visible (docs/sdk.md, "Spans that have not ended yet").

OpenTelemetry exports a span only when it ends, so a wait that never ends is never seen. This
processor watches agent, tool and wait spans (frameworks' too, see ``is_watched``). One still open
``delay`` seconds after it started gets a
*pending span* (a new span id, parent = the real span, all its attributes, ``swarmscope.span_type =
"pending"``), and another every ``interval`` seconds while it stays open: heartbeats, whose silence
tells the backend that the process died. One daemon thread serves the whole process.

Bookkeeping is a dict of open spans and two FIFO queues of (due time, span id): the delay is the same
for every span, so ids enter the first queue already in due order; heartbeats are re-queued at
``now + interval`` so the second queue is ordered too. A span leaves the dict when it ends, so ended
spans are not kept alive (at thousands of spans a second, holding them for the delay costs the
garbage collector more than the spans themselves); its id is skipped when it comes due.
"""

from __future__ import annotations

import collections
import os
import threading
import time
import weakref
from collections.abc import Callable

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import Status, StatusCode

from . import _conventions as c

_WATCHED = frozenset((c.OP_AGENT, c.OP_TOOL, c.OP_WAIT))
# Framework dialects' agent and tool spans (docs/integrations.md), as far as they say so at start.
_WATCHED_KINDS = (
    (c.OI_SPAN_KIND, frozenset(("AGENT", "TOOL"))),
    (c.TRACELOOP_SPAN_KIND, frozenset(("agent", "tool"))),
    (c.LANGSMITH_SPAN_KIND, frozenset(("tool",))),
    (c.MCP_METHOD, frozenset((c.MCP_TOOLS_CALL,))),
)


# Keys that name a span's agent, ours first (the normalizing SQL reads the same ones).
_AGENT_KEYS = (c.AGENT_NAME, c.AGENT_ID, c.OI_AGENT_NAME, c.OI_GRAPH_NODE_ID, c.LANGSMITH_AGENT_NAME)


def own_agent(attributes) -> str:
    """The agent a span names by a key ("" if none; see also PendingSpanProcessor._openinference_agent)."""
    if not attributes:
        return ""
    for key in _AGENT_KEYS:
        if value := attributes.get(key):
            return str(value)
    return ""


def is_watched(attributes) -> bool:
    """An agent, tool or wait span, in our conventions or a framework's."""
    if not attributes:
        return False
    if attributes.get(c.OPERATION) in _WATCHED:
        return True
    return any(attributes.get(key) in values for key, values in _WATCHED_KINDS)
_ROOT_PARENT = "0" * 16
_ABANDONED = "abandoned: the process exited while this span was open"


class PendingSpanProcessor(SpanProcessor):
    """Sends pending records of long-open spans to ``sink`` (a span processor that exports promptly)."""

    def __init__(
        self,
        sink: SpanProcessor,
        delay: float = 1.0,
        interval: float = 10.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_ns: Callable[[], int] = time.time_ns,
        thread: bool = True,
    ) -> None:
        """``clock`` (seconds) decides when a span is due, ``wall_ns`` stamps the records. With
        ``thread=False`` nothing runs by itself: ``tick()`` sends what is due (tests drive time)."""
        if delay < 0 or interval <= 0:
            raise ValueError("pending delay must be >= 0 and heartbeat interval > 0")
        self.sink = sink
        self.delay = delay
        self.interval = interval
        self.sent = 0
        self._clock = clock
        self._wall_ns = wall_ns
        self._threaded = thread
        self._interval_ms = int(round(interval * 1000))
        self._ids = RandomIdGenerator()
        self._start_thread()
        weak = weakref.WeakMethod(self._start_thread)
        os.register_at_fork(after_in_child=lambda: (m := weak()) and m())

    def _start_thread(self) -> None:
        # Also the after-fork hook: the child has no thread, and the parent's open spans are not its own.
        self._open: dict[int, Span] = {}
        # Agent of every open span under an agent span: frameworks name the agent on the agent span
        # only, and the spans between it and a hanging tool call (turns, chains) have no pending record,
        # so the backend could not walk up to it. A pending record carries its inherited agent.
        self._agents: dict[int, str] = {}
        self._late: dict[int, dict[str, str]] = {}  # see watch()
        self._openinference: set[int] = set()  # open OpenInference spans (see _agent_span_name)
        self._fresh: collections.deque[tuple[float, int]] = collections.deque()
        self._beating: collections.deque[tuple[float, int]] = collections.deque()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if self._threaded:
            self._thread = threading.Thread(target=self._run, name="swarmscope-heartbeat", daemon=True)
            self._thread.start()

    # SpanProcessor -------------------------------------------------------------------------------

    def on_start(self, span: Span, parent_context=None) -> None:
        parent = span.parent
        attributes = span.attributes
        agent = own_agent(attributes) or (attributes and self._openinference_agent(span, attributes)) or (
            parent and self._agents.get(parent.span_id))
        if agent:
            self._agents[span.context.span_id] = agent
        if is_watched(span.attributes):
            span_id = span.context.span_id
            self._open[span_id] = span  # dict and deque operations are atomic: no lock on the hot path
            self._fresh.append((self._clock() + self.delay, span_id))

    def _openinference_agent(self, span: Span, attributes) -> str:
        """An open OpenInference AGENT span without agent keys (they come at its end) goes by its name,
        if it is an agent's: one under another open OpenInference span without agent keys. The OpenAI
        Agents SDK's workflow root is an AGENT span too, named after the workflow, with no such parent.
        (Spans that name their agent are not tracked: the SDK's own spans pay no extra lookup.)"""
        kind = attributes.get(c.OI_SPAN_KIND)
        if not kind:
            return ""
        self._openinference.add(span.context.span_id)
        parent = span.parent
        under = parent is not None and parent.span_id in self._openinference
        return span.name if kind == "AGENT" and under else ""

    def watch(self, span: Span, attributes: dict[str, str]) -> None:
        """Watch a span that turned out to be an agent or tool span only after it started (a framework
        that records its attributes only at the end, see swarmscope._instrument); its pending records
        carry `attributes` (what it is, its name, its agent) where the span has none of its own."""
        span_id = span.context.span_id
        self._late[span_id] = attributes
        if agent := own_agent(attributes):
            self._agents[span_id] = agent
        if span_id not in self._open and span.end_time is None:
            self._open[span_id] = span
            self._fresh.append((self._clock() + self.delay, span_id))

    def on_end(self, span: ReadableSpan) -> None:
        span_id = span.context.span_id
        self._open.pop(span_id, None)
        self._agents.pop(span_id, None)
        self._late.pop(span_id, None)
        self._openinference.discard(span_id)

    def shutdown(self, timeout_millis: int = 30000) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1.0)
        self.sink.shutdown(timeout_millis)  # type: ignore[call-arg]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.sink.force_flush(timeout_millis)

    # the one thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            next_due = self.tick()
            self._stop.wait(max(0.005, next_due - self._clock()))

    def tick(self, now: float | None = None) -> float:
        """Send a pending record for every watched span due at ``now`` (default: the clock) and still
        open; return when the next one is due. One caller at a time (the thread, or a test)."""
        now = self._clock() if now is None else now
        open_spans, fresh, beating = self._open, self._fresh, self._beating
        due: list[Span] = []
        for queue in (fresh, beating):
            while queue and queue[0][0] <= now:  # only the ticking caller pops, so the head is stable
                span = open_spans.get(queue.popleft()[1])
                if span is not None and span.end_time is None:
                    due.append(span)
        if due:
            wall = self._wall_ns()
            for span in due:
                self.sink.on_end(self.pending_record(span, wall))
                beating.append((now + self.interval, span.context.span_id))
            self.sent += len(due)
        # A span starting after this is due no sooner than now + delay.
        next_due = now + max(self.delay, 0.05)
        for queue in (fresh, beating):
            if queue:
                next_due = min(next_due, queue[0][0])
        return next_due

    def pending_record(self, span: Span, now_ns: int | None = None) -> ReadableSpan:
        """The pending span for ``span`` as of now: same trace, new id, child of the real span."""
        real = span.get_span_context()
        parent = span.parent
        attributes = _copy(span.attributes)
        attributes[c.SPAN_TYPE] = "pending"
        attributes[c.PENDING_PARENT_ID] = format(parent.span_id, "016x") if parent else _ROOT_PARENT
        attributes[c.HEARTBEAT_INTERVAL_MS] = self._interval_ms
        for key, value in self._late.get(real.span_id, {}).items():
            attributes.setdefault(key, value)
        if not own_agent(attributes) and (agent := self._agents.get(real.span_id)):
            attributes[c.AGENT_NAME] = agent
        context = trace.SpanContext(
            trace_id=real.trace_id,
            span_id=self._ids.generate_span_id(),
            is_remote=False,
            trace_flags=real.trace_flags,
            trace_state=real.trace_state,
        )
        return ReadableSpan(
            name=span.name,
            context=context,
            parent=real,
            resource=span.resource,
            attributes=attributes,
            kind=span.kind,
            instrumentation_scope=span.instrumentation_scope,
            status=Status(StatusCode.UNSET),
            start_time=span.start_time,
            end_time=now_ns or self._wall_ns(),
        )

    # exit ----------------------------------------------------------------------------------------

    def open_spans(self) -> list[Span]:
        """Watched spans that have started and not ended (in this process)."""
        for _ in range(10):
            try:
                spans = list(self._open.values())
                break
            except RuntimeError:  # changed size during iteration
                continue
        else:
            spans = []
        return [span for span in spans if span.end_time is None]

    def abandon_open(self) -> int:
        """End every watched span still open as Error ``abandoned``: never silently as a success."""
        spans = self.open_spans()
        for span in spans:
            span.set_attribute(c.ERROR_TYPE, "abandoned")
            if span.attributes.get(c.OPERATION) == c.OP_AGENT or c.TASK_ID in span.attributes:
                span.set_attribute(c.TASK_STATUS, "abandoned")
            span.set_status(Status(StatusCode.ERROR, _ABANDONED))
            span.end()
        return len(spans)


def _copy(attributes) -> dict:
    # Another thread may be setting attributes on the live span right now; retry a torn copy.
    for _ in range(10):
        try:
            return dict(attributes or {})
        except RuntimeError:
            continue
    return {}
