"""The wait-for graph of open waits, its cycles (deadlock) and the agents blocked behind them.

Nodes are agents (scoped by run: agent `coder` of run R1 is not agent `coder` of run R2), resources
and unresolved tasks. Every open wait span whose process is alive adds edges from the waiting agent:

- `swarmscope.wait.for = B`                 -> agent B (same run)
- `swarmscope.wait.task_id = T` (no wait.for) -> the agent whose open agent span carries
  `swarmscope.task.id = T` (same run first); a task nobody open owns is a `task` node with no way
  out: its owner finished, so it blocks nobody in a cycle
- `swarmscope.wait.resource = X`            -> resource X, and X -> its holders: every open span
  that declares `swarmscope.resource.held` (comma-separated names) containing X, or
  `swarmscope.leader.group = X` (the leader holds its group)

A cycle is a strongly connected component with more than one node (or a self-loop). Waits of dead
processes (lost_heartbeat) add no edges: a dead agent waits for nothing; it may still *hold* a
resource (a stale lock), which lost_heartbeat reports. Tarjan's algorithm, linear in the graph.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from .model import Finding, common
from .sweep import OpenSpan, Sweep


def agent_node(run_id: str, agent_id: str) -> str:
    return f"agent:{run_id}:{agent_id}"


@dataclass
class Edge:
    source: str
    target: str
    kind: str  # agent | task | resource | holder
    span: OpenSpan  # the wait span (for `holder` edges: the holding span)


@dataclass
class WaitGraph:
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    waits: list[OpenSpan] = field(default_factory=list)  # every open wait, dead ones included
    cycles: list[dict[str, Any]] = field(default_factory=list)

    def node(self, node_id: str, type_: str, **fields: Any) -> str:
        if node_id not in self.nodes:
            self.nodes[node_id] = {"id": node_id, "type": type_, **fields}
        return node_id

    def to_dict(self, now_ms: int) -> dict[str, Any]:
        return {
            "waits": [
                dict(w.wait_brief(now_ms), dead=w.dead)
                for w in self.waits
            ],
            "nodes": list(self.nodes.values()),
            "edges": [
                {
                    "source": e.source,
                    "target": e.target,
                    "kind": e.kind,
                    "trace_id": e.span.trace_id,
                    "span_id": e.span.span_id,
                }
                for e in self.edges
            ],
            "cycles": [{k: v for k, v in c.items() if not k.startswith("_")} for c in self.cycles],
        }


def _waiter(span: OpenSpan, by_id: dict[tuple[str, str], OpenSpan]) -> tuple[str, str]:
    """(run id, agent id) of the agent a wait belongs to: its own agent id, else the nearest open
    ancestor's, else its service."""
    current: OpenSpan | None = span
    for _ in range(64):
        if current is None:
            break
        if current.agent_id:
            return span.run_id or current.run_id, current.agent_id
        current = by_id.get((current.trace_id, current.parent_span_id))
    return span.run_id, f"service:{span.service}"


def build_graph(open_spans: list[OpenSpan]) -> WaitGraph:
    graph = WaitGraph()
    by_id = {(s.trace_id, s.span_id): s for s in open_spans}
    owners_in_run: dict[tuple[str, str], str] = {}
    owners_any: dict[str, set[str]] = defaultdict(set)
    holders: dict[str, list[tuple[str, OpenSpan]]] = defaultdict(list)
    for span in open_spans:
        if span.is_agent and span.task_id and span.agent_id:
            node = agent_node(span.run_id, span.agent_id)
            owners_in_run[(span.run_id, span.task_id)] = node
            owners_any[span.task_id].add(node)
        held = list(span.held) + ([span.leader_group] if span.leader_group else [])
        if held:
            run_id, agent_id = _waiter(span, by_id)
            for resource in held:
                holders[resource].append((agent_node(run_id, agent_id), span))

    linked_resources: set[str] = set()
    for span in open_spans:
        if not span.is_wait:
            continue
        graph.waits.append(span)
        if span.dead:
            continue
        run_id, agent_id = _waiter(span, by_id)
        source = graph.node(agent_node(run_id, agent_id), "agent", agent_id=agent_id, run_id=run_id or None)
        if span.wait_for:
            target = graph.node(
                agent_node(run_id, span.wait_for), "agent", agent_id=span.wait_for, run_id=run_id or None
            )
            graph.edges.append(Edge(source, target, "agent", span))
        elif span.wait_task_id:
            owner = owners_in_run.get((run_id, span.wait_task_id))
            if owner is None and len(owners_any.get(span.wait_task_id, ())) == 1:
                owner = next(iter(owners_any[span.wait_task_id]))
            if owner is not None:
                _, owner_run, owner_agent = owner.split(":", 2)
                target = graph.node(owner, "agent", agent_id=owner_agent, run_id=owner_run or None)
            else:
                target = graph.node(
                    f"task:{run_id}:{span.wait_task_id}",
                    "task",
                    task_id=span.wait_task_id,
                    run_id=run_id or None,
                )
            graph.edges.append(Edge(source, target, "task", span))
        if span.wait_resource:
            resource = span.wait_resource
            target = graph.node(f"resource:{resource}", "resource", resource=resource)
            graph.edges.append(Edge(source, target, "resource", span))
            if resource not in linked_resources:
                linked_resources.add(resource)
                for holder, holding_span in holders.get(resource, ()):
                    _, holder_run, holder_agent = holder.split(":", 2)
                    graph.node(holder, "agent", agent_id=holder_agent, run_id=holder_run or None)
                    graph.edges.append(Edge(target, holder, "holder", holding_span))
    graph.cycles = find_cycles(graph)
    return graph


