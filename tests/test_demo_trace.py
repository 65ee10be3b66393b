"""The 10,000-span trace generator, through the real store and the trace view's outline; the critical path
and the agent graph of it."""

from __future__ import annotations

import pytest
from swarmscope.schema.queries import spans as span_queries
from swarmscope.ui import agent_graph
from swarmscope.ui.critical_path import critical_path
from swarmscope.ui.demo_trace import big_trace_spans, requests, span_id, trace_id_for


def test_ten_thousand_spans_in_one_trace_with_fixed_ids(store):
    store.insert_requests(requests(big_trace_spans(10_000, run_id="run-big", start_ns=1_800_000_000 * 10**9)))
    trace_id = trace_id_for("run-big").hex()
    spans = span_queries.outline(store, [trace_id])
    assert len(spans) == 10_000
    assert {s["span_id"] for s in spans} == {span_id(i).hex() for i in range(1, 10_001)}
    roots = [s for s in spans if not s["parent_span_id"]]
    assert [r["name"] for r in roots] == ["invoke_agent orchestrator"]
    assert sum(s["operation"] == "invoke_agent" for s in spans) == 13
    assert sum(s["operation"] == "wait" for s in spans) == 11
    # 9,987 tool-call slots, shared 833 or 832 per agent; every 97th (from the 14th) failed, waits excepted.
    assert sum(s["status_code"] == "Error" for s in spans) == 12 * 9
    assert {s["run_id"] for s in spans} == {"run-big"}

    # The agents ran one after the other, their calls two at a time: the path is the orchestrator, every
    # agent, and the longer call of each pair (833 calls make 417 pairs, 832 make 416).
    path = critical_path(spans)
    assert path[0] == span_id(1).hex()
    by_id = {s["span_id"]: s for s in spans}
    assert [by_id[p]["name"] for p in path[1:4]] == ["invoke_agent worker-0", "execute_tool tool-0",
                                                     "execute_tool tool-2"]
    assert len(path) == 1 + 12 + 3 * 417 + 9 * 416
    assert all(by_id[p]["end_ns"] - by_id[p]["start_ns"] == 8_000_000 for p in path[1:] if p in by_id
               and by_id[p]["operation"] != "invoke_agent")

    graph = agent_graph.build(spans, [])
    assert len(graph.nodes) == 13
    kinds = sorted((e.kind, e.count) for e in graph.edges)
    assert kinds == [("handoff", 1)] * 11 + [("invoke", 1)] * 12 + [("wait", 1)] * 11


def test_too_few_spans_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 13 spans"):
        big_trace_spans(5)
