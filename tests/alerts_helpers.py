"""Helpers of the alert tests: a real HTTP receiver on 127.0.0.1, a simulated clock, an evaluator."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from scenarios import Scenario
from swarmscope.alerts import evaluator as alert_evaluator
from swarmscope.alerts.notify import RetryPolicy
from swarmscope.alerts.rules import from_dict

MIN = 60_000


@dataclass
class Received:
    path: str
    body: Any
    headers: dict[str, str]


@dataclass
class Receiver:
    """Answers each POST with the next status of `statuses` (the last one repeats); with `gate` set,
    holds every request until the gate opens."""

    statuses: list[int] = field(default_factory=lambda: [200])
    gate: threading.Event | None = None
    received: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.received.append(Received(self.path, body, dict(self.headers)))
                receiver.arrived.set()
                if receiver.gate is not None:
                    receiver.gate.wait(30)
                index = min(len(receiver.received), len(receiver.statuses)) - 1
                self.send_response(receiver.statuses[index])
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def bodies(self) -> list[Any]:
        return [r.body for r in self.received]

    def close(self) -> None:
        if self.gate is not None:
            self.gate.set()
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Clock:
    """Simulated time in epoch milliseconds."""

    now: int

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> int:
        self.now += ms
        return self.now


def config(receiver: Receiver | None, *rules: dict, receiver_type: str = "webhook", **alerting: Any):
    settings: dict[str, Any] = {"external_url": "http://swarmscope.test:4318", **alerting}
    if receiver is not None:
        settings["receivers"] = [{"name": "hook", "type": receiver_type, "url": receiver.url + "/hook"}]
    return from_dict({"alerting": settings, "alerts": list(rules)})


def evaluator(store, cfg, clock: Clock, sleeps: list[float] | None = None):
    """An evaluator whose notifier records its backoff waits instead of sleeping."""
    recorded = sleeps if sleeps is not None else []
    ev = alert_evaluator.build(store, cfg, clock=clock, sleep=recorded.append,
                               retry=RetryPolicy(attempts=4, first_delay_s=1.0, max_delay_s=30.0))
    ev.notifier.start()
    return ev


def settle(ev) -> None:
    """Wait (with a deadline) until every notification enqueued so far is delivered or given up."""
    assert ev.notifier.wait_idle(timeout=30), "notifications still pending after 30 s"


def states(ev, rule: str) -> dict[str, str]:
    """label run_id (or tool/agent) -> state, for the rule's instances."""
    return {
        i.labels.get("run_id") or i.labels.get("tool") or i.labels.get("agent") or i.fingerprint: i.state
        for (name, _), i in ev.instances.items() if name == rule
    }


def plant_deadlock(store) -> tuple[Scenario, dict]:
    """Four agents waiting on each other in a ring, heartbeating (as tests/test_detect_deadlock.py). The
    heartbeats declare a 10-minute interval: however slow the machine, no agent is judged dead (a lost
    heartbeat) while a test runs."""
    sc = Scenario(run_id="run-ring")
    ring = ["planner", "coder", "tester", "docs"]
    waits = {}
    for i, name in enumerate(ring):
        agent = sc.agent(name, start=-300, dur=None)
        sc.heartbeat(agent, at=-1, interval_ms=600_000)
        waits[name] = sc.wait(parent=agent, for_=ring[(i + 1) % 4], start=-60, dur=None, timeout_ms=3_600_000)
        sc.heartbeat(waits[name], at=-1, interval_ms=600_000)
    sc.insert(store)
    return sc, waits


def write_config(tmp_path, receiver: Receiver, rules: str) -> str:
    """A config file for `swarmscope serve --config`: evaluation every second, one webhook receiver
    `hook`, and the given `[[alerts]]` tables."""
    path = tmp_path / "swarmscope.toml"
    path.write_text(f"""
[alerting]
interval = "1s"
external_url = "http://ui.test"

[[alerting.receivers]]
name = "hook"
url = "{receiver.url}/hook"
{rules}""")
    return str(path)
