"""End to end: the SDK into a real `swarmscope serve` (the `server` fixture).

Each scenario runs in its own interpreter (tests/sdk_helpers.py), as agent code would.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import otlp_payloads
import pytest

HELPERS = str(Path(__file__).with_name("sdk_helpers.py"))


def _parse_time(value: str) -> float:
    """ISO 8601 (any sub-second precision, Z or offset or naive UTC) -> epoch seconds."""
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$", value)
    assert match, value
    base = datetime.fromisoformat(match.group(1)).replace(tzinfo=timezone.utc)
    if match.group(3) and match.group(3) != "Z":
        base = datetime.fromisoformat(match.group(1) + match.group(3))
    return base.timestamp() + float("0." + (match.group(2) or "0"))


def _traces(server, run_id: str) -> list[dict]:
    return server.get("/api/traces", run_id=run_id, limit=50)["traces"]


def _spans(server, trace_id: str) -> list[dict]:
    return server.get(f"/api/traces/{trace_id}")["spans"]


def _run_spans(server, run_id: str) -> list[dict]:
    return [span for t in _traces(server, run_id) for span in _spans(server, t["trace_id"])]


@pytest.mark.parametrize(("method", "mode"), [("fork", "child"), ("spawn", "child"), ("spawn", "link")])
def test_a_run_across_two_processes_is_one_run(server, method, mode):
    out = subprocess.run(
        [sys.executable, HELPERS, "handoff", server.url, method, mode],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    run_id = re.search(r"^RUN (\w+)$", out.stdout, re.M).group(1)
    wanted = {"invoke_agent planner", "execute_tool enqueue", "invoke_agent coder", "execute_tool write_file"}

    def arrived():
        spans = _run_spans(server, run_id)
        return spans if {s["name"] for s in spans} >= wanted else None

    spans = {s["name"]: s for s in server.wait_for(arrived, timeout=30)}
    assert {s["run_id"] for s in spans.values()} == {run_id}
    planner, coder = spans["invoke_agent planner"], spans["invoke_agent coder"]
    enqueue = spans["execute_tool enqueue"]
    assert spans["execute_tool write_file"]["agent_id"] == "coder"
    assert spans["execute_tool write_file"]["parent_span_id"] == coder["span_id"]
    assert enqueue["agent_id"] == "planner"
    if mode == "child":  # one trace: the consumer's agent is a child of the span that enqueued
        assert len(_traces(server, run_id)) == 1
        assert coder["trace_id"] == planner["trace_id"]
        assert coder["parent_span_id"] == enqueue["span_id"]
    else:  # linked traces: a new trace whose first span links back to the producer
        assert len(_traces(server, run_id)) == 2
        assert coder["trace_id"] != planner["trace_id"]
        assert [(link["trace_id"], link["span_id"]) for link in coder["links"]] == [
            (enqueue["trace_id"], enqueue["span_id"])
        ]
    if method == "spawn":  # a fresh interpreter initialised with its own service name
        assert spans["invoke_agent coder"]["service_name"] == "consumer"
        assert spans["invoke_agent planner"]["service_name"] == "producer"
    assert not [s for s in spans.values() if s["open"]]


def _start_waiter(server) -> tuple[subprocess.Popen, str]:
    run_id = uuid.uuid4().hex
    proc = subprocess.Popen(
        [sys.executable, HELPERS, "blocked_wait", server.url, run_id],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout.readline().strip() == "WAITING", proc.stderr.read()
    return proc, run_id


def _open_wait(server, run_id: str) -> dict | None:
    for span in _run_spans(server, run_id):
        if span["name"] == "wait coder" and span["open"] and span["last_seen"]:
            return span
    return None


def _heartbeat_advanced(server, run_id: str, since: float) -> dict:
    """The open wait, once a heartbeat later than `since` (epoch s) has arrived."""

    def check():
        span = _open_wait(server, run_id)
        return span if span and _parse_time(span["last_seen"]) > since else None

    return server.wait_for(check, timeout=30)


def _ingested(server) -> None:
    """Returns once a span posted now is stored: everything posted before it is stored too."""
    marker = otlp_payloads.span(name="ingest marker")
    body = otlp_payloads.request(marker).SerializeToString()
    status, _, _ = otlp_payloads.post(server.url, body, headers=server.headers())
    assert status == 200
    server.wait_for(lambda: server.get(f"/api/traces/{marker.trace_id.hex()}")["spans"], timeout=30)


def test_a_blocked_wait_is_visible_while_open_with_heartbeats_that_keep_coming(server):
    proc, run_id = _start_waiter(server)
    try:
        first = server.wait_for(lambda: _open_wait(server, run_id), timeout=30)
        assert first["heartbeat_interval_ms"] == 500
        assert first["agent_id"] == "tester" and first["wait_for"] == "coder" and first["run_id"] == run_id
        assert first["end_time"] is None and first["status_code"] == "Unset"
        # heartbeats keep coming: one stamped 3 s after the wait began arrives while it is still open
        _heartbeat_advanced(server, run_id, _parse_time(first["start_time"]) + 3.0)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.wait(60) == 0, proc.stderr.read()
    finally:
        proc.kill()

    def closed():
        spans = [s for s in _run_spans(server, run_id) if s["name"] == "wait coder"]
        return spans if spans and not any(s["open"] for s in spans) else None

    (done,) = server.wait_for(closed, timeout=30)
    assert done["status_code"] == "Ok"
    assert done["span_id"] == first["span_id"]
    assert done["duration_ms"] >= 3000


def test_a_process_killed_mid_wait_leaves_an_open_span_whose_heartbeats_stop(server):
    proc, run_id = _start_waiter(server)
    try:
        first = server.wait_for(lambda: _open_wait(server, run_id), timeout=30)
        _heartbeat_advanced(server, run_id, _parse_time(first["last_seen"]))  # alive: heartbeats flow
    finally:
        proc.kill()
        proc.wait(30)
    killed_at = time.time()
    _ingested(server)  # whatever the process sent before it died is stored now
    before = _open_wait(server, run_id)
    _ingested(server)
    after = _open_wait(server, run_id)
    assert before is not None and after is not None  # still open: nobody ended it
    assert after["last_seen"] == before["last_seen"]  # and no heartbeat since
    assert _parse_time(after["last_seen"]) <= killed_at
    assert after["heartbeat_interval_ms"] == 500  # so the backend can tell that silence means death
    agent = [s for s in _run_spans(server, run_id) if s["name"] == "invoke_agent tester"]
    assert len(agent) == 1 and agent[0]["open"]  # the agent died holding its task
