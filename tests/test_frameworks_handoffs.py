"""Declared hand-offs in each dialect's shape, as raw OTLP (children before parents, in separate
requests): the hand-off chain of schema/queries/handoffs.py, the agent graph's edges (declared ones
replace the inferred), the JSON API, and names that are hostile."""

from __future__ import annotations

import os
import time

from harness import api_client
from otlp_payloads import insert_each as send  # one request each: children first, parents later
from otlp_payloads import span
from otlp_payloads import span_ids as ids
from swarmscope import _conventions as c
from swarmscope.schema.queries import spans as span_queries
from swarmscope.schema.queries.handoffs import Handoff, agent_chains, handoffs
from swarmscope.schema.resolve import resolve_traces
from swarmscope.ui import agent_graph, api_handoffs
from swarmscope.ui.pages_render import templates

MS = 1_000_000


def steps(store, trace: bytes) -> list[tuple[str, str, str, str]]:
    """(from, to, departure span, receiving span) of each hand-off, after a resolution pass."""
    resolve_traces(store, [trace.hex()])
    return [(h.from_agent, h.to_agent, h.name, h.to_span_id) for h in handoffs(store, [trace.hex()])]


def genai_agent(trace, sid, name, t, parent=b"", **attrs):
    return span(trace, sid, parent, f"invoke_agent {name}", {c.OPERATION: c.OP_AGENT, c.AGENT_NAME: name,
                                                               **attrs}, t, duration_ns=10 * MS)


def test_transfer_tool_then_genai_handoff_attributes_make_one_chain_in_time_order(store) -> None:
    """planner --transfer_to_coder--> coder --gen_ai.handoff.*--> tester, each agent a sibling under
    an orchestrator; every request brings children before their parents."""
    trace, (orch, planner, transfer, coder, handoff, tester) = os.urandom(16), ids(6)
    t0 = time.time_ns()
    send(store,
         span(trace, transfer, planner, "execute_tool transfer_to_coder",
              {c.OPERATION: c.OP_TOOL, c.TOOL_NAME: "transfer_to_coder"}, t0 + 2 * MS),
         span(trace, handoff, coder, "hand over", {c.HANDOFF_FROM: "coder", c.HANDOFF_TO: "tester"},
              t0 + 22 * MS),
         genai_agent(trace, tester, "tester", t0 + 40 * MS, orch),
         genai_agent(trace, coder, "coder", t0 + 20 * MS, orch),
         genai_agent(trace, planner, "planner", t0 + 1 * MS, orch),
         genai_agent(trace, orch, "orchestrator", t0))
    assert steps(store, trace) == [("planner", "coder", "execute_tool transfer_to_coder", ""),
                                   ("coder", "tester", "hand over", "")]
    found = handoffs(store, [trace.hex()])
    assert [h.span_id for h in found] == [transfer.hex(), handoff.hex()]
    assert found[0].start_ns == t0 + 2 * MS and found[0].start_time.endswith("Z")

    graph = agent_graph.build(span_queries.outline(store, [trace.hex()]), [], handoffs=found)
    assert graph.chains == [["planner", "coder", "tester"]]
    kinds = {(e.source, e.target, e.kind): (e.count, e.declared) for e in graph.edges}
    # The declared hand-offs replace the inferred ones between the same invocations.
    assert kinds == {("orchestrator", a, "invoke"): (1, False) for a in ("planner", "coder", "tester")} | {
        ("planner", "coder", "handoff"): (1, True), ("coder", "tester", "handoff"): (1, True)}
    assert {e.label for e in graph.edges if e.declared} == {"hand-off"}


