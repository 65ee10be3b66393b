"""Pending spans and heartbeats for spans that have not ended, and abandonment at exit."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import swarmscope
from opentelemetry.trace import StatusCode
from sdk_helpers import parse_spans
from swarmscope import _conventions as c

HELPERS = str(Path(__file__).with_name("sdk_helpers.py"))


def _wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"not within {timeout}s")


def test_a_long_span_gets_a_pending_record_shaped_like_the_contract(make_traced):
    traced = make_traced(pending_delay=0.05, heartbeat_interval=5.0)
    with swarmscope.agent("tester", task_id="T-1") as a, swarmscope.wait_for("coder", timeout=30) as w:
        _wait_until(lambda: len(traced.pending()) >= 2)
        records = {p.name: p for p in traced.pending()}
        attributes_then = {a.span: dict(a.span.attributes), w.span: dict(w.span.attributes)}
    agent_ctx, wait_ctx = a.span.get_span_context(), w.span.get_span_context()

    for record, real, real_parent in (
        (records["invoke_agent tester"], a.span, "0000000000000000"),
        (records["wait coder"], w.span, format(agent_ctx.span_id, "016x")),
    ):
        ctx = real.get_span_context()
        assert record.context.trace_id == ctx.trace_id
        assert record.context.span_id != ctx.span_id
        assert record.parent.span_id == ctx.span_id
        assert record.start_time == real.start_time
        assert record.end_time >= record.start_time
        assert record.attributes[c.SPAN_TYPE] == "pending"
        assert record.attributes[c.PENDING_PARENT_ID] == real_parent
        assert record.attributes[c.HEARTBEAT_INTERVAL_MS] == 5000
        assert record.status.status_code is StatusCode.UNSET
        for key, value in attributes_then[real].items():  # all the real span had when it was sent
            assert record.attributes[key] == value
    assert records["wait coder"].attributes[c.AGENT_ID] == "tester"
    assert records["wait coder"].attributes[c.WAIT_TIMEOUT_MS] == 30000
    assert wait_ctx.trace_id == agent_ctx.trace_id


def test_short_spans_cost_no_pending_record(make_traced):
    traced = make_traced(pending_delay=0.3, heartbeat_interval=0.3)
    for _ in range(20):
        with swarmscope.agent("quick"), swarmscope.tool("t"):
            pass
    time.sleep(0.5)  # past the delay: the ended spans come due and must be skipped
    assert traced.pending() == []
    assert len(traced.spans()) == 40


def test_heartbeats_repeat_while_open_and_stop_after_end(make_traced):
    traced = make_traced(pending_delay=0.05, heartbeat_interval=0.1)
    with swarmscope.agent("a"), swarmscope.wait_for("b") as w:
        _wait_until(lambda: len([p for p in traced.pending() if p.name == "wait b"]) >= 4)
        w.set_attribute("swarmscope.wait.note", "still waiting")  # later heartbeats see updates
        _wait_until(lambda: any("swarmscope.wait.note" in p.attributes for p in traced.pending()))
    beats = sorted((p for p in traced.pending() if p.name == "wait b"), key=lambda p: p.end_time)
    assert len({p.context.span_id for p in beats}) == len(beats)  # each heartbeat is its own record
    assert all(later.end_time > earlier.end_time for earlier, later in zip(beats, beats[1:], strict=False))
    after_end = len(traced.pending())
    time.sleep(0.4)
    assert len(traced.pending()) == after_end
    assert traced.one("wait b").status.status_code is StatusCode.OK


def test_one_heartbeat_thread_serves_many_open_spans(make_traced):
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


def test_other_spans_are_not_watched(make_traced):
    traced = make_traced(pending_delay=0.01, heartbeat_interval=0.05)
    other = traced.runtime.tracer_provider.get_tracer("http-client")
    with other.start_as_current_span("GET /slow"):
        time.sleep(0.15)
    assert traced.pending() == []


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
