"""Data for the page tests: small runs to filter, a span full of hostile markup, a 10,000-span trace.

Sent as raw OTLP protobuf (tests/otlp_payloads.py) so ids and shapes are fixed; the deadlock comes from
the SDK (tests/scenarios_sdk.py), so its waits stay open and heartbeat like a real swarm's.
"""

from __future__ import annotations

import os
import time

from otlp_payloads import post, request, span
from swarmscope import _conventions as conv

HOSTILE_NAME = '<script>alert("name")</script>'
HOSTILE_ATTRS = {
    "x.markup": '<img src=x onerror=alert("attr")>',
    "x.link": "javascript:alert('link')",
    conv.AGENT_NAME: '<b onmouseover=alert("agent")>evil</b>',
    conv.RUN_ID: "run-hostile",
}
BIG_AGENTS = 9  # big subtrees: each collapsed on first render
BIG_CHILDREN = 1099
SMALL_AGENTS = 3  # small subtrees: rendered expanded
SMALL_CHILDREN = 32
BIG_TRACE_SPANS = 1 + BIG_AGENTS * (1 + BIG_CHILDREN) + SMALL_AGENTS * (1 + SMALL_CHILDREN)


def _ids(n: int) -> bytes:
    return n.to_bytes(8, "big")


def send(url: str, *spans, service: str) -> None:
    status, _, body = post(url, request(*spans, service=service).SerializeToString())
    assert status == 200, (status, body)


def feed_small_runs(url: str) -> dict[str, str]:
    """Two healthy runs in two services and one failed run; returns run id -> service."""
    now = time.time_ns() - 60_000_000_000
    runs = {"run-alpha": "billing", "run-beta": "search", "run-gamma": "billing"}
    for i, (run_id, service) in enumerate(runs.items()):
        trace = os.urandom(16)
        root, tool = os.urandom(8), os.urandom(8)
        agent = {conv.RUN_ID: run_id, conv.OPERATION: "invoke_agent", conv.AGENT_NAME: f"agent-{service}",
                 "customer.tier": "gold" if i == 0 else "free"}
        failed = run_id == "run-gamma"
        send(url,
             span(trace, root, name=f"invoke_agent agent-{service}", attrs=agent, start_ns=now + i * 1000,
                  duration_ns=900_000_000, status=2 if failed else 1),
             span(trace, tool, parent=root, name="execute_tool lookup", start_ns=now + i * 1000 + 10_000_000,
                  duration_ns=300_000_000, status=2 if failed else 0,
                  attrs={conv.RUN_ID: run_id, conv.OPERATION: "execute_tool", conv.TOOL_NAME: "lookup",
                         conv.INPUT_TOKENS: 120, conv.OUTPUT_TOKENS: 30}),
             service=service)
    return runs


def feed_hostile(url: str) -> str:
    """One trace whose span name and attributes are markup and script URLs; returns its trace id."""
    trace = os.urandom(16)
    send(url, span(trace, os.urandom(8), name=HOSTILE_NAME, attrs=HOSTILE_ATTRS), service="hostile<svc>")
    return trace.hex()


def feed_big_trace(url: str, batch: int = 2500) -> str:
    """A 10,000-span trace: a root, 9 agents of 1,099 tool calls, 3 agents of 32; returns its trace id."""
    trace = os.urandom(16)
    t0 = time.time_ns() - 120_000_000_000
    spans = [span(trace, _ids(1), name="invoke_agent orchestrator", start_ns=t0, duration_ns=100_000_000_000,
                  attrs={conv.OPERATION: "invoke_agent", conv.AGENT_NAME: "orchestrator",
                         conv.RUN_ID: "run-big"})]
    next_id = 2
    for a in range(BIG_AGENTS + SMALL_AGENTS):
        agent_id = next_id
        children = BIG_CHILDREN if a < BIG_AGENTS else SMALL_CHILDREN
        start = t0 + a * 8_000_000_000
        spans.append(span(trace, _ids(agent_id), parent=_ids(1), name=f"invoke_agent worker-{a}",
                          start_ns=start, duration_ns=7_900_000_000,
                          attrs={conv.OPERATION: "invoke_agent", conv.AGENT_NAME: f"worker-{a}",
                                 conv.RUN_ID: "run-big"}))
        next_id += 1
        for c in range(children):
            spans.append(span(trace, _ids(next_id), parent=_ids(agent_id), name=f"execute_tool step-{c}",
                              start_ns=start + c * 7_000_000, duration_ns=6_000_000,
                              status=2 if c % 97 == 13 else 0,
                              attrs={conv.OPERATION: "execute_tool", conv.TOOL_NAME: f"tool-{c % 7}",
                                     conv.RUN_ID: "run-big"}))
            next_id += 1
    assert len(spans) == BIG_TRACE_SPANS == 10_000
    for i in range(0, len(spans), batch):
        send(url, *spans[i:i + batch], service="big")
    return trace.hex()