def test_openinference_handoff_span_and_the_receiving_agent_are_one_step(store) -> None:
    """The OpenAI Agents SDK's shape: a `handoff to coder` TOOL span under the planner, and the coder's
    agent span naming the planner in `graph.node.parent_id` (set when it ends)."""
    trace, (root, planner, hand, coder, tool) = os.urandom(16), ids(5)
    t0 = time.time_ns()
    send(store,
         span(trace, hand, planner, "handoff to coder", {c.OI_SPAN_KIND: "TOOL", c.OI_INPUT_VALUE: "planner"},
              t0 + 5 * MS),
         span(trace, tool, coder, "run_tests", {c.OI_SPAN_KIND: "TOOL", c.OI_TOOL_NAME: "run_tests"},
              t0 + 21 * MS))
    send(store,
         span(trace, planner, root, "planner", {c.OI_SPAN_KIND: "AGENT", c.OI_AGENT_NAME: "planner",
                                                 c.OI_GRAPH_NODE_ID: "planner"}, t0 + 1 * MS, 10 * MS),
         span(trace, coder, root, "coder", {c.OI_SPAN_KIND: "AGENT", c.OI_AGENT_NAME: "coder",
                                             c.OI_GRAPH_NODE_ID: "coder",
                                             c.OI_GRAPH_NODE_PARENT_ID: "planner"},
              t0 + 20 * MS, 10 * MS),
         span(trace, root, b"", "Agent workflow", {c.OI_SPAN_KIND: "AGENT"}, t0, 40 * MS))
    assert steps(store, trace) == [("planner", "coder", "handoff to coder", coder.hex())]

    found = handoffs(store, [trace.hex()])
    outline = span_queries.outline(store, [trace.hex()])
    graph = agent_graph.build(outline, [], handoffs=found)
    assert [(e.source, e.target, e.kind, e.count, e.declared) for e in graph.edges] == [
        ("planner", "coder", "handoff", 1, True)]
    as_run = agent_graph.build(outline, [], view="asrun", handoffs=found)
    assert [(e.source, e.target, e.kind, e.declared) for e in as_run.edges] == [
        (planner.hex(), coder.hex(), "handoff", True)]
    # Without the declared hand-off the same spans give an inferred edge, unlabelled.
    inferred = agent_graph.build(outline, [])
    assert [(e.source, e.target, e.kind, e.declared, e.label) for e in inferred.edges] == [
        ("planner", "coder", "handoff", False, "")]


def test_graph_node_parent_id_alone_is_a_hand_off(store) -> None:
    """An arrival without a departure span (a framework that only links the nodes)."""
    trace, (a, b) = os.urandom(16), ids(2)
    t0 = time.time_ns()
    send(store, span(trace, b, b"", "reviewer", {c.OI_SPAN_KIND: "AGENT", c.OI_GRAPH_NODE_ID: "reviewer",
                                                  c.OI_GRAPH_NODE_PARENT_ID: "writer"}, t0 + 20 * MS),
         span(trace, a, b"", "writer", {c.OI_SPAN_KIND: "AGENT", c.OI_GRAPH_NODE_ID: "writer"}, t0))
    assert steps(store, trace) == [("writer", "reviewer", "reviewer", b.hex())]
    graph = agent_graph.build(span_queries.outline(store, [trace.hex()]), [], view="asrun",
                              handoffs=handoffs(store, [trace.hex()]))
    assert [(e.source, e.target, e.kind, e.declared) for e in graph.edges] == [
        (a.hex(), b.hex(), "handoff", True)]


def test_langsmith_transfer_tool_to_an_agent_with_no_spans_is_still_an_edge(store) -> None:
    """LangSmith's supervisor shape; the agent handed to never names itself on a span: the aggregated
    view still draws it (the as-run view has no invocation to draw)."""
    trace, (chain, tool) = os.urandom(16), ids(2)
    t0 = time.time_ns()
    send(store, span(trace, tool, chain, "transfer_to_research_expert", {c.LANGSMITH_SPAN_KIND: "tool"},
                     t0 + MS),
         span(trace, chain, b"", "supervisor", {c.LANGSMITH_SPAN_KIND: "chain",
                                                c.LANGSMITH_AGENT_NAME: "supervisor"}, t0))
    assert steps(store, trace) == [("supervisor", "research_expert", "transfer_to_research_expert", "")]
    found = handoffs(store, [trace.hex()])
    outline = span_queries.outline(store, [trace.hex()])
    graph = agent_graph.build(outline, [], handoffs=found)
    assert [n.agent for n in graph.nodes] == ["supervisor", "research_expert"]
    assert [(e.source, e.target, e.declared) for e in graph.edges] == [
        ("supervisor", "research_expert", True)]
    assert agent_graph.build(outline, [], view="asrun", handoffs=found).edges == []


