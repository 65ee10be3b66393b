"""Helpers for the SDK tests: an in-memory pipeline fixture, a JSON-lines exporter for subprocesses,
and scenario scripts that run in their own interpreter (``python tests/sdk_helpers.py SCENARIO ...``),
because the SDK's state (global provider, exit hooks, heartbeat thread) is per process."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
import swarmscope
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

PENDING = "swarmscope.span_type"


@dataclass
class Traced:
    exporter: InMemorySpanExporter
    runtime: swarmscope.Runtime

    def all(self) -> list[ReadableSpan]:
        assert swarmscope.flush(5.0)
        return list(self.exporter.get_finished_spans())

    def spans(self) -> list[ReadableSpan]:
        """Finished (real) spans, in end order."""
        return [s for s in self.all() if s.attributes.get(PENDING) != "pending"]

    def pending(self) -> list[ReadableSpan]:
        return [s for s in self.all() if s.attributes.get(PENDING) == "pending"]

    def one(self, name: str) -> ReadableSpan:
        found = [s for s in self.spans() if s.name == name]
        assert len(found) == 1, f"{len(found)} spans named {name!r} in {[s.name for s in self.spans()]}"
        return found[0]


@pytest.fixture
def make_traced() -> Iterator:
    """make_traced(**init_kwargs) -> Traced; pending spans are slow by default so they stay out of the way."""

    def make(**kwargs: Any) -> Traced:
        exporter = InMemorySpanExporter()
        kwargs.setdefault("pending_delay", 30.0)
        runtime = swarmscope.init("sdk-test", exporter=exporter, tracer_provider=TracerProvider(), **kwargs)
        return Traced(exporter, runtime)

    yield make
    swarmscope.shutdown(timeout=5.0)


@pytest.fixture
def traced(make_traced) -> Traced:
    return make_traced()


def span_dict(span: ReadableSpan) -> dict[str, Any]:
    return {
        "name": span.name,
        "trace_id": format(span.context.trace_id, "032x"),
        "span_id": format(span.context.span_id, "016x"),
        "parent_span_id": format(span.parent.span_id, "016x") if span.parent else None,
        "status": span.status.status_code.name,
        "attributes": dict(span.attributes),
        "links": [format(link.context.span_id, "016x") for link in span.links],
        "pid": None,
    }


class JsonLinesExporter(SpanExporter):
    """Writes each span as one JSON line to a file descriptor (stdout of a scenario subprocess)."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stdout
        self.lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        import os

        with self.lock:
            for span in spans:
                record = span_dict(span)
                record["pid"] = os.getpid()
                self.stream.write("SPAN " + json.dumps(record) + "\n")
            self.stream.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def parse_spans(output: str) -> list[dict[str, Any]]:
    return [json.loads(line[5:]) for line in output.splitlines() if line.startswith("SPAN ")]


# scenarios (each runs in a fresh interpreter) ---------------------------------------------------


def scenario_abandon() -> None:
    """A thread is stuck in a wait when the interpreter exits: its spans must end as abandoned."""
    swarmscope.init("abandon", exporter=JsonLinesExporter())
    started = threading.Event()

    def stuck() -> None:
        with swarmscope.agent("reviewer", task_id="T-9"), swarmscope.wait_for("coder", task_id="T-9"):
            started.set()
            threading.Event().wait()  # forever

    threading.Thread(target=stuck, daemon=True).start()
    started.wait(5)
    with swarmscope.agent("finisher"):
        pass
    # no shutdown(): the exit hook must do it


def _fork_child(carrier: dict[str, str]) -> None:
    with swarmscope.continue_from(carrier), swarmscope.agent("child"):
        pass
    # no shutdown(): a forked multiprocessing child leaves through os._exit; our finalizer must flush


def scenario_fork_exit() -> None:
    import multiprocessing

    swarmscope.init("forker", exporter=JsonLinesExporter())
    with swarmscope.agent("parent"):
        ctx = multiprocessing.get_context("fork")
        proc = ctx.Process(target=_fork_child, args=(swarmscope.inject(),))
        proc.start()
        proc.join(30)


def scenario_handoff(endpoint: str, method: str, mode: str) -> None:
    """Producer agent hands a task to a consumer process through a multiprocessing queue."""
    import multiprocessing

    swarmscope.init("producer", endpoint=endpoint, pending_delay=30.0)
    ctx = multiprocessing.get_context(method)
    tasks = ctx.Queue()
    proc = ctx.Process(target=_consumer, args=(endpoint, tasks, mode))
    proc.start()
    with swarmscope.agent("planner", role="orchestrator", task_id="T-1") as planner:
        with swarmscope.tool("enqueue", arguments={"task": "T-1"}):
            tasks.put({"task": "T-1", "carrier": swarmscope.inject()})
        planner.set_output("planned")
    print("RUN", swarmscope.current_run_id(), flush=True)
    proc.join(60)
    swarmscope.shutdown()


def _consumer(endpoint: str, tasks: Any, mode: str) -> None:
    swarmscope.init("consumer", endpoint=endpoint, pending_delay=30.0)
    message = tasks.get(timeout=30)
    with (
        swarmscope.continue_from(message["carrier"], link=mode == "link"),
        swarmscope.agent("coder", role="worker", task_id=message["task"]) as coder,
    ):
        with swarmscope.tool("write_file", arguments={"path": "a.py"}) as t:
            t.set_result("ok")
        coder.set_evidence(exit_code=0, files_changed=["a.py"])
    # no shutdown(): exit hooks flush (atexit for spawn, multiprocessing finalizer for fork)


def scenario_blocked_wait(endpoint: str, run_id: str) -> None:
    """An agent blocks in a wait until a line arrives on stdin (the test releases it)."""
    swarmscope.init("waiter", endpoint=endpoint, run_id=run_id, pending_delay=0.2, heartbeat_interval=0.5)
    with swarmscope.agent("tester", task_id="T-2"):
        with swarmscope.tool("checkout", arguments={"branch": "main"}):
            pass  # finished work in the same trace before the wait
        swarmscope.flush()
        with swarmscope.wait_for("coder", "T-2", timeout=60) as w:
            print("WAITING", flush=True)
            released = threading.Event()
            threading.Thread(target=lambda: (sys.stdin.readline(), released.set()), daemon=True).start()
            w.wait_event(released)
    print("RELEASED", flush=True)
    swarmscope.shutdown()


if __name__ == "__main__":
    scenario = globals()["scenario_" + sys.argv[1]]
    scenario(*sys.argv[2:])
