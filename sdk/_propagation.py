"""Run identity and trace context across processes: W3C trace context + W3C baggage.

The run id travels as the baggage entry ``swarmscope.run.id``, so any process that extracts a carrier
stamps the same run on its spans. ``continue_from`` resumes a remote context either as the parent
(one trace: request/response hand-offs) or, with ``link=True``, as a span link from a new trace
(asynchronous hand-offs through a queue, where the producer has moved on).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping

from opentelemetry import baggage, context, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from . import _state
from ._conventions import RUN_BAGGAGE_KEY

# Always both, whatever OTEL_PROPAGATORS says: the run id must survive the hop.
_PROPAGATOR = CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
LINK_KEY = context.create_key("swarmscope.link_to")


def run_id(ctx: Context | None = None) -> str | None:
    """The current run id: from baggage, else the process run (if one exists yet)."""
    value = baggage.get_baggage(RUN_BAGGAGE_KEY, ctx)
    return str(value) if value else _state.process_run_id(create=False)


def inject(
    carrier: MutableMapping[str, str] | None = None, ctx: Context | None = None
) -> MutableMapping[str, str]:
    """Write ``traceparent``/``tracestate``/``baggage`` (with the run id) into ``carrier`` and return it."""
    carrier = {} if carrier is None else carrier
    ctx = ctx if ctx is not None else context.get_current()
    if not baggage.get_baggage(RUN_BAGGAGE_KEY, ctx):
        ctx = baggage.set_baggage(RUN_BAGGAGE_KEY, _state.process_run_id(), ctx)
    _PROPAGATOR.inject(carrier, context=ctx)
    return carrier


def extract(carrier: Mapping[str, str]) -> Context:
    """The context (remote parent and baggage) carried by ``carrier``."""
    return _PROPAGATOR.extract(dict(carrier))


class _Attached:
    """Attach a context for the duration of a ``with``/``async with`` block."""

    def _context(self) -> Context:
        raise NotImplementedError

    def __enter__(self):
        self._token = context.attach(self._context())
        return self

    def __exit__(self, *exc) -> None:
        context.detach(self._token)

    async def __aenter__(self):
        return self.__enter__()

    async def __aexit__(self, *exc) -> None:
        self.__exit__(*exc)


class continue_from(_Attached):  # noqa: N801 - used like a function, as in `with continue_from(msg):`
    """Continue the trace and run carried by ``carrier``.

    ``link=False``: the remote span is the parent of the spans started inside (one trace).
    ``link=True``: spans started inside begin a new trace, and the first-level ones link to the remote
    span; the run id is carried either way.
    """

    def __init__(self, carrier: Mapping[str, str] | None, *, link: bool = False) -> None:
        self.carrier = carrier or {}
        self.link = link
        self.remote: trace.SpanContext = trace.INVALID_SPAN_CONTEXT

    def _context(self) -> Context:
        ctx = extract(self.carrier)
        self.remote = trace.get_current_span(ctx).get_span_context()
        if self.link and self.remote.is_valid:
            ctx = trace.set_span_in_context(trace.INVALID_SPAN, ctx)  # new root, baggage kept
            ctx = context.set_value(LINK_KEY, self.remote, ctx)
        return ctx


class run(_Attached):  # noqa: N801
    """Scope a run: spans inside carry ``run_id`` (a new one if None), e.g. one per job in a worker."""

    def __init__(self, run_id: str | None = None) -> None:
        self.run_id = run_id or _state.new_run_id()

    def _context(self) -> Context:
        return baggage.set_baggage(RUN_BAGGAGE_KEY, self.run_id)


class RunIdProcessor(SpanProcessor):
    """Stamps ``swarmscope.run.id`` from baggage on spans the SDK did not create (LLM client spans, HTTP
    spans, ...), so every span of a run can be found by its run id."""

    def on_start(self, span, parent_context: Context | None = None) -> None:
        attributes = span.attributes
        if attributes is not None and RUN_BAGGAGE_KEY in attributes:
            return  # our own spans carry it already
        value = run_id(parent_context)
        if value:
            span.set_attribute(RUN_BAGGAGE_KEY, value)