def test_a_hand_off_sent_before_its_agent_gets_the_agent_when_it_arrives(store) -> None:
    """A transfer tool span alone names no sender; the next pass, with its agent span, does (the
    latest pass wins). A trace without hand-off keys has none."""
    trace, (agent, tool, other) = os.urandom(16), ids(3)
    t0 = time.time_ns()
    send(store, span(trace, tool, agent, "transfer_to_coder", {c.OI_SPAN_KIND: "TOOL",
                                                               c.OI_TOOL_NAME: "transfer_to_coder"}, t0 + MS))
    assert steps(store, trace) == [("", "coder", "transfer_to_coder", "")]
    unknown = agent_graph.build(span_queries.outline(store, [trace.hex()]), [],
                                handoffs=handoffs(store, [trace.hex()]))
    assert [n.agent for n in unknown.nodes] == ["coder"] and unknown.edges == []  # no sender to draw
    send(store, genai_agent(trace, agent, "planner", t0))
    assert steps(store, trace) == [("planner", "coder", "transfer_to_coder", "")]

    plain = os.urandom(16)
    send(store, span(plain, other, agent, "execute_tool search",
                     {c.OPERATION: c.OP_TOOL, c.TOOL_NAME: "search"}))
    assert steps(store, plain) == []
    assert handoffs(store, []) == []


def test_api_and_hostile_names(store) -> None:
    evil = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    trace, (a, tool) = os.urandom(16), ids(2)
    t0 = time.time_ns()
    send(store, span(trace, tool, a, "x", {c.HANDOFF_FROM: evil, c.HANDOFF_TO: "javascript:alert(3)"},
                     t0 + MS),
         genai_agent(trace, a, evil, t0, **{c.RUN_ID: "r/1"}))
    resolve_traces(store, [trace.hex()])
    client = api_client(store, api_handoffs.router)
    body = client.get(f"/api/traces/{trace.hex()}/handoffs").json()
    assert [(h["from_agent"], h["to_agent"], h["span_id"]) for h in body["handoffs"]] == [
        (evil, "javascript:alert(3)", tool.hex())]
    assert body["chains"] == [[evil, "javascript:alert(3)"]]
    run = client.get("/api/runs/r/1/handoffs").json()  # a run id with a slash
    assert (run["run_id"], run["trace_ids"], run["handoffs"]) == ("r/1", [trace.hex()], body["handoffs"])
    assert client.get("/api/traces/nothex/handoffs").status_code == 400
    assert client.get("/api/runs/no-such-run/handoffs").status_code == 404

    found = handoffs(store, [trace.hex()])
    html = templates.env.get_template("_agent_graph.html").render(
        graph=agent_graph.build(span_queries.outline(store, [trace.hex()]), [], handoffs=found))
    assert "<script>" not in html and "<img" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3  # node, chain, step
    assert f'href="/traces/{trace.hex()}/spans/{tool.hex()}"' in html


def test_steps_that_do_not_continue_each_other_start_new_chains() -> None:
    steps = [Handoff("t", f"s{i}", "", i, a, b) for i, (a, b) in
             enumerate([("a", "b"), ("b", "c"), ("x", "y"), ("y", "a"), ("b", "c")])]
    assert agent_chains(steps) == [["a", "b", "c"], ["x", "y", "a"], ["b", "c"]]
    assert agent_chains([]) == []
