"""The agent graph of a run: who invoked whom, who handed off to whom, who waits on whom.

Two views of the same spans:
- "agents": one node per agent (its `gen_ai.agent.id`, else its name), sized by its spans, red ring when
  any of them failed; edges aggregated with counts;
- "asrun": one node per agent invocation (an `invoke_agent` span), left to right in start order, one row
  per nesting depth.

Edges: `invoke` (an invocation inside another agent's), `handoff` (declared by the spans: a
`transfer_to_<agent>` tool, a `handoff to X` span, `gen_ai.handoff.*`, `graph.node.parent_id`, read by
schema/queries/handoffs.py; else inferred from sibling invocations one after the other: the next started
after the previous ended, as a pipeline passes its work on), `wait` (a wait span naming the agent it
waits for; dashed, labelled with how long). An invocation a declared hand-off leads to is drawn as that
hand-off only, not also as an inferred invoke or hand-off edge. A deadlock cycle, from the run's open
deadlock findings or found here among open waits, is marked `cycle` (drawn red). Layout is computed
here, deterministically (a circle, or rows by depth); `templates/_agent_graph.html` only draws it,
escaping every name.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from swarmscope.schema.queries.handoffs import MAX_HANDOFFS, Handoff, agent_chains

from .pages_render import duration

VIEWS = ("agents", "asrun")
MAX_NODES = 60  # past it the smallest nodes are left out (and counted), so the SVG stays readable
_OPERATION_AGENT = "invoke_agent"
_OPERATION_WAIT = "wait"
_LABEL_CHARS = 24
_ASRUN_LABEL_CHARS = 18
_CHAR_PX = 7.0  # a 12 px label's widest average character width, to keep labels inside the SVG
Pairs = set[tuple[str, str]]  # (waiting agent, agent waited for)


@dataclass
class Node:
    key: str  # agent id ("agents") or invocation span id ("asrun")
    agent: str  # agent id
    label: str  # agent name (or id)
    spans: int = 0
    errors: int = 0
    invocations: int = 0
    open: bool = False
    cycle: bool = False
    start_ns: int = 0
    x: float = 0.0
    y: float = 0.0
    r: float = 14.0
    label_chars: int = _LABEL_CHARS  # shown under the node; the tooltip has it all

    @property
    def short(self) -> str:
        limit = self.label_chars
        return self.label if len(self.label) <= limit else self.label[:limit - 1] + "…"

    @property
    def title(self) -> str:
        parts = [f"{self.label} ({self.agent})" if self.agent != self.label else self.label,
                 f"{self.spans} span(s)", f"{self.errors} error(s)"]
        if self.invocations:
            parts.append(f"{self.invocations} invocation(s)")
        if self.open:
            parts.append("still running")
        if self.cycle:
            parts.append("in a deadlock cycle")
        return ", ".join(parts)


@dataclass
class Edge:
    source: str
    target: str
    kind: str  # invoke | handoff | wait
    count: int = 0
    declared: bool = False  # a hand-off the spans declare (else inferred from the order of invocations)
    wait_ns: int = 0  # longest wait (kind "wait")
    open: bool = False  # a wait still open
    cycle: bool = False
    d: str = ""  # SVG path
    lx: float = 0.0  # label position
    ly: float = 0.0

    @property
    def label(self) -> str:
        if self.kind == "wait":
            text = _duration(self.wait_ns)
            return f"{'waiting ' if self.open else ''}{text}" + (f" ×{self.count}" if self.count > 1 else "")
        times = f"×{self.count}" if self.count > 1 else ""
        return f"hand-off {times}".strip() if self.declared else times

    @property
    def title(self) -> str:
        verb = {"invoke": "invoked", "handoff": "handed off to", "wait": "waited for"}[self.kind]
        text = f"{self.source} {verb} {self.target}: {self.count} time(s)"
        if self.kind == "wait":
            text += f", longest {_duration(self.wait_ns)}" + (", still waiting" if self.open else "")
        if self.kind == "handoff":
            text += " (declared by the spans)" if self.declared else " (inferred: one ran after the other)"
        return text + (" (deadlock cycle)" if self.cycle else "")


@dataclass
class AgentGraph:
    view: str
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    width: int = 0
    height: int = 0
    left_out: int = 0  # nodes not drawn (past MAX_NODES)
    cycle: list[str] = field(default_factory=list)  # agent ids of the deadlock cycle(s), in order
    views: tuple[str, ...] = VIEWS
    handoffs: list[Handoff] = field(default_factory=list)  # the run's declared hand-offs, in time order
    handoff_limit: int = MAX_HANDOFFS  # read at most this many (the page says so when it is reached)

    @property
    def chains(self) -> list[list[str]]:
        return agent_chains(self.handoffs)


def build(spans: list[dict[str, Any]], findings: list[dict[str, Any]] | None = None,
          view: str | None = "agents", handoffs: list[Handoff] | None = None) -> AgentGraph:
    """The graph of these spans (outline or get_trace dicts) in `view` ("agents" or "asrun"), with the
    declared `handoffs` of their traces (schema/queries/handoffs.py) as hand-off edges."""
    view = view if view in VIEWS else "agents"
    model = _Model(spans, handoffs or [])
    cycle_pairs, cycle_order, cycle_waits = _cycles(model, findings or [])
    graph = AgentGraph(view, cycle=cycle_order, handoffs=list(handoffs or []))
    if view == "agents":
        _aggregated(model, graph, cycle_pairs)
    else:
        _as_run(model, graph, cycle_pairs, cycle_waits)
    return graph


# --- reading the spans ----------------------------------------------------------------------------

def _agent_of(span: dict[str, Any]) -> str:
    return span.get("agent_id") or span.get("agent_name") or ""


def _is_error(span: dict[str, Any]) -> bool:
    return span.get("status_code") == "Error"


def _interval(span: dict[str, Any]) -> tuple[int, int]:
    if "start_ns" in span:
        return int(span["start_ns"]), int(span.get("end_ns", span["start_ns"]))
    from .critical_path import _interval as iso_interval  # get_trace dicts: ISO times

    return iso_interval(span)


class _Model:
    """Spans indexed for the graph: invocations, the invocation owning each span, names, waits."""

    def __init__(self, spans: list[dict[str, Any]], handoffs: list[Handoff]) -> None:
        self.spans = spans
        self.by_id = {s["span_id"]: s for s in spans}
        self.times = {s["span_id"]: _interval(s) for s in spans}
        self.names: dict[str, str] = {}
        for s in spans:
            agent = _agent_of(s)
            if agent and (s.get("operation") == _OPERATION_AGENT or agent not in self.names):
                self.names[agent] = s.get("agent_name") or agent
        ids_by_name: dict[str, set[str]] = defaultdict(set)
        for agent, name in self.names.items():
            ids_by_name[name].add(agent)
        self.ids_by_name = {name: sorted(ids) for name, ids in ids_by_name.items()}
        # Several instances under one name (agent ids "sub-researcher:pricing", ...): label them by id.
        self.labels = {agent: agent if len(ids_by_name[name]) > 1 else name
                       for agent, name in self.names.items()}
        self.invocations = [s for s in spans if s.get("operation") == _OPERATION_AGENT and _agent_of(s)]
        self.invocations.sort(key=lambda s: (self.times[s["span_id"]][0], s["span_id"]))
        self.invocation_ids = {s["span_id"] for s in self.invocations}
        self._owner: dict[str, str] = {}
        self.waits = [s for s in spans if (s.get("operation") == _OPERATION_WAIT or s.get("wait_for"))
                      and s.get("wait_for") and _agent_of(s)]
        self.declared = [self._ends(h) for h in handoffs]
        # Receiving invocation -> the invocation that handed off to it.
        self.received = {d.target_invocation: d.source_invocation
                         for d in self.declared if d.target_invocation}

    def owner(self, span_id: str) -> str:
        """The nearest invocation at or above this span ("" if none); iterative, cycle-safe."""
        chain, current = [], span_id
        while current and current not in self._owner and current in self.by_id and current not in chain:
            if current in self.invocation_ids:
                break
            chain.append(current)
            current = self.by_id[current].get("parent_span_id") or ""
        found = self._owner.get(current, current if current in self.invocation_ids else "")
        for sid in chain:
            self._owner[sid] = found
        return found

    def targets(self, wait_for: str) -> list[str]:
        """The agent ids a wait names: the id itself, else every instance with that name (a wait on a
        fan-out names the sub-agents' common name), else the name as given (an agent not seen yet)."""
        if wait_for in self.names:
            return [wait_for]
        return self.ids_by_name.get(wait_for) or [wait_for]

    def _invocations_of(self, agents: list[str], trace_id: str) -> list[dict[str, Any]]:
        return [i for i in self.invocations if _agent_of(i) in agents and i.get("trace_id", "") == trace_id]

    def _ends(self, h: Handoff) -> _Declared:
        """Where a declared hand-off starts and lands: the invocation it was made in (the one owning its
        span, else the sender's latest one started before it) and the receiving invocation (the agent
        span that names it, else the receiver's first one started at or after it)."""
        senders, receivers = self.targets(h.from_agent), self.targets(h.to_agent)
        arrival_only = h.to_span_id == h.span_id
        source = "" if arrival_only else self.owner(h.span_id)
        if not source or _agent_of(self.by_id[source]) not in senders:
            before = [i for i in self._invocations_of(senders, h.trace_id)
                      if self.times[i["span_id"]][0] <= h.start_ns and i["span_id"] != h.span_id]
            source = before[-1]["span_id"] if before else ""
        target = h.to_span_id if h.to_span_id in self.invocation_ids else ""
        if not target:
            after = [i for i in self._invocations_of(receivers, h.trace_id)
                     if self.times[i["span_id"]][0] >= h.start_ns and i["span_id"] != source]
            target = after[0]["span_id"] if after else ""
        return _Declared(_agent_of(self.by_id[source]) if source else senders[0],
                         [_agent_of(self.by_id[target])] if target else receivers, source, target, h.start_ns)

    def handed_from(self, inv: dict[str, Any], parent: str) -> bool:
        """This invocation is the hand-off its parent invocation declared (a transfer tool that runs the
        next agent inside it): drawn as the hand-off, not also as an invocation."""
        return self.received.get(inv["span_id"], None) == parent

    def parent_invocation(self, inv: dict[str, Any]) -> str:
        return self.owner(inv.get("parent_span_id") or "")

    def handoffs(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(previous, next) sibling invocations: `next` started after `previous` ended, the latest such."""
        siblings: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for inv in self.invocations:
            siblings[self.parent_invocation(inv)].append(inv)
        pairs = []
        for group in siblings.values():
            for i, nxt in enumerate(group):
                start = self.times[nxt["span_id"]][0]
                before = [p for p in group[:i] if self.times[p["span_id"]][1] <= start
                          and not p.get("open")]
                if before:
                    prev = max(before, key=lambda p: (self.times[p["span_id"]][1], p["span_id"]))
                    if _agent_of(prev) != _agent_of(nxt) and nxt["span_id"] not in self.received:
                        pairs.append((prev, nxt))
        return pairs


@dataclass
class _Declared:
    """A declared hand-off placed on the graph: agent ids, and invocation span ids ("" if not seen)."""

    source: str
    targets: list[str]
    source_invocation: str
    target_invocation: str
    start_ns: int


def _cycles(model: _Model, findings: list[dict[str, Any]]) -> tuple[Pairs, list[str], set[str]]:
    """(agent pairs on a cycle, the cycle's agents in order, wait span ids on it): from open deadlock
    findings, and from cycles among the run's open waits (a finding may not have been written yet)."""
    pairs: Pairs = set()
    order: list[str] = []
    waits: set[str] = set()
    for f in findings:
        if f.get("kind") != "deadlock" or f.get("status", "open") != "open":
            continue
        ring = [str(a) for a in (f.get("evidence") or {}).get("cycle") or []]
        pairs.update((a, ring[(i + 1) % len(ring)]) for i, a in enumerate(ring) if len(ring) > 1)
        order += [a for a in ring if a not in order]
        waits.update(str(s.get("span_id")) for s in (f.get("evidence") or {}).get("steps") or [])
    live = defaultdict(set)
    for w in model.waits:
        if w.get("open") and not w.get("lost"):
            live[_agent_of(w)].add(w["wait_for"])
    for source in sorted(live):
        for target in sorted(live[source]):
            if source == target or _reaches(live, target, source):
                pairs.add((source, target))
                order += [a for a in (source, target) if a not in order]
    for w in model.waits:
        if w.get("open") and (_agent_of(w), w["wait_for"]) in pairs:
            waits.add(w["span_id"])
    return pairs, order, waits


def _reaches(adjacency: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, stack = {start}, [start]
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        for nxt in adjacency.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return False


# --- the two views ----------------------------------------------------------------------------------

def _aggregated(model: _Model, graph: AgentGraph, cycle_pairs: Pairs) -> None:
    nodes: dict[str, Node] = {}

    def node(agent: str) -> Node:
        if agent not in nodes:
            nodes[agent] = Node(agent, agent, model.labels.get(agent, agent), start_ns=2**63)
        return nodes[agent]

    for s in model.spans:
        agent = _agent_of(s)
        if not agent:
            continue
        n = node(agent)
        n.spans += 1
        n.errors += _is_error(s)
        n.start_ns = min(n.start_ns, model.times[s["span_id"]][0])
        if s["span_id"] in model.invocation_ids:
            n.invocations += 1
            n.open = n.open or bool(s.get("open"))
    edges: dict[tuple[str, str, str], Edge] = {}
    edge = functools.partial(_count_edge, edges)

    for inv in model.invocations:
        parent = model.parent_invocation(inv)
        if parent and _agent_of(model.by_id[parent]) != _agent_of(inv) and not model.handed_from(inv, parent):
            edge(_agent_of(model.by_id[parent]), _agent_of(inv), "invoke")
    for prev, nxt in model.handoffs():
        edge(_agent_of(prev), _agent_of(nxt), "handoff")
    for d in model.declared:
        for agent in (d.source, *d.targets):  # an agent known only from the hand-off is a node too,
            if agent and not node(agent).spans:  # placed by the hand-off's time
                nodes[agent].start_ns = min(nodes[agent].start_ns, d.start_ns)
        for target in d.targets if d.source else ():  # a sender not known yet: nothing to draw
            edge(d.source, target, "handoff").declared = True
    for w in model.waits:
        for target in model.targets(w["wait_for"]):
            e = edge(_agent_of(w), target, "wait")
            node(target)  # it may have sent no span of its own (yet)
            _add_wait(e, model, w)
    for e in edges.values():
        e.cycle = e.kind == "wait" and (e.source, e.target) in cycle_pairs and e.open
    for n in nodes.values():
        n.cycle = any(n.agent in pair for pair in cycle_pairs)
        if n.start_ns == 2**63:
            n.start_ns = 0
    ordered = sorted(nodes.values(), key=lambda n: (n.start_ns, n.agent))
    kept = _keep(graph, ordered, key=lambda n: n.spans)
    _circle(kept, graph)
    _route(graph, [e for e in edges.values() if e.source in _keys(kept) and e.target in _keys(kept)])


def _as_run(model: _Model, graph: AgentGraph, cycle_pairs: Pairs, cycle_waits: set[str]) -> None:
    nodes: dict[str, Node] = {}
    for inv in model.invocations:
        agent = _agent_of(inv)
        nodes[inv["span_id"]] = Node(inv["span_id"], agent, model.labels.get(agent, agent), invocations=1,
                                     open=bool(inv.get("open")), start_ns=model.times[inv["span_id"]][0])
    for s in model.spans:
        owner = model.owner(s["span_id"])
        if owner in nodes:
            nodes[owner].spans += 1
            nodes[owner].errors += _is_error(s)
    edges: dict[tuple[str, str, str], Edge] = {}
    edge = functools.partial(_count_edge, edges)

    for inv in model.invocations:
        parent = model.parent_invocation(inv)
        if parent and not model.handed_from(inv, parent):
            edge(parent, inv["span_id"], "invoke")
    for prev, nxt in model.handoffs():
        edge(prev["span_id"], nxt["span_id"], "handoff")
    for d in model.declared:
        if d.source_invocation and d.target_invocation:  # both ends are invocations of this run
            edge(d.source_invocation, d.target_invocation, "handoff").declared = True
    by_agent: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for inv in model.invocations:
        by_agent[_agent_of(inv)].append(inv)
    for w in model.waits:
        source = model.owner(w["span_id"])
        for agent in model.targets(w["wait_for"]):
            target = _target_invocation(model, by_agent.get(agent, []), w)
            if not source or not target:
                continue
            e = edge(source, target, "wait")
            _add_wait(e, model, w)
            if e.open and (_agent_of(w), agent) in cycle_pairs and w["span_id"] in cycle_waits:
                e.cycle = True
                nodes[source].cycle = nodes[target].cycle = True
    depth: dict[str, int] = {}
    for inv in model.invocations:  # in start order: a caller's depth is known before its callees'
        parent = model.parent_invocation(inv)
        depth[inv["span_id"]] = depth.get(parent, -1) + 1 if parent else 0
    ordered = sorted(nodes.values(), key=lambda n: (n.start_ns, n.key))
    kept = _keep(graph, ordered, key=lambda n: n.spans)
    parents = {inv["span_id"]: model.parent_invocation(inv) for inv in model.invocations}
    _layers(kept, depth, parents, graph)
    _route(graph, [e for e in edges.values() if e.source in _keys(kept) and e.target in _keys(kept)])


def _count_edge(edges: dict[tuple[str, str, str], Edge], source: str, target: str, kind: str) -> Edge:
    """The edge source -> target of this kind, one more time."""
    key = (source, target, kind)
    if key not in edges:
        edges[key] = Edge(source, target, kind)
    edges[key].count += 1
    return edges[key]


def _target_invocation(model: _Model, invocations: list[dict[str, Any]], wait: dict[str, Any]) -> str:
    """The invocation of the waited-for agent the wait overlapped: the last one started before it ended."""
    end = model.times[wait["span_id"]][1]
    started = [i for i in invocations if model.times[i["span_id"]][0] <= end]
    chosen = started[-1] if started else (invocations[0] if invocations else None)
    return chosen["span_id"] if chosen else ""


def _add_wait(e: Edge, model: _Model, wait: dict[str, Any]) -> None:
    start, end = model.times[wait["span_id"]]
    e.wait_ns = max(e.wait_ns, end - start)
    e.open = e.open or bool(wait.get("open"))


def _keep(graph: AgentGraph, ordered: list[Node], key) -> list[Node]:
    if len(ordered) <= MAX_NODES:
        return ordered
    biggest = set(id(n) for n in sorted(ordered, key=lambda n: (-key(n), n.key))[:MAX_NODES])
    graph.left_out = len(ordered) - MAX_NODES
    return [n for n in ordered if id(n) in biggest]


def _keys(nodes: list[Node]) -> set[str]:
    return {n.key for n in nodes}


# --- layout -------------------------------------------------------------------------------------------

def _radius(spans: int) -> float:
    return round(min(34.0, 12.0 + 5.0 * math.log2(max(spans, 1))), 1)


def _circle(nodes: list[Node], graph: AgentGraph) -> None:
    """Nodes on a circle in order of first activity, the first at the top, clockwise."""
    for n in nodes:
        n.r = _radius(n.spans)
    count = len(nodes)
    biggest = max((n.r for n in nodes), default=0)
    ring = 0.0 if count == 1 else max(110.0, (2 * biggest + 40) * count / (2 * math.pi))  # room for each
    margin = max(60 + biggest, _label_half(nodes) + 8)  # room for the labels at the left and right
    centre = ring + margin
    for i, n in enumerate(nodes):
        angle = -math.pi / 2 + 2 * math.pi * i / max(count, 1)
        n.x = round(centre + ring * math.cos(angle), 1)
        n.y = round(centre + ring * math.sin(angle), 1)
    graph.nodes = nodes
    graph.width = graph.height = int(2 * centre)


def _label_half(nodes: list[Node]) -> float:
    return max((len(n.short) for n in nodes), default=0) * _CHAR_PX / 2


def _layers(nodes: list[Node], depth: dict[str, int], parents: dict[str, str], graph: AgentGraph) -> None:
    """Invocations left to right in start order, one row per nesting depth (an invoked agent one row below
    its caller), so a pipeline reads as a row of hand-offs under its orchestrator; a caller is centred
    over its callees unless that crowds its row."""
    rows = sorted({depth[n.key] for n in nodes})
    row_of = {d: i for i, d in enumerate(rows)}
    rank_x = {}
    for n in nodes:
        n.label_chars = _ASRUN_LABEL_CHARS  # neighbours are 130 px apart
    x0 = max(70.0, _label_half(nodes) + 8)
    for i, n in enumerate(nodes):
        n.r = _radius(n.spans)
        n.x = rank_x[n.key] = x0 + 130.0 * i
        n.y = 60.0 + 110.0 * row_of[depth[n.key]]
    callees: dict[str, list[Node]] = defaultdict(list)
    for n in nodes:
        callees[parents.get(n.key, "")].append(n)
    for n in sorted(nodes, key=lambda n: -depth[n.key]):  # deepest first: callees are placed already
        if callees.get(n.key):
            n.x = round(sum(c.x for c in callees[n.key]) / len(callees[n.key]), 1)
    for d in rows:
        row = sorted((n for n in nodes if depth[n.key] == d), key=lambda n: n.x)
        if any(b.x - a.x < 110 for a, b in itertools.pairwise(row)):
            for n in row:
                n.x = rank_x[n.key]
    graph.nodes = nodes
    graph.width = int(2 * x0 + 130 * max(len(nodes) - 1, 0))
    graph.height = int(130 + 110 * max(len(rows) - 1, 0))


_BEND = {"invoke": 0.08, "handoff": 0.16, "wait": 0.26}  # kinds between one pair bend apart


def _route(graph: AgentGraph, edges: list[Edge]) -> None:
    """A curved path per edge, trimmed to the node circles, and its label position."""
    at = {n.key: n for n in graph.nodes}
    for e in sorted(edges, key=lambda e: (e.kind, e.source, e.target)):
        a, b = at[e.source], at[e.target]
        if a is b:  # an agent waiting for itself: a loop above the node
            e.d = (f"M{a.x - 6:.1f},{a.y - a.r:.1f} C{a.x - 30:.1f},{a.y - a.r - 40:.1f} "
                   f"{a.x + 30:.1f},{a.y - a.r - 40:.1f} {a.x + 6:.1f},{a.y - a.r:.1f}")
            e.lx, e.ly = a.x, round(a.y - a.r - 34, 1)
            graph.edges.append(e)
            continue
        dx, dy = b.x - a.x, b.y - a.y
        length = math.hypot(dx, dy) or 1.0
        ux, uy = dx / length, dy / length
        bend = _BEND[e.kind] * length
        cx, cy = (a.x + b.x) / 2 - uy * bend, (a.y + b.y) / 2 + ux * bend
        sx, sy = a.x + ux * a.r, a.y + uy * a.r
        tx, ty = b.x - ux * (b.r + 3), b.y - uy * (b.r + 3)
        e.d = f"M{sx:.1f},{sy:.1f} Q{cx:.1f},{cy:.1f} {tx:.1f},{ty:.1f}"
        e.lx, e.ly = round((sx + 2 * cx + tx) / 4, 1), round((sy + 2 * cy + ty) / 4 - 3, 1)
        graph.edges.append(e)


def _duration(ns: int) -> str:
    return duration(ns / 1e6)
