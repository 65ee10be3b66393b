"""A batch span processor that never blocks the agent and never grows without bound.

Modeled on OpenTelemetry's BatchSpanProcessor, with the guarantees agent code relies on when the
collector is down or slow:

- ``on_end`` only appends to a bounded queue; when it is full the span is dropped and counted;
- a failed export drops its batch (counted) and backs off exponentially instead of hammering the
  collector, so a dead endpoint costs almost nothing; one warning says so (the exporter's own
  per-attempt log records from our threads are held back, the first becomes the warning's cause);
- ``force_flush`` and ``shutdown`` run the export on the worker thread and wait at most their timeout,
  so interpreter exit is never held hostage by an unreachable endpoint.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
import weakref
from collections.abc import Sequence

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, detach, set_value
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

logger = logging.getLogger("swarmscope")

# The OTLP exporter logs every failed attempt of every batch (retries included). Records it emits on
# our worker threads are held back instead; the first one becomes the cause in our single warning.
_worker_threads: set[int] = set()
_last_export_error: list[str] = []


class _OneWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.thread not in _worker_threads:
            return True
        if record.levelno >= logging.WARNING:
            _last_export_error[:] = [record.getMessage()]
        return False


_OTLP_LOGGER = "opentelemetry.exporter.otlp.proto.http.trace_exporter"
logging.getLogger(_OTLP_LOGGER).addFilter(_OneWarning())
# A forked child's threads may reuse the parent's thread idents; its workers register afresh.
os.register_at_fork(after_in_child=_worker_threads.clear)


class BoundedBatchProcessor(SpanProcessor):
    """Batches finished spans to ``exporter`` from one daemon thread."""

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        max_queue_size: int = 2048,
        max_batch_size: int = 512,
        schedule_delay: float = 1.0,
        first_backoff: float = 0.5,
        max_backoff: float = 30.0,
        shutdown_exporter: bool = True,
        name: str = "spans",
        warned: threading.Event | None = None,
    ) -> None:
        self.exporter = exporter
        self.name = name
        self.exported = 0
        self.dropped = 0
        self._max_queue = max_queue_size
        self._max_batch = max_batch_size
        self._delay = schedule_delay
        self._first_backoff = first_backoff
        self._max_backoff = max_backoff
        self._shutdown_exporter = shutdown_exporter
        self._failures = 0
        self._retry_at = 0.0  # monotonic time before which the worker does not try to export
        self._warned = warned or threading.Event()  # shared by processors that should warn only once
        self._stopped = False
        self._count_lock = threading.Lock()
        self._start_worker()
        weak = weakref.WeakMethod(self._start_worker)
        os.register_at_fork(after_in_child=lambda: (m := weak()) and m())

    def _start_worker(self) -> None:
        # Also the after-fork hook: a forked child has no worker thread; the parent's queue is not its own.
        self._queue: collections.deque[ReadableSpan] = collections.deque()
        self._wake = threading.Event()
        self._flush_waiters: list[threading.Event] = []
        self._flush_lock = threading.Lock()
        self._worker = threading.Thread(target=self._run, name=f"swarmscope-export-{self.name}", daemon=True)
        self._worker.start()

    # SpanProcessor -------------------------------------------------------------------------------

    def on_start(self, span, parent_context=None) -> None:  # noqa: D401 - nothing to do at start
        pass

    def on_end(self, span: ReadableSpan) -> None:
        if self._stopped or not span.context.trace_flags.sampled:
            return
        queue = self._queue
        if len(queue) >= self._max_queue:
            self._drop(1, "queue full")
            return
        queue.append(span)
        # A full batch wakes the worker, unless it is backing off (then waking it would only spin it).
        if len(queue) >= self._max_batch and not self._wake.is_set() and not self.backing_off:
            self._wake.set()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export everything queued now; wait at most ``timeout_millis``. False if not all went out.

        While a failed exporter is being backed off, return False at once: the caller (often the
        exit hook) must not sit through the exporter's own retries against a collector known down.
        """
        if self._stopped or not self._worker.is_alive() or self.backing_off:
            return False
        done = threading.Event()
        with self._flush_lock:
            self._flush_waiters.append(done)
        self._wake.set()
        return done.wait(timeout_millis / 1000) and self._failures == 0

    def shutdown(self, timeout_millis: int = 30000) -> None:
        if self._stopped:
            return
        deadline = time.monotonic() + timeout_millis / 1000
        self.force_flush(timeout_millis)
        self._stopped = True
        self._wake.set()
        self._worker.join(max(0.0, deadline - time.monotonic()))
        if self._shutdown_exporter:
            # The OTLP exporter's shutdown also interrupts a retry sleep of an export still in flight.
            self.exporter.shutdown()

    # worker --------------------------------------------------------------------------------------

    def _run(self) -> None:
        _worker_threads.add(threading.get_ident())
        while True:
            self._wake.wait(self._delay)
            self._wake.clear()
            with self._flush_lock:
                waiters, self._flush_waiters = self._flush_waiters, []
            if not self.backing_off:
                self._drain()
            for done in waiters:
                done.set()
            if self._stopped:
                return

    def _drain(self) -> None:
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(self._max_batch, len(self._queue)))]
            if not self._export(batch):
                return

    def _export(self, batch: Sequence[ReadableSpan]) -> bool:
        # Suppress instrumentation so an instrumented HTTP client does not trace our own export.
        token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        try:
            ok = self.exporter.export(batch) is SpanExportResult.SUCCESS
        except Exception:  # an exporter bug must not kill the worker
            logger.debug("swarmscope exporter raised", exc_info=True)
            ok = False
        finally:
            detach(token)
        if ok:
            with self._count_lock:
                self.exported += len(batch)
            self._failures = 0
            return True
        self._failures += 1
        backoff = min(self._max_backoff, self._first_backoff * 2 ** (self._failures - 1))
        self._retry_at = time.monotonic() + backoff
        self._drop(len(batch), "export failed")
        return False

    def _drop(self, n: int, why: str) -> None:
        with self._count_lock:
            self.dropped += n
        if not self._warned.is_set():
            self._warned.set()
            cause = f" ({_last_export_error[0]})" if _last_export_error else ""
            logger.warning(
                "swarmscope: %s to %s%s; dropping %s instead of blocking the agent. "
                "This is the only warning; swarmscope.stats() counts what was dropped.",
                why,
                getattr(self.exporter, "_endpoint", type(self.exporter).__name__),
                cause,
                self.name,
            )

    @property
    def backing_off(self) -> bool:
        return time.monotonic() < self._retry_at

    @property
    def queued(self) -> int:
        return len(self._queue)
