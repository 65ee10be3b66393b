"""Pending spans and heartbeats for spans that have not ended, and abandonment at exit."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import swarmscope
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from sdk_helpers import parse_spans
from swarmscope import _conventions as c
from swarmscope._pending import PendingSpanProcessor

HELPERS = str(Path(__file__).with_name("sdk_helpers.py"))


def _wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"not within {timeout}s")


WALL_START_NS = 1_700_000_000 * 10**9


@dataclass
class Driven:
    """A PendingSpanProcessor without its thread, on the test's clock: `at(s)` moves the clock to `s`
    seconds after the start, ticks, and returns the pending records that tick sent."""

    processor: PendingSpanProcessor
    exporter: InMemorySpanExporter
    now: float = 0.0
    seen: int = 0

    def clock(self) -> float:
        return self.now

    def wall_ns(self) -> int:
        return WALL_START_NS + int(self.now * 1e9)

    def at(self, seconds: float) -> list:
        self.now = seconds
        self.processor.tick()
        records = self.exporter.get_finished_spans()[self.seen:]
        self.seen += len(records)
        return list(records)


class _Sink(SimpleSpanProcessor):
    def shutdown(self, timeout_millis: int = 30000) -> None:  # called as the SDK's own sink is
        super().shutdown()


@pytest.fixture
def driven(traced) -> Driven:
    """Watches the spans of the `traced` SDK (whose own pending processor waits 30 s: out of the way)
    with a delay of 1 s and heartbeats every 5 s, on a clock the test moves."""
    exporter = InMemorySpanExporter()
    driven = Driven(None, exporter)  # type: ignore[arg-type]
    driven.processor = PendingSpanProcessor(
        _Sink(exporter), delay=1.0, interval=5.0, clock=driven.clock, wall_ns=driven.wall_ns,
        thread=False,
    )
    traced.runtime.tracer_provider.add_span_processor(driven.processor)
    return driven


def test_a_long_span_gets_a_pending_record_shaped_like_the_contract(driven):
    with swarmscope.agent("tester", task_id="T-1") as a, swarmscope.wait_for("coder", timeout=30) as w:
        assert driven.at(0.999) == []  # not due yet
        records = {p.name: p for p in driven.at(1.0)}
        attributes_then = {a.span: dict(a.span.attributes), w.span: dict(w.span.attributes)}
    agent_ctx, wait_ctx = a.span.get_span_context(), w.span.get_span_context()

    assert sorted(records) == ["invoke_agent tester", "wait coder"]
    for record, real, real_parent in (
        (records["invoke_agent tester"], a.span, "0000000000000000"),
        (records["wait coder"], w.span, format(agent_ctx.span_id, "016x")),
    ):
        ctx = real.get_span_context()
        assert record.context.trace_id == ctx.trace_id
        assert record.context.span_id != ctx.span_id
        assert record.parent.span_id == ctx.span_id
        assert record.start_time == real.start_time
        assert record.end_time == WALL_START_NS + 10**9  # the heartbeat's own time
        assert record.attributes[c.SPAN_TYPE] == "pending"
        assert record.attributes[c.PENDING_PARENT_ID] == real_parent
        assert record.attributes[c.HEARTBEAT_INTERVAL_MS] == 5000
        assert record.status.status_code is StatusCode.UNSET
        for key, value in attributes_then[real].items():  # all the real span had when it was sent
            assert record.attributes[key] == value
    assert records["wait coder"].attributes[c.AGENT_ID] == "tester"
    assert records["wait coder"].attributes[c.WAIT_TIMEOUT_MS] == 30000
    assert wait_ctx.trace_id == agent_ctx.trace_id


def test_short_spans_cost_no_pending_record(traced, driven):
    for _ in range(20):
        with swarmscope.agent("quick"), swarmscope.tool("t"):
            pass
    assert driven.at(3600) == []  # long past the delay: the ended spans came due and were skipped
    assert driven.processor.sent == 0
    assert len(traced.spans()) == 40


def test_heartbeats_repeat_while_open_and_stop_after_end(traced, driven):
    with swarmscope.agent("a"), swarmscope.wait_for("b") as w:
        assert [p.name for p in driven.at(1.0)] == ["invoke_agent a", "wait b"]
        assert driven.at(5.999) == []
        assert len(driven.at(6.0)) == 2  # every interval after the first record
        w.set_attribute("swarmscope.wait.note", "still waiting")  # later heartbeats see updates
        third = {p.name: p for p in driven.at(11.0)}
        assert third["wait b"].attributes["swarmscope.wait.note"] == "still waiting"
    assert driven.at(3600) == []  # ended: no more heartbeats
    beats = [p for p in driven.exporter.get_finished_spans() if p.name == "wait b"]
    assert [p.end_time for p in beats] == [WALL_START_NS + s * 10**9 for s in (1, 6, 11)]
    assert len({p.context.span_id for p in beats}) == 3  # each heartbeat is its own record
    assert traced.one("wait b").status.status_code is StatusCode.OK


def test_one_heartbeat_thread_serves_many_open_spans(make_traced):
    """The real thread, on the real clock: every open wait gets its records, from one thread."""
    traced = make_traced(pending_delay=0.05, heartbeat_interval=0.1)
    release = threading.Event()

    def waiter(i):
        with swarmscope.agent(f"agent-{i}"), swarmscope.wait_for("leader", timeout=30) as w:
            w.wait_event(release)

    threads = [threading.Thread(target=waiter, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    _wait_until(lambda: len({p.parent.span_id for p in traced.pending() if p.name == "wait leader"}) == 30)
    heartbeat_threads = [t for t in threading.enumerate() if t.name == "swarmscope-heartbeat"]
    release.set()
    for t in threads:
        t.join()
    assert len(heartbeat_threads) == 1
    assert len([s for s in traced.spans() if s.name == "wait leader"]) == 30


def test_other_spans_are_not_watched(traced, driven):
    other = traced.runtime.tracer_provider.get_tracer("http-client")
    with other.start_as_current_span("GET /slow"):
        assert driven.at(3600) == []
    assert driven.processor.sent == 0


def test_shutdown_ends_open_spans_as_abandoned(make_traced):
    traced = make_traced()
    inside, release = threading.Event(), threading.Event()

    def stuck():
        with swarmscope.agent("worker", task_id="T-5"), swarmscope.wait_for("other"):
            inside.set()
            release.wait(30)

    thread = threading.Thread(target=stuck)
    thread.start()
    inside.wait(10)
    exporter = traced.exporter
    swarmscope.shutdown()
    release.set()
    thread.join()
    spans = {s.name: s for s in exporter.get_finished_spans()}
    for name in ("invoke_agent worker", "wait other"):
        assert spans[name].status.status_code is StatusCode.ERROR
        assert spans[name].attributes[c.ERROR_TYPE] == "abandoned"
    assert spans["invoke_agent worker"].attributes[c.TASK_STATUS] == "abandoned"


def test_interpreter_exit_abandons_what_is_still_open():
    out = subprocess.run(
        [sys.executable, HELPERS, "abandon"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    spans = {s["name"]: s for s in parse_spans(out.stdout)}
    assert spans["invoke_agent finisher"]["status"] == "OK"  # ended normally before exit
    for name in ("invoke_agent reviewer", "wait coder"):
        assert spans[name]["status"] == "ERROR", spans[name]
        assert spans[name]["attributes"][c.ERROR_TYPE] == "abandoned"
    assert spans["invoke_agent reviewer"]["attributes"][c.TASK_STATUS] == "abandoned"
    assert "ended as abandoned" in out.stderr


def test_a_forked_multiprocessing_child_flushes_at_exit_without_shutdown():
    out = subprocess.run(
        [sys.executable, HELPERS, "fork_exit"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    spans = parse_spans(out.stdout)
    child = [s for s in spans if s["name"] == "invoke_agent child"]
    parent = [s for s in spans if s["name"] == "invoke_agent parent"]
    assert len(child) == 1 and len(parent) == 1
    assert child[0]["pid"] != parent[0]["pid"]
    assert child[0]["trace_id"] == parent[0]["trace_id"]
    assert child[0]["parent_span_id"] == parent[0]["span_id"]
    assert child[0]["attributes"][c.RUN_ID] == parent[0]["attributes"][c.RUN_ID]
    # the child did not inherit (and abandon) the parent's open agent span
    assert not [s for s in spans if s["attributes"].get(c.ERROR_TYPE) == "abandoned"]
