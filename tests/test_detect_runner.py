"""Sweeps and findings over time: one row per condition, resolve and reopen, incremental scope, a broken
detector isolated, the loop's thread, and the `swarmscope detect` command."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from scenarios import Scenario, detect, stored
from swarmscope.detectors import runner
from swarmscope.detectors.config import DetectorConfig
from swarmscope.detectors.runner import DetectionLoop, run_sweep

TESTS = str(Path(__file__).parent)
TOUCH_ALWAYS = DetectorConfig.from_dict({"sweep": {"touch_interval_s": 0}})
# No re-read of recent inserts, so that "only what arrived since the last sweep" is exact here.
NO_OVERLAP = DetectorConfig.from_dict({"sweep": {"overlap_s": 0}})


def _silent_agent(store, silent_s: float) -> int:
    """An open agent span whose heartbeats (every second) stopped `silent_s` ago; returns now (ms)."""
    sc = Scenario()
    agent = sc.agent("coder", start=-120, dur=None)
    sc.heartbeat(agent, at=-silent_s, interval_ms=1000)
    sc.insert(store)
    return sc.now_ns // 1_000_000


def test_a_persisting_condition_is_one_finding_with_moving_last_seen(store):
    now = _silent_agent(store, 30)
    first = detect(store, config=TOUCH_ALWAYS, now=now)[0]
    second = detect(store, config=TOUCH_ALWAYS, now=now + 50)[0]
    assert first.id == second.id
    assert (first.first_seen_ms, first.last_seen_ms) == (now, now)
    assert (second.first_seen_ms, second.last_seen_ms) == (now, now + 50)
    [row] = stored(store)
    assert row["first_ms"] == now and row["last_ms"] == now + 50
    # within the touch interval (30 s) an unchanged finding is not rewritten; past it, it is
    assert detect(store, now=now + 29_000)[0].last_seen_ms == now + 50
    assert stored(store)[0]["last_ms"] == now + 50
    assert detect(store, now=now + 30_050)[0].last_seen_ms == now + 30_050


def test_a_condition_that_comes_back_reopens_its_finding(store):
    sc = Scenario()
    agent = sc.agent("coder", start=-120, dur=None)
    sc.heartbeat(agent, at=-30, interval_ms=1000)
    sc.insert(store)
    now = sc.now_ns // 1_000_000
    first = detect(store, now=now)[0]
    sc.heartbeat(agent, at=0, interval_ms=1000)
    sc.insert(store)
    assert detect(store, now=now) == []
    assert stored(store)[0]["Status"] == "resolved"
    later = now + 10_000  # ten seconds of silence again
    again = detect(store, now=later)[0]
    assert again.id == first.id and again.first_seen_ms == first.first_seen_ms
    [row] = stored(store)
    assert row["Status"] == "open"


def test_historical_findings_stay_open_when_their_trace_is_out_of_scope(store):
    sc = Scenario()
    sc.agent("tester", **{"swarmscope.evidence.exit_code": 1})
    sc.insert(store)
    loop = DetectionLoop(store, NO_OVERLAP, interval_s=1)
    assert [f.kind for f in loop.run_once()] == ["phantom_completion"]
    assert loop.run_once() == []  # incremental: nothing new, nothing re-examined
    assert loop.last_result.traces_in_scope == 0
    assert stored(store)[0]["Status"] == "open"


def test_incremental_sweeps_look_only_at_traces_that_received_spans(store):
    Scenario().insert(store)
    loop = DetectionLoop(store, NO_OVERLAP, interval_s=1)
    loop.run_once()
    assert loop.last_result.traces_in_scope is None  # the first sweep is a full one
    late = Scenario()
    late.agent("tester", **{"swarmscope.evidence.validation.passed": False})
    late.insert(store)
    other = Scenario()
    other.agent("planner")
    other.insert(store)
    findings = loop.run_once()
    assert [f.trace_id for f in findings] == [late.trace_id.hex()]
    assert loop.last_result.traces_in_scope == 2
    # a failed child arriving after its parent makes the old trace dirty again
    parent = Scenario(trace_id=other.trace_id)
    parent.tool("deploy", parent=parent.agent("orchestrator", start=-100, dur=90), error="DeployFailed")
    parent.insert(store)
    assert {f.kind for f in loop.run_once()} == {"partial_failure"}


def test_an_incremental_scope_is_the_traces_inserted_in_its_window(store):
    from swarmscope.detectors.sweep import Dirty, Sweep

    before, inside, after = Scenario(), Scenario(), Scenario()
    for sc in (before, inside, after):
        sc.agent("planner")
    before.insert(store)
    time.sleep(0.02)
    start = store.scalar("SELECT toUnixTimestamp64Milli(max(InsertedAt)) FROM spans")
    inside.insert(store)
    end = store.scalar("SELECT toUnixTimestamp64Milli(max(InsertedAt)) FROM spans")
    time.sleep(0.02)
    after.insert(store)  # later than the window: the next sweep's
    now = time.time_ns() // 1_000_000
    sweep = Sweep(store, DetectorConfig(), now, now - 3_600_000, Dirty(start, end, 1))
    ids = {sc.trace_id.hex() for sc in (before, inside, after)}
    assert sweep.in_scope(ids) == {inside.trace_id.hex()}
    scope, params = sweep.scope()
    traces = {r["TraceId"] for r in store.rows(f"SELECT DISTINCT TraceId FROM spans WHERE {scope}", params)}
    assert traces == {inside.trace_id.hex()}
    full = Sweep(store, DetectorConfig(), now, now - 3_600_000)
    assert full.in_scope(ids) == ids


def test_one_broken_detector_does_not_stop_the_others(store, monkeypatch):
    def broken(sweep):
        raise RuntimeError("boom")

    patched = [
        runner.Detector(d.kind, broken, d.every_trace) if d.kind == "loop" else d
        for d in runner.DETECTORS
    ]
    monkeypatch.setattr(runner, "DETECTORS", patched)
    sc = Scenario()
    sc.agent("tester", **{"swarmscope.evidence.exit_code": 3})
    sc.insert(store)
    result = run_sweep(store, DetectorConfig())
    assert result.errors == {"loop": "RuntimeError: boom"}
    assert [f.kind for f in result.findings] == ["phantom_completion"]


def test_disabled_detectors_do_not_run(store):
    sc = Scenario()
    sc.agent("tester", **{"swarmscope.evidence.exit_code": 3})
    sc.insert(store)
    config = DetectorConfig.from_dict({"phantom_completion": {"enabled": False}})
    result = run_sweep(store, config)
    assert result.findings == [] and "phantom_completion" not in result.timings_ms


def test_loop_thread_starts_sweeps_and_stops(store):
    """The real thread on the real clock: it sweeps again and again, and stop() ends it."""
    loop = DetectionLoop(store, DetectorConfig(), interval_s=0.2).start()
    thread = loop._thread
    deadline = time.monotonic() + 20
    while loop.sweeps < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    loop.stop()
    assert loop.sweeps >= 2 and loop.last_error is None
    assert thread is not None and not thread.is_alive()  # no sweep can follow
    count = loop.sweeps
    loop.run_once()  # and the loop still sweeps when asked
    assert loop.sweeps == count + 1


def test_the_loop_sweeps_as_of_its_clock_and_runs_each_kind_when_due(store):
    now = _silent_agent(store, 1)
    clock = iter([now, now + 2_500, now + 59_000, now + 60_000])
    loop = DetectionLoop(store, NO_OVERLAP, interval_s=1, clock=lambda: next(clock))
    assert loop.run_once() == []  # one second of silence: alive (dead after three intervals)
    assert "drift" in loop.last_result.timings_ms
    [lost] = loop.run_once()  # 3.5 s of silence as of the clock's second reading
    assert lost.kind == "lost_heartbeat" and lost.first_seen_ms == now + 2_500
    assert "drift" not in loop.last_result.timings_ms  # drift runs every 60 s
    loop.run_once()
    assert "drift" not in loop.last_result.timings_ms
    loop.run_once()
    assert "drift" in loop.last_result.timings_ms


def _populate(data_dir: Path) -> None:
    script = f"""
