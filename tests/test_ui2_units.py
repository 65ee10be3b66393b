"""Part 2 of the UI below the pages: finding triage in the store, run alignment, sparklines, the wait-for
graph layout, and the redirect guard."""

from __future__ import annotations

import re

from starlette.requests import Request
from swarmscope.detectors import persist
from swarmscope.detectors import triage as fq
from swarmscope.detectors.model import Finding
from swarmscope.ui import run_compare, wait_graph
from swarmscope.ui.page_auth import safe_next
from swarmscope.ui.pages_render import templates
from swarmscope.ui.sparkline import spark

NOW = 1_800_000_000_000
MINUTE = 60_000


def _finding(kind: str, key: str, severity: str = "warning", agents: tuple[str, ...] = ("coder",)) -> Finding:
    return Finding(kind=kind, key=key, severity=severity, summary=f"{kind} {key}", evidence={"k": key},
                   trace_id="ab" * 16, run_id="run-1", span_ids=["s1"], agent_ids=list(agents),
                   first_seen_ms=NOW - 10 * MINUTE, last_seen_ms=NOW - MINUTE, status="open")


def _statuses(store, status: str = "all", now: int = NOW) -> dict[str, str]:
    found = fq.search(store, fq.FindingFilters(status=status, since_ms=NOW - 3_600_000), now=now)
    return {f["kind"]: f["status"] for f in found}


def test_triage_moves_findings_out_of_the_open_list_and_a_mute_ends_by_itself(store) -> None:
    loop, bloat = _finding("loop", "a"), _finding("context_bloat", "b")
    dead = _finding("deadlock", "c", "critical")
    persist.write(store, [loop, bloat, dead])
    assert _statuses(store, "open") == {"loop": "open", "context_bloat": "open", "deadlock": "open"}
    first = fq.search(store, fq.FindingFilters(since_ms=NOW - 3_600_000), now=NOW)[0]
    assert first["kind"] == "deadlock"  # critical first

    fq.triage(store, loop.id, "acknowledge", now=NOW)
    fq.triage(store, bloat.id, "mute", minutes=30, now=NOW)
    assert _statuses(store, "open") == {"deadlock": "open"}
    assert _statuses(store) == {"loop": "acknowledged", "context_bloat": "muted", "deadlock": "open"}
    assert _statuses(store, "muted")["context_bloat"] == "muted"
    # 31 minutes later the mute is over: back in the open list; the acknowledgement stays.
    assert _statuses(store, "open", now=NOW + 31 * MINUTE) == {"context_bloat": "open", "deadlock": "open"}
    fq.triage(store, loop.id, "reopen", now=NOW + MINUTE)
    assert _statuses(store, "open", now=NOW + 2 * MINUTE)["loop"] == "open"


def test_plain_findings_list_gets_the_triage_search_reports(store) -> None:
    loop, bloat, dead = _finding("loop", "a"), _finding("context_bloat", "b"), _finding("deadlock", "c")
    persist.write(store, [loop, bloat, dead])
    fq.triage(store, loop.id, "acknowledge", by="  alice  ", now=NOW)
    fq.triage(store, bloat.id, "mute", minutes=30, by="x" * 300, now=NOW)
    items = [f.to_dict() for f in (loop, bloat, dead)]
    got = {f["kind"]: (f["status"], f["effective_status"], f["triage"])
           for f in fq.with_triage(store, items, now=NOW)}
    at, until = "2027-01-15T08:00:00.000Z", "2027-01-15T08:30:00.000Z"  # NOW, NOW + 30 minutes
    assert got == {
        "loop": ("open", "acknowledged",
                 {"state": "acknowledged", "until": None, "note": "", "by": "alice", "at": at}),
        "context_bloat": ("open", "muted",
                          {"state": "muted", "until": until, "note": "", "by": "x" * fq.MAX_BY, "at": at}),
        "deadlock": ("open", "open", None)}
    searched = {f["kind"]: f["triage"] for f in fq.search(store, fq.FindingFilters(status="all"), now=NOW)}
    assert searched == {k: v[2] for k, v in got.items()}
    # Past the mute the finding is open again, its triage record still shown.
    later = fq.with_triage(store, [bloat.to_dict()], now=NOW + 31 * MINUTE)[0]
    assert (later["effective_status"], later["triage"]["state"]) == ("open", "muted")
    assert fq.with_triage(store, []) == []


def test_triage_refuses_bad_actions_and_filters_by_agent_and_severity(store) -> None:
    persist.write(store, [_finding("loop", "a", agents=("critic",)), _finding("deadlock", "c", "critical")])
    for action, minutes in (("delete", 60), ("mute", 0), ("mute", 10**6)):
        try:
            fq.triage(store, "x", action, minutes=minutes)
        except ValueError as exc:
            assert "must be" in str(exc)
        else:
            raise AssertionError(f"{action} {minutes} was accepted")
    by_agent = fq.search(store, fq.FindingFilters(agent="critic", since_ms=0), now=NOW)
    assert [f["kind"] for f in by_agent] == ["loop"]
    by_severity = fq.search(store, fq.FindingFilters(severity="critical", since_ms=0), now=NOW)
    assert [f["kind"] for f in by_severity] == ["deadlock"]


