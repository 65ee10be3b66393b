"""Configuration and the export path: endpoints, providers, and a collector that is down or slow."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import threading
import time

import pytest
import swarmscope
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from swarmscope._bounded import BoundedBatchProcessor


@pytest.mark.parametrize(
    ("argument", "env", "expected"),
    [
        (None, {}, "http://localhost:4318/v1/traces"),
        ("http://collector:4318", {}, "http://collector:4318/v1/traces"),
        ("http://collector:4318/", {}, "http://collector:4318/v1/traces"),
        ("https://x.example/otlp/v1/traces", {}, "https://x.example/otlp/v1/traces"),
        (None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:4318"}, "http://env:4318/v1/traces"),
        ("http://arg:1", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:4318"}, "http://arg:1/v1/traces"),
        (
            None,
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t/x"},
            "http://t/x",
        ),
    ],
)
def test_endpoint_resolution(monkeypatch, argument, env, expected):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert swarmscope.traces_url(argument) == expected


def test_init_is_idempotent(traced):
    again = swarmscope.init("another-name", exporter=InMemorySpanExporter())
    assert again is traced.runtime
    with swarmscope.agent("a"):
        pass
    assert [s.name for s in traced.spans()] == ["invoke_agent a"]


def test_joins_the_applications_provider_instead_of_replacing_it(make_traced):
    app_exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(app_exporter))
    exporter = InMemorySpanExporter()
    swarmscope.init("app", exporter=exporter, tracer_provider=provider)
    with swarmscope.agent("a"):
        pass
    swarmscope.flush()
    assert [s.name for s in app_exporter.get_finished_spans()] == ["invoke_agent a"]
    assert [s.name for s in exporter.get_finished_spans()] == ["invoke_agent a"]
    swarmscope.shutdown()


GLOBAL_PROVIDER_SCRIPT = """
import sys, swarmscope
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
mine = InMemorySpanExporter()
if sys.argv[1] == "existing":
    from opentelemetry.sdk.resources import Resource
    app = TracerProvider(resource=Resource.create({"service.name": "app-svc"}))
    trace.set_tracer_provider(app)
rt = swarmscope.init("svc-from-init", exporter=mine)
provider = trace.get_tracer_provider()
with swarmscope.agent("a"):
    pass
swarmscope.flush()
print(rt.owns_provider, provider is rt.tracer_provider, provider.resource.attributes.get("service.name"),
      [s.name for s in mine.get_finished_spans()])
"""


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("none", "True True svc-from-init ['invoke_agent a']"),
        ("existing", "False True app-svc ['invoke_agent a']"),  # the app's resource is kept
    ],
)
def test_global_provider_is_created_or_joined(mode, expected):
    out = subprocess.run(
        [sys.executable, "-c", GLOBAL_PROVIDER_SCRIPT, mode], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected


# a collector that is down or slow ----------------------------------------------------------------


class FailingExporter(SpanExporter):
    def __init__(self) -> None:
        self.calls = 0
        self.healthy = False

    def export(self, spans):
        self.calls += 1
        return SpanExportResult.SUCCESS if self.healthy else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        pass


class BlockedExporter(SpanExporter):
    def __init__(self) -> None:
        self.release = threading.Event()
        self.exported = 0

    def export(self, spans):
        self.release.wait(30)
        self.exported += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.set()


def _end_spans(processor, n: int) -> None:
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("t")
    for _ in range(n):
        tracer.start_span("s").end()


def test_a_failing_exporter_is_backed_off_counted_and_warned_about_once(caplog):
    exporter = FailingExporter()
    # No timer wake-ups (an hour's delay): only a full batch or a flush starts an export, so the test
    # does not depend on how fast this host ends spans. A 2 s first backoff outlasts ending 1000 spans.
    processor = BoundedBatchProcessor(
        exporter, max_queue_size=10**4, max_batch_size=100, schedule_delay=3600, first_backoff=2.0
    )
    with caplog.at_level(logging.WARNING, logger="swarmscope"):
        _end_spans(processor, 100)  # the 100th span wakes the worker: one batch, which fails
        assert not processor.force_flush(2000)
        assert exporter.calls == 1 and processor.dropped == 100
        assert processor.backing_off
        _end_spans(processor, 1000)  # ten batches' worth, all inside the backoff window
        started = time.monotonic()
        assert not processor.force_flush(10_000)  # known down: no waiting on it
        flush_seconds = time.monotonic() - started
        assert exporter.calls == 1
        assert processor.queued == 1000
        exporter.healthy = True  # the collector comes back: once the backoff ends, the queue goes out
        while processor.backing_off:
            time.sleep(0.02)
        assert processor.force_flush(10_000)
    assert processor.exported == 1000 and processor.dropped == 100 and processor.queued == 0
    assert flush_seconds < 1  # generous; it must not wait for the 10 s it was allowed
    warnings = [r for r in caplog.records if r.name == "swarmscope"]
    assert len(warnings) == 1 and "dropping" in warnings[0].getMessage()
    processor.shutdown(1000)


def test_a_hung_exporter_never_blocks_the_agent_and_memory_stays_bounded():
    exporter = BlockedExporter()
    processor = BoundedBatchProcessor(exporter, max_queue_size=500, max_batch_size=100, schedule_delay=0.01)
    agent = threading.Thread(target=_end_spans, args=(processor, 20_000))
    agent.start()
    agent.join(60)
    assert not agent.is_alive()  # 20k spans ended while the exporter hung
    assert processor.queued <= 500
    assert processor.dropped >= 20_000 - 500 - 100  # the queue, plus the batch stuck in export
    started = time.monotonic()
    assert processor.force_flush(200) is False  # gives up at its timeout instead of hanging
    assert time.monotonic() - started < 10  # generous: the point is that it returns at all
    exporter.release.set()
    processor.shutdown(5000)
    assert exporter.exported + processor.dropped == 20_000


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_collector_through_the_real_otlp_exporter(caplog):
    port = _closed_port()
    with caplog.at_level(logging.WARNING):
        runtime = swarmscope.init(
            "unreachable", endpoint=f"http://127.0.0.1:{port}", tracer_provider=TracerProvider(),
            max_queue_size=200, export_timeout=0.5, schedule_delay=0.05,
        )
        assert runtime.endpoint == f"http://127.0.0.1:{port}/v1/traces"
        for i in range(2000):
            with swarmscope.agent(f"a{i % 4}"), swarmscope.tool("t"):
                pass
        swarmscope.flush(timeout=2.0)
        stats = swarmscope.stats()
        started = time.monotonic()
        swarmscope.shutdown(timeout=1.0)
        shutdown_seconds = time.monotonic() - started
    assert stats["exported"] == 0
    assert stats["dropped"] + stats["queued"] == 4000
    assert shutdown_seconds < 10  # bounded by its timeout, not by the exporter's retries
    # one warning in all, not one per failed batch or retry (the exporter's own are held back)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert warnings[0].name == "swarmscope" and "dropping" in warnings[0].getMessage()
