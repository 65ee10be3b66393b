"""Alerts inside a real `swarmscope serve`: a deadlock sent over OTLP reaches a local receiver, shows in
/api/alerts and /metrics; then `swarmscope alerts check` and `swarmscope alerts test` on the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from alerts_helpers import Receiver, write_config
from otlp_payloads import post
from scenarios import Scenario
from test_metrics import scrape, value


def plant_deadlock_over_otlp(url: str) -> None:
    """Four agents waiting in a ring. Their heartbeats declare a 10-minute interval, so however slow
    the machine, they are not judged dead (which would make it a lost heartbeat) during the test."""
    sc = Scenario(run_id="run-ring")
    ring = ["planner", "coder", "tester", "docs"]
    for i, name in enumerate(ring):
        agent = sc.agent(name, start=-300, dur=None)
        sc.heartbeat(agent, at=-1, interval_ms=600_000)
        wait = sc.wait(parent=agent, for_=ring[(i + 1) % 4], start=-60, dur=None, timeout_ms=3_600_000)
        sc.heartbeat(wait, at=-1, interval_ms=600_000)
    for body in sc.requests():
        assert post(url, body)[0] == 200


DEADLOCK_RULE = """
[[alerts]]
name = "SwarmDeadlocked"
kind = "finding"
finding_kind = "deadlock"
labels = { severity = "page" }
"""


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "swarmscope.ui.cli", "alerts", *args], capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_deadlock_over_otlp_notifies_and_shows_in_api_and_metrics(server_factory, tmp_path, receiver):
    config = write_config(tmp_path, receiver, DEADLOCK_RULE)
    server = server_factory(extra_args=["--config", config, "--detect-interval", "1"])
    plant_deadlock_over_otlp(server.url)
    server.wait_for(lambda: receiver.received, timeout=60)
    body = receiver.received[0].body
    assert body["status"] == "firing" and body["alerts"][0]["labels"]["run_id"] == "run-ring"
    assert body["alerts"][0]["generatorURL"] == "http://ui.test/runs/run-ring"

    alerts = server.get("/api/alerts")
    [rule] = alerts["rules"]
    assert rule["name"] == "SwarmDeadlocked" and rule["state"] == "firing" and rule["health"] == "ok"
    assert [i["labels"]["run_id"] for i in rule["instances"]] == ["run-ring"]
    assert alerts["receivers"] == [{"name": "hook", "type": "webhook"}]
    server.wait_for(lambda: server.get("/api/alerts/deliveries")["deliveries"])
    assert server.get("/api/alerts/deliveries")["deliveries"][0]["result"] == "ok"
    history = server.get("/api/alerts/history")["history"]
    assert [(h["from_state"], h["to_state"]) for h in history] == [("inactive", "firing")]  # `for` is 0

    families = scrape(server)
    assert value(families, "swarmscope_alerts", state="firing") == 1
    assert value(families, "swarmscope_alert_rules", health="ok") == 1
    assert value(families, "swarmscope_notifications", "swarmscope_notifications_total",
                 receiver="hook", result="ok") == 1
    assert value(families, "swarmscope_open_waits") == 4
    assert value(families, "swarmscope_runs_active") == 1 and value(families, "swarmscope_runs_stalled") == 1
    assert value(families, "swarmscope_findings", kind="deadlock", severity="critical", status="open") == 1
    server.stop()

    # The store keeps the open deadlock finding: a one-off check fires (exit 1) ...
    data = str(server.data_dir)
    checked = cli("check", "--config", config, "--data", data, "--json")
    assert checked.returncode == 1, checked.stderr
    [result] = json.loads(checked.stdout)["rules"]
    assert result["state"] == "firing" and result["instances"][0]["labels"]["run_id"] == "run-ring"
    # ... and a rule that does not hold leaves it at 0.
    quiet = tmp_path / "quiet.toml"
    quiet.write_text('[[alerts]]\nname = "Loops"\nkind = "finding"\nfinding_kind = "loop"\n')
    checked = cli("check", "--config", str(quiet), "--data", data)
    assert checked.returncode == 0 and checked.stdout.startswith("OK       Loops (finding)"), checked
    # With --detect the sweep runs first: the waits are still open (no serve ended them), so the
    # deadlock is found again by the CLI itself.
    checked = cli("check", "--config", config, "--data", data, "--detect")
    assert checked.returncode == 1 and "FIRING   SwarmDeadlocked (finding)" in checked.stdout, checked


def test_cli_test_notification_and_bad_configs(tmp_path, receiver):
    config = write_config(tmp_path, receiver, DEADLOCK_RULE)
    sent = cli("test", "SwarmDeadlocked", "--config", config)
    assert sent.returncode == 0 and sent.stdout.strip() == "hook (webhook): ok", sent
    [received] = receiver.received
    assert received.body["alerts"][0]["labels"] == {"alertname": "SwarmDeadlocked", "severity": "page",
                                                    "test": "true"}
    assert cli("test", "Nope", "--config", config).returncode == 2
    bad = tmp_path / "bad.toml"
    bad.write_text("[[alerts]]\nname = 'Evil'\nkind = 'sql'\n"
                   "query = \"SELECT * FROM url('http://x', CSV)\"\n")
    refused = cli("check", "--config", str(bad), "--data", str(tmp_path / "d"))
    assert refused.returncode == 2 and "url() is not allowed" in refused.stderr
    # serve refuses it before it starts, with the same reason
    served = subprocess.run([sys.executable, "-m", "swarmscope.ui.cli", "serve", "--config", str(bad),
                             "--data", str(tmp_path / "d"), "--port", "0"], capture_output=True, text=True,
                            timeout=120)
    assert served.returncode == 2 and "bad --config" in served.stderr
    assert "url() is not allowed" in served.stderr