def _span(name: str, agent: str = "", tool: str = "", start: int = 0, ms: int = 10, tokens: int = 0,
          error: bool = False, op: str = "") -> dict:
    return {"name": name, "agent_id": agent, "agent_name": agent, "tool_name": tool,
            "start_ns": start * 10**6, "end_ns": (start + ms) * 10**6, "input_tokens": tokens,
            "output_tokens": 0, "status_code": "Error" if error else "Ok",
            "operation": op or ("execute_tool" if tool else "invoke_agent")}


def test_compare_aligns_by_name_and_order_and_reports_one_sided_steps() -> None:
    assert run_compare.align(list("abcd"), list("abxd")) == [("a", "a"), ("b", "b"), ("c", None), (None, "x"),
                                                             ("d", "d")]
    a = [_span("plan", "planner", start=0, tokens=100), _span("code", "coder", start=10, ms=20, tokens=200),
         _span("run_tests", "coder", "run_tests", start=12, ms=5), _span("docs", "docs", start=40)]
    b = [_span("plan", "planner", start=0, tokens=100), _span("code", "coder", start=10, ms=50, tokens=600),
         _span("run_tests", "coder", "run_tests", start=12, ms=5, error=True),
         _span("run_tests", "coder", "run_tests", start=20, ms=5), _span("review", "critic", start=70)]
    cmp = run_compare.compare(a, b)
    agents = {p.name: p for p in cmp.agents}
    assert [p.name for p in cmp.agents] == ["planner", "coder", "docs", "critic"]
    assert agents["planner"].delta["tokens"] == 0 and not agents["planner"].changed
    assert agents["coder"].delta == {"duration_ms": 30.0, "tokens": 400, "errors": 1, "tool_calls": 1,
                                     "spans": 1, "invocations": 0}
    assert (agents["docs"].side, agents["critic"].side) == ("a", "b")
    assert [(p.name, p.delta["calls"], p.delta["errors"]) for p in cmp.tools] == [("run_tests", 1, 1)]
    assert cmp.only_a == [("docs", 1)] and cmp.only_b == [("review", 1), ("run_tests", 1)]
    assert cmp.delta["errors"] == 1 and cmp.delta["tokens"] == 400


def test_compare_highlights_a_duration_or_token_change_of_20_percent_and_no_less() -> None:
    def run(agents: dict[str, tuple[int, int, bool]]) -> list[dict]:  # agent -> (ms, tokens, error)
        return [_span(f"step-{name}", name, start=i * 1000, ms=ms, tokens=tokens, error=err)
                for i, (name, (ms, tokens, err)) in enumerate(agents.items())]

    a = run({"tok20": (100, 100, False), "tok19": (100, 100, False), "ms20": (100, 100, False),
             "ms19": (100, 100, False), "tiny": (10, 100, False), "err": (100, 100, False),
             "fresh": (100, 0, False)})
    b = run({"tok20": (100, 120, False), "tok19": (100, 119, False), "ms20": (80, 100, False),
             "ms19": (119, 100, False), "tiny": (14, 100, False), "err": (100, 100, True),
             "fresh": (100, 1, False)})
    cmp = run_compare.compare(a, b)
    got = {p.name: (sorted(p.changes), p.changed) for p in cmp.agents}
    assert got == {"tok20": (["tokens"], True), "tok19": ([], False), "ms20": (["duration_ms"], True),
                   "ms19": ([], False), "tiny": ([], False), "err": (["errors"], True),
                   "fresh": (["tokens"], True)}
    # Run totals: 6100 ms on both sides; tokens 600 -> 640 (under 20%); errors 0 -> 1.
    assert cmp.changes == {"errors"}

    # The page marks exactly those cells.
    html = templates.get_template("compare.html").render(
        {"request": _request("/compare"), "a": "A", "b": "B", "cmp": cmp, "csrf": "t", "signed_in": False})
    cells = r'<tr class="([^"]*)" data-agent="([^"]+)"|<td class="num big" data-stat="([a-z_]+)"'
    big = re.findall(cells, html)
    marked: dict[str, list[str]] = {}
    row = "totals"
    for classes, agent, stat in big:
        if agent:
            row = agent
            marked[row] = ["changed"] if "changed" in classes.split() else []
        else:
            marked.setdefault(row, []).append(stat)
    assert marked == {"totals": ["errors"], "tok20": ["changed", "tokens"], "tok19": [],
                      "ms20": ["changed", "duration_ms"], "ms19": [], "tiny": [],
                      "err": ["changed", "errors"], "fresh": ["changed", "tokens"]}


def _request(path: str) -> Request:
    return Request({"type": "http", "method": "GET", "path": path, "headers": [], "query_string": b"",
                    "app": None, "router": None})


