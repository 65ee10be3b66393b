"""Pending records of framework spans: which open spans are watched, and the agent they inherit.

The real frameworks (tests/apps/, `watched` mode) are asked, from inside a tool call that hangs, what
the pending processor watches and what each pending record would say; no clock runs, nothing sleeps."""

from __future__ import annotations

import importlib.util
import sys

import pytest
from framework_helpers import CREWAI_MISSING, crewai_python, watched_while_hanging
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from swarmscope import _conventions as c
from swarmscope._pending import PendingSpanProcessor

# [span name, agent on its pending record, kind] of every watched open span while `waiter` hangs in
# its tool call: the agent span and the tool span, both the waiter's, in each framework.
WATCHED = {
    "pydantic_swarm.py": ("pydantic_ai", [["execute_tool wait_for_approval", "waiter", c.OP_TOOL],
                                          ["invoke_agent waiter", "waiter", c.OP_AGENT]]),
    # The workflow root is an AGENT span named after the workflow: no agent of its own.
    "openai_agents_swarm.py": ("agents", [["Agent workflow", "", "AGENT"],
                                          ["wait_for_approval", "waiter", "TOOL"],
                                          ["waiter", "waiter", "AGENT"]]),
    # The outer graph's node is the agent (its subgraph of the same name is not watched twice).
    "langgraph_swarm.py": ("langgraph", [["wait_for_approval", "waiter", "TOOL"],
                                         ["waiter", "waiter", "CHAIN"]]),
    # In its own interpreter (tests/test_frameworks_e2e.py says why).
    "crewai_swarm.py": ("crewai", [["wait_for_approval.run", "waiter", "TOOL"],
                                   ["waiter.waiter's part.execute", "waiter", "AGENT"]]),
}


@pytest.mark.parametrize("app", sorted(WATCHED))
def test_a_framework_agent_hanging_in_a_tool_call_has_both_spans_watched(app: str) -> None:
    module, expected = WATCHED[app]
    python = sys.executable
    if module == "crewai" and (python := crewai_python()) is None:
        pytest.skip(CREWAI_MISSING)
    if module != "crewai" and importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (the test extra installs it)")
    assert watched_while_hanging(app, python) == expected


def make():
    pending = PendingSpanProcessor(SimpleSpanProcessor(InMemorySpanExporter()), delay=1, interval=5,
                                   clock=lambda: 0.0, thread=False)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(pending)
    return pending, provider.get_tracer("test")


def test_openinference_spans_are_watched_and_tool_calls_carry_their_agent() -> None:
    pending, tracer = make()
    # OpenInference sets only the span kind at start; agent.name comes when the agent span ends. The
    # OpenAI Agents SDK's root is an AGENT span named after the workflow: no agent; the agent span
    # under it (here below a CHAIN span) goes by its name.
    with tracer.start_as_current_span("Agent workflow", attributes={c.OI_SPAN_KIND: "AGENT"}) as root, \
            tracer.start_as_current_span("task", attributes={c.OI_SPAN_KIND: "CHAIN"}), \
            tracer.start_as_current_span("researcher", attributes={c.OI_SPAN_KIND: "AGENT"}), \
            tracer.start_as_current_span("turn", attributes={c.OI_SPAN_KIND: "CHAIN"}), \
            tracer.start_as_current_span("search", attributes={c.OI_SPAN_KIND: "TOOL"}) as tool:
        assert sorted(s.name for s in pending.open_spans()) == ["Agent workflow", "researcher", "search"]
        record = pending.pending_record(tool)
        assert record.attributes[c.AGENT_NAME] == "researcher"
        assert record.attributes[c.SPAN_TYPE] == "pending"
        assert c.AGENT_NAME not in pending.pending_record(root).attributes
    assert pending.open_spans() == []
    assert pending._agents == {} and pending._openinference == set()  # nothing kept once spans end


def test_other_dialects_are_watched_and_own_agents_kept() -> None:
    pending, tracer = make()
    kinds = [{c.TRACELOOP_SPAN_KIND: "tool"}, {c.LANGSMITH_SPAN_KIND: "tool"},
             {c.MCP_METHOD: c.MCP_TOOLS_CALL}, {c.OPERATION: c.OP_TOOL, c.AGENT_NAME: "own"},
             {c.LANGSMITH_SPAN_KIND: "chain"}]
    spans = [tracer.start_span(f"s{i}", attributes=a) for i, a in enumerate(kinds)]
    assert sorted(s.name for s in pending.open_spans()) == ["s0", "s1", "s2", "s3"]
    assert pending.pending_record(spans[3]).attributes[c.AGENT_NAME] == "own"
    assert c.AGENT_NAME not in pending.pending_record(spans[0]).attributes
    for span in spans:
        span.end()


def test_a_late_watched_span_carries_what_its_framework_said_at_start() -> None:
    pending, tracer = make()
    span = tracer.start_span("run_tests")
    assert pending.open_spans() == []
    pending.watch(span, {c.OI_SPAN_KIND: "TOOL", c.OI_TOOL_NAME: "run_tests", c.AGENT_NAME: "coder"})
    record = pending.pending_record(span)
    assert (record.attributes[c.OI_SPAN_KIND], record.attributes[c.AGENT_NAME]) == ("TOOL", "coder")
    span.end()
    assert pending.open_spans() == [] and pending._late == {}
