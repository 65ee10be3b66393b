"""The live wait-for graph as a server-rendered SVG layout: agents (circles), tasks and resources
(boxes) as nodes, open waits as arrows labelled with their age. A deadlock cycle is red (class
`cycle`), a wait past its timeout amber (`stalled`), an agent whose heartbeats stopped grey (`lost`).

Input is the `/api/waits` shape (detectors.live adds `lost_nodes`). Each run's nodes sit on their
own circle, runs side by side, so one deadlock reads as a ring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .pages_render import duration

RED, AMBER, GREY, INK, BLUE = "#c62828", "#b26a00", "#8a939e", "#3b4652", "#0b57d0"
MAX_WIDTH = 1100
MAX_NODES = 120  # past this, runs with a cycle first, then those with the most waits, until the budget
NODE_R = 20
CURVE = 16  # px: an edge bends this far sideways, so A->B and B->A do not overlap


@dataclass
class Node:
    id: str
    label: str
    kind: str  # agent | task | resource
    x: float = 0.0
    y: float = 0.0
    classes: list[str] = field(default_factory=list)
    colour: str = BLUE
    title: str = ""
    run: str = ""
    # where the name goes: outside the ring, away from the arrows that come in across it
    lx: float = 0.0
    ly: float = 0.0
    anchor: str = "middle"


@dataclass
class Edge:
    source: str
    target: str
    path: str
    label: str
    lx: float
    ly: float
    classes: list[str]
    colour: str
    title: str
    trace_id: str
    span_id: str


@dataclass
class Layout:
    width: int
    height: int
    nodes: list[Node]
    edges: list[Edge]
    groups: list[dict[str, Any]]
    runs_shown: int = 0
    runs_total: int = 0


def _label(node: dict[str, Any]) -> str:
    return node.get("agent_id") or node.get("task_id") or node.get("resource") or node["id"]


def layout(graph: dict[str, Any]) -> Layout:
    waits = {w["span_id"]: w for w in graph.get("waits", [])}
    cycle_nodes = {n for c in graph.get("cycles", []) for n in c.get("members", c.get("nodes", []))}
    lost = set(graph.get("lost_nodes", []))
    nodes: dict[str, Node] = {}
    for n in graph.get("nodes", []):
        nodes[n["id"]] = Node(n["id"], _label(n), n.get("type", "agent"), run=n.get("run_id") or "")
    for node_id in lost:  # an agent that went silent holding a call may wait on nobody: still shown
        if node_id not in nodes:
            _, run, agent = node_id.split(":", 2)
            nodes[node_id] = Node(node_id, agent, "agent", run=run)
    runs_total = len({n.run for n in nodes.values()})
    nodes = _budget(nodes, cycle_nodes, graph.get("edges", []))
    for node in nodes.values():
        node.title = f"{node.kind} {node.label}" + (f" (run {node.run})" if node.run else "")
        if node.id in lost:
            node.classes.append("lost")
            node.colour, node.title = GREY, node.title + ": heartbeats stopped"
        if node.id in cycle_nodes:
            node.classes.append("cycle")
            node.colour, node.title = RED, node.title + ": in a deadlock cycle"

    ring_order = {n: i for c in graph.get("cycles", []) for i, n in enumerate(c.get("nodes", []))}
    groups, width, height = _place(nodes, ring_order)
    edges = []
    for e in graph.get("edges", []):
        a, b = nodes.get(e["source"]), nodes.get(e["target"])
        if a is None or b is None:
            continue
        wait = waits.get(e["span_id"], {})
        age_ms = (wait.get("open_for_s") or 0) * 1000
        timeout = wait.get("timeout_ms")
        classes, colour = ["edge", e["kind"]], INK
        stalled = bool(timeout) and age_ms > timeout
        if stalled:
            classes.append("stalled")
            colour = AMBER
        if a.id in cycle_nodes and b.id in cycle_nodes:
            classes.append("cycle")
            colour = RED
        path, lx, ly = _curve(a, b)
        label = duration(age_ms) if e["kind"] != "holder" else "holds"
        title = (f"{a.label} waits on {b.label} for {duration(age_ms)}"
                 + (f" (timeout {duration(timeout)})" if timeout else "") if e["kind"] != "holder"
                 else f"{b.label} holds {a.label}")
        edges.append(Edge(a.id, b.id, path, label, lx, ly, classes, colour, title,
                          e["trace_id"], e["span_id"]))
    return Layout(width, height, list(nodes.values()), edges, groups, len(groups), runs_total)


def _budget(nodes: dict[str, Node], cycle_nodes: set[str], edges: list[dict[str, Any]]) -> dict[str, Node]:
    """At most MAX_NODES nodes, whole runs at a time: runs with a cycle, then the busiest."""
    if len(nodes) <= MAX_NODES:
        return nodes
    by_run: dict[str, list[Node]] = {}
    for node in nodes.values():
        by_run.setdefault(node.run, []).append(node)
    waits: dict[str, int] = {}
    for e in edges:
        run = nodes[e["source"]].run if e["source"] in nodes else ""
        waits[run] = waits.get(run, 0) + 1
    def urgency(run: str) -> tuple[bool, int, str]:
        return not any(n.id in cycle_nodes for n in by_run[run]), -waits.get(run, 0), run

    order = sorted(by_run, key=urgency)
    kept: dict[str, Node] = {}
    for run in order:
        if kept and len(kept) + len(by_run[run]) > MAX_NODES:
            break
        kept.update((n.id, n) for n in by_run[run])
    return kept


def _place(nodes: dict[str, Node], ring_order: dict[str, int]) -> tuple[list[dict[str, Any]], int, int]:
    """Each run's nodes on a circle (a cycle's nodes first, in cycle order, so the ring is the cycle);
    circles left to right, wrapping at MAX_WIDTH."""
    by_run: dict[str, list[Node]] = {}
    for node in sorted(nodes.values(), key=lambda n: (n.run, ring_order.get(n.id, len(nodes)), n.id)):
        by_run.setdefault(node.run, []).append(node)
    groups, x, y, row_h, width = [], 0.0, 0.0, 0.0, 0.0
    for run, members in by_run.items():
        radius = 0.0 if len(members) == 1 else max(110.0, len(members) * 95 / (2 * math.pi))
        cell = 2 * radius + (220 if radius else 150)  # room for the names beside the ring
        if x and x + cell > MAX_WIDTH:
            x, y, row_h = 0.0, y + row_h, 0.0
        cx, cy = x + cell / 2, y + 30 + radius + NODE_R
        for i, node in enumerate(members):
            angle = -math.pi / 2 + 2 * math.pi * i / len(members)
            node.x, node.y = round(cx + radius * math.cos(angle), 1), round(cy + radius * math.sin(angle), 1)
            _place_label(node, math.cos(angle), math.sin(angle) if radius else 1.0)
        groups.append({"run": run, "x": x + 6, "y": y + 14, "w": cell - 12, "label": run or "no run"})
        x += cell
        row_h = max(row_h, 2 * radius + 2 * NODE_R + 60)
        width = max(width, x)
    return groups, int(max(width, 200)), int(y + row_h) if by_run else 60


def _place_label(node: Node, cos: float, sin: float) -> None:
    """The node's name just outside its ring (a lone node: below it). Waits cross the ring inside, so a
    name drawn on the inner side sat on the arrowheads coming in."""
    if abs(cos) < 0.35:  # top or bottom of the ring: centred above or below
        node.anchor = "middle"
        node.lx, node.ly = node.x, round(node.y + (NODE_R + 14 if sin > 0 else -(NODE_R + 6)), 1)
    else:  # a side: beside the circle, reading away from it
        node.anchor = "start" if cos > 0 else "end"
        node.lx, node.ly = round(node.x + (NODE_R + 6) * (1 if cos > 0 else -1), 1), round(node.y + 4, 1)


def _curve(a: Node, b: Node) -> tuple[str, float, float]:
    dx, dy = b.x - a.x, b.y - a.y
    dist = math.hypot(dx, dy) or 1.0
    ux, uy = dx / dist, dy / dist
    x1, y1 = a.x + ux * NODE_R, a.y + uy * NODE_R
    x2, y2 = b.x - ux * (NODE_R + 4), b.y - uy * (NODE_R + 4)
    mx, my = (x1 + x2) / 2 - uy * CURVE, (y1 + y2) / 2 + ux * CURVE
    return (f"M{x1:.1f},{y1:.1f} Q{mx:.1f},{my:.1f} {x2:.1f},{y2:.1f}", round(mx, 1), round(my, 1))
