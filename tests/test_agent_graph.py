"""The agent graph: nodes, edges and counts of planted runs, the deadlock cycle in red, hostile names."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from swarmscope.ui.agent_graph import MAX_NODES, build
from swarmscope.ui.pages_render import templates

S = 1_000_000_000  # ns per second


def span(span_id, agent, start, end, parent="", operation="execute_tool", name=None, **extra):
    return {"span_id": span_id, "parent_span_id": parent, "trace_id": "t1", "agent_id": agent,
            "agent_name": agent, "operation": operation, "name": name or f"{operation} {agent}",
            "start_ns": start * S, "end_ns": end * S, "status_code": extra.pop("status", "Ok"),
            "open": False, "lost": False, "wait_for": "", **extra}


def agent(span_id, name, start, end, parent="", **extra):
    return span(span_id, name, start, end, parent, operation="invoke_agent", **extra)


def wait(span_id, name, target, start, end, parent, **extra):
    return span(span_id, name, start, end, parent, operation="wait", wait_for=target, **extra)


def pipeline():
    """An orchestrator runs planner, coder, tester, docs one after the other; the tester waits on the
    coder twice; one of the coder's tools fails."""
    return [
        agent("O", "orchestrator", 0, 100),
        agent("P", "planner", 1, 20, "O"),
        agent("C", "coder", 21, 50, "O"),
        span("C.t", "coder", 22, 30, "C", status="Error"),
        agent("T", "tester", 51, 80, "O"),
        wait("T.w1", "tester", "coder", 52, 60, "T"),
        wait("T.w2", "tester", "coder", 61, 64, "T"),
        agent("D", "docs", 81, 99, "O"),
    ]


def edges(graph):
    return {(e.source, e.target, e.kind): e.count for e in graph.edges}


def test_aggregated_view_nodes_edges_and_counts():
    graph = build(pipeline(), [])
    assert graph.view == "agents"
    assert [(n.agent, n.spans, n.errors, n.invocations) for n in graph.nodes] == [
        ("orchestrator", 1, 0, 1), ("planner", 1, 0, 1), ("coder", 2, 1, 1), ("tester", 3, 0, 1),
        ("docs", 1, 0, 1)]
    assert edges(graph) == {
        ("orchestrator", "planner", "invoke"): 1, ("orchestrator", "coder", "invoke"): 1,
        ("orchestrator", "tester", "invoke"): 1, ("orchestrator", "docs", "invoke"): 1,
        ("planner", "coder", "handoff"): 1, ("coder", "tester", "handoff"): 1,
        ("tester", "docs", "handoff"): 1,
        ("tester", "coder", "wait"): 2,
    }
    waits = [e for e in graph.edges if e.kind == "wait"]
    assert waits[0].wait_ns == 8 * S and waits[0].label == "8.0 s ×2" and not waits[0].open
    assert not any(e.cycle for e in graph.edges) and not any(n.cycle for n in graph.nodes)


def test_as_run_view_has_one_node_per_invocation_in_time_order():
    spans = pipeline() + [agent("C2", "coder", 101, 110)]  # a second coder run, after the orchestrator
    graph = build(spans, [], view="asrun")
    assert graph.view == "asrun"
    assert [(n.key, n.agent, n.spans) for n in graph.nodes] == [
        ("O", "orchestrator", 1), ("P", "planner", 1), ("C", "coder", 2), ("T", "tester", 3),
        ("D", "docs", 1), ("C2", "coder", 1)]
    x = {n.key: n.x for n in graph.nodes}
    assert x["P"] < x["C"] < x["T"] < x["D"] < x["C2"]  # callees left to right in start order
    assert x["O"] == (x["P"] + x["C"] + x["T"] + x["D"]) / 4  # the caller centred over them
    rows = {n.key: n.y for n in graph.nodes}  # one row per nesting depth
    assert rows["O"] == rows["C2"] < rows["P"] == rows["C"] == rows["T"] == rows["D"]
    assert edges(graph) == {
        ("O", "P", "invoke"): 1, ("O", "C", "invoke"): 1, ("O", "T", "invoke"): 1, ("O", "D", "invoke"): 1,
        ("P", "C", "handoff"): 1, ("C", "T", "handoff"): 1, ("T", "D", "handoff"): 1,
        ("O", "C2", "handoff"): 1, ("T", "C", "wait"): 2}