from scenarios import Scenario
from swarmscope.schema.store import Store, embedded_url
store = Store(embedded_url({str(data_dir)!r}))
store.migrate()
sc = Scenario(run_id="run-cli")
sc.agent("tester", **{{"swarmscope.evidence.exit_code": 1}})
sc.agent("docs", confidence=0.3)
sc.insert(store)
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120, cwd=TESTS)  # imports scenarios


def _detect(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "swarmscope.ui.cli", "detect", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_detect_command(tmp_path):
    data = tmp_path / "data"
    _populate(data)
    out = _detect("--data", str(data), "--json", "--since", "1h", "--no-store")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert sorted(f["severity"] for f in report["findings"]) == ["error", "warning"]
    assert {f["kind"] for f in report["findings"]} == {"phantom_completion"}
    assert all(f["run_id"] == "run-cli" for f in report["findings"])
    assert report["errors"] == {}

    text = _detect("--data", str(data), "--fail-on", "error")
    assert text.returncode == 1
    assert "phantom_completion" in text.stdout and "ERROR" in text.stdout
    assert _detect("--data", str(data), "--kind", "loop", "--fail-on", "warning").returncode == 0
    stored_report = json.loads(_detect("--data", str(data), "--json").stdout)
    assert all(f["first_seen"] for f in stored_report["findings"])  # recorded the second time

    bad = _detect("--data", str(data), "--since", "yesterday")
    assert bad.returncode == 2 and "invalid time" in bad.stderr
    missing = _detect("--data", str(tmp_path / "nope"))
    assert missing.returncode != 0 and "no store" in missing.stderr


def test_open_spans_silent_past_the_horizon_are_no_longer_tracked(store):
    sc = Scenario()
    agent = sc.agent("coder", start=-600, dur=None)
    wait = sc.wait(parent=agent, for_="tester", start=-500, dur=None, timeout_ms=1000)
    for ref in (agent, wait):
        sc.heartbeat(ref, at=-120, interval_ms=None)  # no declared interval: never judged dead
    sc.insert(store)
    now = sc.now_ns // 1_000_000

    def stalled(horizon_s: float) -> list[str]:
        config = DetectorConfig.from_dict({"sweep": {"open_horizon_s": horizon_s}})
        return [f.span_ids[0] for f in detect(store, "stalled_wait", config=config, now=now, persist=False)]

    assert stalled(86400) == [wait.id]
    assert stalled(120) == [wait.id]  # last heard from exactly at the horizon: still tracked
    assert stalled(119) == []
