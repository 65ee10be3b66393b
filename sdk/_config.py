"""``init`` / ``shutdown``: wire the SDK's span processors into a TracerProvider.

The pipeline, all small processors on one provider (the application's, if it has one):

    RunIdProcessor        stamps the run id on spans from other instrumentations
    PendingSpanProcessor  pending spans + heartbeats for open agent/tool/wait spans (one thread)
      -> BoundedBatchProcessor (short delay)  so heartbeats leave promptly, apart from the main queue
    BoundedBatchProcessor finished spans -> OTLP/HTTP, never blocking, bounded memory
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter

from . import _state
from ._bounded import BoundedBatchProcessor
from ._pending import PendingSpanProcessor
from ._propagation import RunIdProcessor

logger = logging.getLogger("swarmscope")
DEFAULT_ENDPOINT = "http://localhost:4318"
# How long flush/shutdown (and so interpreter exit) may wait for a slow collector.
DEFAULT_TIMEOUT = 3.0
TRACES_PATH = "/v1/traces"

_lock = threading.RLock()
_runtime: Runtime | None = None
_hooks_installed = False


def traces_url(endpoint: str | None = None) -> str:
    """The OTLP/HTTP traces URL: the argument, else OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (taken as is),
    else OTEL_EXPORTER_OTLP_ENDPOINT, else localhost:4318; a base URL gets ``/v1/traces`` appended."""
    if endpoint is None:
        signal = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        if signal:
            return signal
        endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or DEFAULT_ENDPOINT
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith(TRACES_PATH) else endpoint + TRACES_PATH


@dataclass
class Runtime:
    """What ``init`` built; ``swarmscope.shutdown()`` takes it down again."""

    service_name: str
    tracer_provider: TracerProvider
    owns_provider: bool
    spans: BoundedBatchProcessor
    pending: PendingSpanProcessor
    endpoint: str | None

    def flush(self, timeout: float = DEFAULT_TIMEOUT) -> bool:
        # Pending first: abandoned or just-ended spans then follow their last heartbeat.
        deadline = time.monotonic() + timeout
        ok = self.pending.force_flush(int(timeout * 1000))
        return self.spans.force_flush(_millis_left(deadline)) and ok

    def shutdown(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        abandoned = self.pending.abandon_open()
        if abandoned:
            logger.warning("swarmscope: %d span(s) still open at shutdown were ended as abandoned", abandoned)
        # Both sinks flush concurrently, so the whole shutdown stays within one timeout.
        pending = threading.Thread(target=self.pending.shutdown, args=(int(timeout * 1000),), daemon=True)
        pending.start()
        self.spans.shutdown(_millis_left(deadline))
        pending.join(max(0.0, deadline - time.monotonic()))
        if self.owns_provider:
            self.tracer_provider.shutdown()

    def stats(self) -> dict[str, int]:
        return {
            "exported": self.spans.exported,
            "dropped": self.spans.dropped,
            "queued": self.spans.queued,
            "pending_sent": self.pending.sent,
            "pending_exported": self.pending.sink.exported,  # type: ignore[attr-defined]
            "pending_dropped": self.pending.sink.dropped,  # type: ignore[attr-defined]
        }


def init(
    service_name: str,
    endpoint: str | None = None,
    headers: Mapping[str, str] | None = None,
    run_id: str | None = None,
    *,
    capture_content: bool = False,
    redact: Callable[[Any, str], Any] | None = None,
    max_content_chars: int = 4096,
    pending_delay: float = 1.0,
    heartbeat_interval: float = 10.0,
    max_queue_size: int = 2048,
    export_timeout: float = 10.0,
    schedule_delay: float = 1.0,
    exporter: SpanExporter | None = None,
    tracer_provider: TracerProvider | None = None,
    instrument: bool = False,
) -> Runtime:
    """Start exporting this process's traces to swarmscope. Idempotent: later calls return the first
    Runtime. When the application already has an SDK TracerProvider (or passes one), our processors
    join it; otherwise a provider for ``service_name`` becomes the global one.

    ``exporter`` replaces OTLP/HTTP (tests pass an in-memory one); ``redact(value, attribute)`` sees
    raw content before it is recorded, only when ``capture_content`` is on. ``instrument`` also
    switches on the installed agent frameworks' tracing (``swarmscope.instrument()``).
    """
    global _runtime
    with _lock:
        if _runtime is not None:
            if service_name != _runtime.service_name:
                logger.debug("swarmscope.init(%r) ignored: already initialized", service_name)
            return _runtime

        url = None
        if exporter is None:
            url = traces_url(endpoint)
        owns = False
        provider = tracer_provider
        if provider is None:
            current = trace.get_tracer_provider()
            if isinstance(current, TracerProvider):
                provider = current
            else:
                resource = Resource.create({SERVICE_NAME: service_name})
                # Our own exit hook flushes in the right order; OTel's would run after it anyway.
                provider = TracerProvider(resource=resource, shutdown_on_exit=False)
                trace.set_tracer_provider(provider)
                owns = trace.get_tracer_provider() is provider

        def make_exporter() -> SpanExporter:
            if exporter is not None:
                return exporter
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            headers_ = dict(headers) if headers else None
            return OTLPSpanExporter(endpoint=url, headers=headers_, timeout=export_timeout)

        warned = threading.Event()  # one warning per process, whichever queue drops first
        spans = BoundedBatchProcessor(
            make_exporter(),
            max_queue_size=max_queue_size,
            schedule_delay=schedule_delay,
            shutdown_exporter=exporter is None,
            name="spans",
            warned=warned,
        )
        # Heartbeats have their own small queue and leave within ~0.1 s, whatever the main queue does.
        pending_sink = BoundedBatchProcessor(
            make_exporter(),
            max_queue_size=max(256, max_queue_size // 4),
            schedule_delay=0.1,
            shutdown_exporter=exporter is None,
            name="pending spans",
            warned=warned,
        )
        pending = PendingSpanProcessor(pending_sink, delay=pending_delay, interval=heartbeat_interval)
        for processor in (RunIdProcessor(), pending, spans):
            provider.add_span_processor(processor)  # type: ignore[arg-type]

        _state.configure(
            _state.Settings(capture_content, redact, max_content_chars),
            provider.get_tracer("swarmscope", _state.__version__),
            run_id,
        )
        _runtime = Runtime(service_name, provider, owns, spans, pending, url)
        _install_exit_hooks()
        if instrument:
            from ._instrument import instrument as instrument_frameworks

            instrument_frameworks(provider)
        return _runtime


def shutdown(timeout: float = DEFAULT_TIMEOUT) -> None:
    """End spans still open as abandoned, flush (at most ``timeout`` s), stop the SDK's threads.

    ``init`` may be called again afterwards.
    """
    global _runtime
    with _lock:
        runtime, _runtime = _runtime, None
        if runtime is None:
            return
        _state.configure(_state.Settings(), None, None)
        _state.reset_run_id()
        runtime.shutdown(timeout)


def flush(timeout: float = DEFAULT_TIMEOUT) -> bool:
    """Export what is queued now (pending spans too); False if not all of it went out in time."""
    runtime = _runtime
    return runtime.flush(timeout) if runtime is not None else True


def stats() -> dict[str, int]:
    """Counters of the export pipeline: exported, dropped (exporter down or queue full), queued."""
    runtime = _runtime
    return runtime.stats() if runtime is not None else {}


def _millis_left(deadline: float) -> int:
    return max(0, int((deadline - time.monotonic()) * 1000))


def get_runtime() -> Runtime | None:
    return _runtime


def _at_exit() -> None:
    try:
        shutdown()
    except Exception:  # never turn a clean exit into a traceback
        logger.debug("swarmscope shutdown at exit failed", exc_info=True)


def _install_exit_hooks() -> None:
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_at_exit)
    # multiprocessing's forked children leave through os._exit, which skips atexit; its own exit
    # finalizers do run, so a forked child registers one there (after multiprocessing's own reset).
    os.register_at_fork(after_in_child=_arm_multiprocessing_exit)


def _arm_multiprocessing_exit() -> None:
    util = sys.modules.get("multiprocessing.util")
    if util is not None and _runtime is not None:
        util.register_after_fork(_runtime, lambda _: util.Finalize(None, _at_exit, exitpriority=100))
