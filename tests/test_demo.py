"""`swarmscope demo` end to end: it starts serve, feeds every scenario through the SDK (one process each),
prints the URL, and serve's own detection finds exactly the failure each scenario plants."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from harness import free_port
from swarmscope.ui import demo

# What each scenario of the first round must produce, and nothing else.
EXPECTED = {
    "demo-healthy": set(),
    "demo-deadlock": {"deadlock"},
    "demo-fanout": {"partial_failure"},
    "demo-phantom": {"phantom_completion"},
    "demo-retry_storm": {"retry_storm"},
    "demo-duplicate_payment": {"duplicate_execution"},
    "demo-loop": {"loop"},
    "demo-context_bloat": {"context_bloat"},
    "demo-crash": {"lost_heartbeat"},
}


API_KEY = "demo-key"  # the demo test runs with --api-key: the scenario processes must send it


def read(url: str, key: str | None = None) -> bytes:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as resp:
        return resp.read()


def get(url: str, key: str | None = None) -> dict:
    return json.loads(read(url, key))


def kinds_by_run(url: str) -> dict[str, set[str]]:
    """Open findings' kinds per run (a finding without a run id counts for its trace's runs)."""
    traces = get(url + "/api/traces?limit=500", API_KEY)["traces"]
    runs_of_trace = {t["trace_id"]: t["run_ids"] for t in traces}
    out: dict[str, set[str]] = {run: set() for run in EXPECTED}
    for f in get(url + "/api/findings?status=open&limit=500", API_KEY)["findings"]:
        for run in [f["run_id"]] if f["run_id"] else runs_of_trace.get(f["trace_id"] or "", []):
            out.setdefault(run, set()).add(f["kind"])
    return out


def poll(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what} not reached within {timeout:.0f} s; last value: {value!r}")


def processes_mentioning(text: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def start_demo(*args: str) -> tuple[subprocess.Popen, list[str]]:
    """`swarmscope demo ARGS`, its output lines collected as they come."""
    proc = subprocess.Popen([sys.executable, "-m", "swarmscope.ui.cli", "demo", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    return proc, lines


def await_url(proc: subprocess.Popen, lines: list[str], url: str) -> None:
    printed = f"open {url}/ in your browser"
    poll(lambda: any(printed in line for line in lines) or proc.poll() is not None, 180, "the demo's URL")
    assert proc.poll() is None, "".join(lines)


def deadlocks(url: str, status: str, key: str | None = None) -> int:
    return get(url + f"/api/findings?kind=deadlock&run_id=demo-deadlock&status={status}", key)["count"]


def test_demo_starts_serve_prints_the_url_and_every_scenario_is_detected(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc, lines = start_demo("--port", str(port), "--grpc-port", "0", "--data", str(tmp_path / "data"),
                             "--detect-interval", "0.5", "--every", "3600", "--log-level", "warning",
                             "--api-key", API_KEY)
    try:
        await_url(proc, lines, url)
        assert any("9 scenarios running" in line for line in lines), "".join(lines)
        assert f"    {url}/runs/demo-deadlock\n" in lines, "".join(lines)
        poll(lambda: {run: kinds_by_run(url).get(run) for run in EXPECTED} == EXPECTED, 120,
             "every scenario's findings")
        # The deadlock stays open while the demo runs: its waits keep heartbeating.
        waits = get(url + "/api/waits?run_id=demo-deadlock", API_KEY)
        assert sorted(w["agent_id"] for w in waits["waits"]) == ["coder", "docs", "orchestrator", "planner",
                                                                  "tester"], waits
        assert len(waits["cycles"]) == 1
        page = read(url + "/runs/demo-deadlock", API_KEY).decode()
        assert page.count('class="edge wait dashed open cycle"') == 4
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, "".join(lines)[-3000:]
    # No scenario process outlives the demo.
    poll(lambda: not processes_mentioning(url), 15, "the scenario processes ending")


def test_demo_url_feeds_a_server_that_is_already_running(server_factory):
    srv = server_factory(extra_args=["--detect-interval", "0.5"])
    proc, lines = start_demo("--url", srv.url, "--every", "3600")
    try:
        await_url(proc, lines, srv.url)
        poll(lambda: deadlocks(srv.url, "open") == 1, 60, "the deadlock finding")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 0, "".join(lines)
    # Stopping the demo ends its scenarios (the server stays up): the deadlock resolves.
    poll(lambda: deadlocks(srv.url, "resolved") == 1, 30, "the deadlock resolved")


def test_feed_keeps_the_deadlock_heartbeating_until_the_block_exits(server_factory):
    srv = server_factory(extra_args=["--detect-interval", "0.5"])
    with demo.running(srv.url, ["deadlock"], prefix="t-") as runs:
        assert runs == {"deadlock": "t-deadlock"}

        def open_waits() -> dict[str, str]:
            """wait span id -> its last heartbeat, over the run's traces."""
            traces = get(srv.url + "/api/traces?run_id=t-deadlock")["traces"]
            spans = [s for t in traces for s in get(srv.url + f"/api/traces/{t['trace_id']}")["spans"]]
            return {s["span_id"]: s["last_seen"] for s in spans if s["open"] and s["operation"] == "wait"}

        first = poll(lambda: (w := open_waits()) and len(w) == 5 and w, 30, "five open waits")
        poll(lambda: all(seen > first[sid] for sid, seen in open_waits().items()), 30, "a newer heartbeat")
        poll(lambda: get(srv.url + "/api/findings?kind=deadlock&run_id=t-deadlock&status=open")["count"] == 1,
             30, "the deadlock finding")
    # Released: the waits end, and the next sweep resolves the deadlock.
    poll(lambda: get(srv.url + "/api/findings?kind=deadlock&run_id=t-deadlock&status=resolved")["count"] == 1,
         30, "the deadlock resolved")
    poll(lambda: not processes_mentioning(srv.url), 15, "the scenario process ending")


def test_bad_input_is_refused_clearly():
    with pytest.raises(ValueError, match="unknown demo scenario.*'nope'.*known: healthy"):
        demo.feed("http://127.0.0.1:9", ["healthy", "nope"])
    for args, code, message in (
        (["--url", "ftp://example.com"], 2, "--url must be an http(s) URL"),
        (["--url", "http://127.0.0.1:9", "--every", "0"], 2, "--every must be > 0"),
        (["--url", "http://127.0.0.1:9"], 1, "no swarmscope server answered at http://127.0.0.1:9/healthz"),
    ):
        out = subprocess.run([sys.executable, "-m", "swarmscope.ui.cli", "demo", *args], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == code and message in out.stderr, (args, out.stderr)
    worker = subprocess.run([sys.executable, "-m", "swarmscope.ui.demo", "nope", "http://x", "r"],
                            capture_output=True, text=True, timeout=60)
    assert worker.returncode == 2 and "scenarios: healthy, deadlock" in worker.stderr