def test_a_wait_on_a_shared_name_points_at_every_instance():
    """A fan-out: the lead waits for "sub-researcher", three instances run under that name."""
    spans = [agent("L", "researcher", 0, 10)]
    for i, topic in enumerate(("pricing", "latency", "licensing")):
        spans.append(dict(agent(f"S{i}", "sub-researcher", 1, 9, "L"), agent_id=f"sub-researcher:{topic}"))
    spans.append(wait("L.w", "researcher", "sub-researcher", 1, 9, "L", status="Error"))
    graph = build(spans, [])
    assert [(n.agent, n.label) for n in graph.nodes] == [
        ("researcher", "researcher"), ("sub-researcher:latency", "sub-researcher:latency"),
        ("sub-researcher:licensing", "sub-researcher:licensing"),
        ("sub-researcher:pricing", "sub-researcher:pricing")]
    assert sorted(k for k in edges(graph) if k[2] == "wait") == [
        ("researcher", f"sub-researcher:{t}", "wait") for t in ("latency", "licensing", "pricing")]
    as_run = build(spans, [], view="asrun")
    assert sorted(k for k in edges(as_run) if k[2] == "wait") == [("L", "S0", "wait"), ("L", "S1", "wait"),
                                                                   ("L", "S2", "wait")]


def test_a_bad_view_falls_back_to_aggregated():
    assert build(pipeline(), [], view="<svg onload=x>").view == "agents"
    assert build(pipeline(), [], view=None).view == "agents"


def deadlock_spans(lost: str = ""):
    ring = ["planner", "coder", "tester", "docs"]
    spans = []
    for i, name in enumerate(ring):
        spans.append(agent(name, name, i, 600, open=True))
        target = ring[(i + 1) % 4]
        spans.append(wait(f"{name}.w", name, target, i + 1, 600, name, open=True, lost=name == lost))
    spans.append(agent("reviewer", "reviewer", 5, 600, open=True))  # blocked behind the cycle, not in it
    spans.append(wait("reviewer.w", "reviewer", "docs", 6, 600, "reviewer", open=True))
    return spans


RING = ["coder", "tester", "docs", "planner"]  # as the detector orders it: from the smallest agent id
DEADLOCK_FINDING = {"kind": "deadlock", "status": "open", "agent_ids": RING,
                    "evidence": {"cycle": RING, "steps": [{"span_id": f"{a}.w"} for a in RING]}}
CYCLE_EDGES = {("planner", "coder"), ("coder", "tester"), ("tester", "docs"), ("docs", "planner")}


def test_the_four_agent_deadlock_cycle_is_marked_from_the_finding():
    for view in ("agents", "asrun"):
        graph = build(deadlock_spans(), [DEADLOCK_FINDING], view=view)
        assert {(e.source, e.target) for e in graph.edges if e.cycle} == CYCLE_EDGES, view
        assert {n.agent for n in graph.nodes if n.cycle} == {"planner", "coder", "tester", "docs"}, view
        blocked = [e for e in graph.edges if e.source == "reviewer"]
        assert len(blocked) == 1 and not blocked[0].cycle and blocked[0].open
        assert blocked[0].label.startswith("waiting ")
    assert graph.cycle == ["coder", "tester", "docs", "planner"]


def test_a_cycle_among_open_waits_is_marked_before_any_finding():
    graph = build(deadlock_spans(), [])
    assert {(e.source, e.target) for e in graph.edges if e.cycle} == CYCLE_EDGES
    # A lost (dead) waiter breaks the ring: no cycle without a finding saying otherwise.
    graph = build(deadlock_spans(lost="docs"), [])
    assert not any(e.cycle for e in graph.edges)
    # A resolved finding and ended waits: no red.
    ended = [dict(s, open=False) for s in deadlock_spans()]
    assert not any(e.cycle for e in build(ended, [dict(DEADLOCK_FINDING, status="resolved")]).edges)


def render(graph) -> str:
    return templates.env.get_template("_agent_graph.html").render(graph=graph)


def svg_of(html: str) -> ET.Element:
    return ET.fromstring(re.search(r"<svg.*</svg>", html, re.S).group(0))


NS = "{http://www.w3.org/2000/svg}"


def test_rendered_svg_marks_cycle_edges_and_nodes_with_tooltips():
    html = render(build(deadlock_spans(), [DEADLOCK_FINDING]))
    svg = svg_of(html.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))
    groups = list(svg.iter(NS + "g"))
    cycle_edges = [(g.get("data-source"), g.get("data-target")) for g in groups
                   if "edge" in g.get("class").split() and "cycle" in g.get("class").split()]
    assert set(cycle_edges) == CYCLE_EDGES
    red_nodes = sorted(g.get("data-agent") for g in groups if g.get("class").split()[:1] == ["node"]
                       and "cycle" in g.get("class").split())
    assert red_nodes == ["coder", "docs", "planner", "tester"]
    assert all(g.find(NS + "title") is not None and g.find(NS + "title").text for g in groups)
    dashed = [g for g in groups if "dashed" in g.get("class").split()]
    assert len(dashed) == 5 and all(g.find(NS + "path").get("stroke-dasharray") == "6 4" for g in dashed)
    assert 'href="?graph=asrun#graph-h"' in html