def test_sparkline_scales_to_its_box() -> None:
    s = spark([0, 5, 10], width=100, height=20)
    assert s.line == "M0.0,18.5 L50.0,10.0 L100.0,1.5" and s.peak == 10
    assert spark([0, 0]).line == "M0.0,18.5 L90.0,18.5"  # nothing happened: a flat baseline
    assert spark([]) is None


def test_wait_graph_layout_marks_cycle_stalled_and_lost() -> None:
    def node(agent: str) -> dict:
        return {"id": f"agent:r:{agent}", "type": "agent", "agent_id": agent, "run_id": "r"}

    def edge(a: str, b: str, span: str) -> dict:
        return {"source": f"agent:r:{a}", "target": f"agent:r:{b}", "kind": "agent", "trace_id": "t",
                "span_id": span}

    graph = {
        "nodes": [node("x"), node("y"), node("z")],
        "edges": [edge("x", "y", "1"), edge("y", "x", "2"), edge("z", "x", "3")],
        "waits": [{"span_id": "1", "open_for_s": 2.0, "timeout_ms": None},
                  {"span_id": "2", "open_for_s": 3.0, "timeout_ms": None},
                  {"span_id": "3", "open_for_s": 90.0, "timeout_ms": 60_000}],
        "cycles": [{"nodes": ["agent:r:x", "agent:r:y"], "members": ["agent:r:x", "agent:r:y"]}],
        "lost_nodes": ["agent:r:gone"],
    }
    lay = wait_graph.layout(graph)
    nodes = {n.label: n for n in lay.nodes}
    assert "cycle" in nodes["x"].classes and "cycle" in nodes["y"].classes and not nodes["z"].classes
    assert nodes["gone"].classes == ["lost"] and nodes["gone"].colour == wait_graph.GREY
    edges = {e.span_id: e for e in lay.edges}
    assert "cycle" in edges["1"].classes and edges["1"].colour == wait_graph.RED
    assert "stalled" in edges["3"].classes and edges["3"].colour == wait_graph.AMBER
    assert edges["3"].label == "1m 30s" and edges["1"].label == "2.0 s"


def test_wait_graph_names_sit_outside_the_ring_away_from_the_arrows() -> None:
    agents = ["top", "right", "bottom", "left"]  # four on a ring: 12, 3, 6 and 9 o'clock
    graph = {"nodes": [{"id": f"agent:r:{a}", "type": "agent", "agent_id": a, "run_id": "r"} for a in agents],
             "edges": [], "waits": [], "cycles": [{"nodes": [f"agent:r:{a}" for a in agents]}]}
    nodes = {n.label: n for n in wait_graph.layout(graph).nodes}
    r = wait_graph.NODE_R
    cx, cy = nodes["top"].x, nodes["right"].y  # the ring's centre
    assert (nodes["top"].anchor, nodes["top"].lx, nodes["top"].ly) == ("middle", cx, nodes["top"].y - r - 6)
    assert (nodes["bottom"].anchor, nodes["bottom"].ly) == ("middle", nodes["bottom"].y + r + 14)
    assert (nodes["right"].anchor, nodes["right"].lx) == ("start", nodes["right"].x + r + 6)
    assert (nodes["left"].anchor, nodes["left"].lx) == ("end", nodes["left"].x - r - 6)
    for n in nodes.values():  # every name further from the centre than its node
        assert (n.lx - cx) ** 2 + (n.ly - cy) ** 2 > (n.x - cx) ** 2 + (n.y - cy) ** 2, n.label
    lone = wait_graph.layout({"nodes": [{"id": "agent:q:solo", "type": "agent", "agent_id": "solo",
                                         "run_id": "q"}], "edges": [], "waits": []}).nodes[0]
    assert (lone.anchor, lone.lx, lone.ly) == ("middle", lone.x, lone.y + r + 14)


def test_redirects_stay_on_this_site() -> None:
    assert safe_next("/findings?kind=loop") == "/findings?kind=loop"
    for bad in ("//evil.example/x", "https://evil.example", "/\\evil.example", "", None):
        assert safe_next(bad) == "/"


def test_a_huge_wait_graph_keeps_the_deadlocked_run_within_the_node_budget() -> None:
    nodes, edges = [], []
    for run in range(200):  # 200 runs of one waiter and one holder each
        for agent in ("a", "b"):
            nodes.append({"id": f"agent:r{run}:{agent}", "type": "agent", "agent_id": agent,
                          "run_id": f"r{run}"})
        edges.append({"source": f"agent:r{run}:a", "target": f"agent:r{run}:b", "kind": "agent",
                      "trace_id": "t", "span_id": f"s{run}"})
    cycle = ["agent:r150:a", "agent:r150:b"]
    lay = wait_graph.layout({"nodes": nodes, "edges": edges, "waits": [], "cycles": [{"nodes": cycle,
                                                                                      "members": cycle}]})
    assert len(lay.nodes) == wait_graph.MAX_NODES and lay.runs_total == 200
    assert lay.runs_shown == wait_graph.MAX_NODES // 2
    assert "r150" in {g["run"] for g in lay.groups}  # the deadlocked run is drawn
    assert all(e.source in {n.id for n in lay.nodes} for e in lay.edges)