def _strongly_connected(nodes: list[str], adjacency: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (no recursion limit on long chains)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(adjacency.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(adjacency.get(child, ()))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
    return components


def _cycle_through(start: str, members: set[str], adjacency: dict[str, list[str]]) -> list[str]:
    """Shortest cycle from `start` back to itself inside one component (BFS), as an ordered node list."""
    if start in adjacency.get(start, ()):
        return [start]
    parent: dict[str, str] = {}
    queue = deque([start])
    seen = {start}
    while queue:
        node = queue.popleft()
        for child in sorted(adjacency.get(node, ())):
            if child not in members:
                continue
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return path[::-1]
            if child not in seen:
                seen.add(child)
                parent[child] = node
                queue.append(child)
    return [start]


def find_cycles(graph: WaitGraph) -> list[dict[str, Any]]:
    adjacency: dict[str, list[str]] = defaultdict(list)
    reverse: dict[str, list[str]] = defaultdict(list)
    out_edges: dict[str, list[Edge]] = defaultdict(list)
    for edge in graph.edges:
        adjacency[edge.source].append(edge.target)
        reverse[edge.target].append(edge.source)
        out_edges[edge.source].append(edge)
    cycles = []
    for component in _strongly_connected(sorted(graph.nodes), adjacency):
        members = set(component)
        if len(component) == 1 and component[0] not in adjacency.get(component[0], ()):
            continue
        start = min((n for n in component if n.startswith("agent:")), default=min(component))
        order = _cycle_through(start, members, adjacency)
        steps = []
        for i, node in enumerate(order):
            following = order[(i + 1) % len(order)]
            edge = next(e for e in out_edges[node] if e.target == following)
            steps.append(
                {
                    "from": node,
                    "to": following,
                    "kind": edge.kind,
                    "trace_id": edge.span.trace_id,
                    "span_id": edge.span.span_id,
                    "span_name": edge.span.name,
                }
            )
        inner = [e for n in component for e in out_edges[n] if e.target in members]
        # Everyone who waits, directly or through others, on a member is blocked behind the cycle.
        blocked: set[str] = set()
        queue = deque(component)
        while queue:
            for waiter in reverse.get(queue.popleft(), ()):
                if waiter not in members and waiter not in blocked:
                    blocked.add(waiter)
                    queue.append(waiter)
        blocked_edges = [
            e for n in sorted(blocked) for e in out_edges[n] if e.target in members or e.target in blocked
        ]
        cycles.append(
            {
                "nodes": order,
                "members": sorted(component),
                "steps": steps,
                "wait_span_ids": sorted({e.span.span_id for e in inner if e.kind != "holder"}),
                "holder_span_ids": sorted({e.span.span_id for e in inner if e.kind == "holder"}),
                "blocked": [
                    {
                        "node": e.source,
                        "waits_on": e.target,
                        "trace_id": e.span.trace_id,
                        "span_id": e.span.span_id,
                        "span_name": e.span.name,
                    }
                    for e in blocked_edges
                    if e.kind != "holder"
                ],
                "_inner": inner,
                "_blocked_edges": blocked_edges,
            }
        )
    return cycles


def _label(graph: WaitGraph, node_id: str) -> str:
    node = graph.nodes.get(node_id, {})
    return node.get("agent_id") or node.get("resource") or node.get("task_id") or node_id


def detect_deadlocks(sweep: Sweep) -> list[Finding]:
    graph = build_graph(sweep.open_spans())
    findings = []
    now = sweep.now_ms
    for cycle in graph.cycles:
        inner: list[Edge] = cycle["_inner"]
        blocked_edges: list[Edge] = cycle["_blocked_edges"]
        waits = [e.span for e in inner if e.kind != "holder"]
        agents = [graph.nodes[n].get("agent_id", "") for n in cycle["nodes"] if n.startswith("agent:")]
        path = " -> ".join(_label(graph, n) for n in [*cycle["nodes"], cycle["nodes"][0]])
        blocked_agents = sorted({graph.nodes[e.source].get("agent_id", "") for e in blocked_edges})
        summary = f"deadlock: {path} ({len(agents)} agent(s) waiting on each other)"
        if blocked_agents:
            summary += f"; {len(blocked_agents)} more blocked behind it ({', '.join(blocked_agents[:5])})"
        findings.append(
            Finding(
                kind="deadlock",
                key=",".join(cycle["wait_span_ids"]),
                severity="critical",
                summary=summary,
                evidence={
                    "cycle": [_label(graph, n) for n in cycle["nodes"]],
                    "cycle_nodes": cycle["nodes"],
                    "steps": cycle["steps"],
                    "waits": [w.wait_brief(now) for w in waits],
                    "holders": [e.span.brief(now) for e in inner if e.kind == "holder"],
                    "blocked": cycle["blocked"],
                    "blocked_agents": blocked_agents,
                },
                trace_id=common(w.trace_id for w in waits),
                run_id=common(w.run_id for w in waits),
                span_ids=[
                    *cycle["wait_span_ids"],
                    *cycle["holder_span_ids"],
                    *(e.span.span_id for e in blocked_edges),
                ],
                agent_ids=[*agents, *blocked_agents],
            )
        )
    return findings