def test_hostile_agent_names_are_escaped_text():
    evil = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    spans = [agent("A", evil, 0, 10), agent("B", "javascript:alert(3)", 1, 5, "A"),
             wait("A.w", evil, "javascript:alert(3)", 6, 9, "A")]
    for view in ("agents", "asrun"):
        html = render(build(spans, [], view=view))
        assert "<script>" not in html and "<img" not in html
        assert "&lt;script&gt;" in html and "onerror=alert(2)&gt;" in html
        svg = svg_of(html.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))
        agents = {g.get("data-agent") for g in svg.iter(NS + "g") if g.get("data-agent")}
        assert agents == {evil, "javascript:alert(3)"}  # round-trips as text, attributes intact


def test_empty_run_and_node_cap():
    html = render(build([], []))
    assert "No agent spans" in html and "<svg" not in html
    many = [agent(f"a{i}", f"agent-{i:03d}", i, i + 1) for i in range(MAX_NODES + 5)]
    graph = build(many, [])
    assert len(graph.nodes) == MAX_NODES and graph.left_out == 5


def test_self_wait_parent_cycles_and_get_trace_shapes():
    # An agent waiting for itself is a cycle of one: a red loop above its node.
    spans = [agent("A", "solo", 0, 50, open=True), wait("A.w", "solo", "solo", 1, 50, "A", open=True)]
    graph = build(spans, [])
    assert [(e.source, e.target, e.cycle) for e in graph.edges] == [("solo", "solo", True)]
    assert graph.edges[0].d.startswith("M") and " C" in graph.edges[0].d
    # Hostile parent links (a cycle, a self-parent) end the walk instead of hanging it.
    looped = [agent("X", "x", 0, 5, "Y"), agent("Y", "y", 0, 5, "X"), span("Z", "x", 1, 2, "Z")]
    assert {n.agent for n in build(looped, [], view="asrun").nodes} == {"x", "y"}
    # get_trace's dicts (ISO times, no start_ns/end_ns) work too.
    iso = [{"span_id": "r", "parent_span_id": "", "agent_id": "a", "agent_name": "a",
            "operation": "invoke_agent", "start_time": "2026-12-04T10:00:00Z", "end_time": None,
            "last_seen": "2026-12-04T10:00:05Z", "open": True, "status_code": "Unset", "wait_for": ""},
           {"span_id": "w", "parent_span_id": "r", "agent_id": "a", "agent_name": "a", "operation": "wait",
            "start_time": "2026-12-04T10:00:01Z", "end_time": "2026-12-04T10:00:03.5Z", "status_code": "Ok",
            "wait_for": "b", "open": False}]
    waits = [e for e in build(iso, []).edges if e.kind == "wait"]
    assert [(e.source, e.target, e.wait_ns, e.label) for e in waits] == [("a", "b", 2_500_000_000, "2.5 s")]


def test_as_run_callers_stay_in_start_order_when_centring_would_crowd_their_row():
    spans = [agent("O1", "lead-a", 0, 10), agent("O2", "lead-b", 1, 10), agent("A", "a", 2, 9, "O1"),
             agent("C", "c", 3, 9, "O2"), agent("B", "b", 4, 9, "O1")]
    x = {n.key: n.x for n in build(spans, [], view="asrun").nodes}
    assert x == {"O1": 70.0, "O2": 200.0, "A": 330.0, "C": 460.0, "B": 590.0}


def test_long_labels_stay_inside_the_svg():
    long = "a-very-long-agent-name-from-a-framework-" * 2
    spans = [agent("A", long + "1", 0, 10), agent("B", long + "2", 1, 5, "A"), agent("C", "c", 6, 9, "A")]
    for view, chars in (("agents", 24), ("asrun", 18)):
        graph = build(spans, [], view=view)
        for n in graph.nodes:
            half = len(n.short) * 3.5
            assert len(n.short) <= chars and n.x - half >= 0 and n.x + half <= graph.width, (view, n)
        assert any(n.short.endswith("…") for n in graph.nodes)
