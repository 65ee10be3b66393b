"""Readers on resolved values: framework-shaped traces (only the agent span names its agent; no attempt
numbers, no fingerprints of ours), children sent before their parents in separate requests. Each test
shows what the unresolved read gets wrong next to what the reader now says."""

from __future__ import annotations

import os
import time

from otlp_payloads import post, request, span
from swarmscope import _conventions as c
from swarmscope.alerts.conditions import MEASURE_SQL
from swarmscope.detectors.config import DetectorConfig
from swarmscope.detectors.runner import DetectionLoop, run_sweep
from swarmscope.detectors.views import agents
from swarmscope.schema.params import list_param
from swarmscope.schema.queries import agents as agent_queries
from swarmscope.schema.queries.spans import outline
from swarmscope.schema.queries.traces import get_trace, list_traces
from swarmscope.schema.resolve import Resolver, resolve_window
from swarmscope.schema.times import now_ms

OK, ERROR = 1, 2
S = 1_000_000_000


def send(store, *spans) -> None:
    """One request per span, in the order given (children first)."""
    for s in spans:
        store.insert_requests([request(s).SerializeToString()])


def resolve_all(store) -> int:
    return resolve_window(store, 0, store.scalar("SELECT toUnixTimestamp64Milli(max(InsertedAt)) FROM spans"))


def agent_span(trace: bytes, sid: bytes, name: str, start: int, status: int = OK, **attrs):
    return span(trace, sid, b"", name, {c.OI_SPAN_KIND: "AGENT", c.OI_AGENT_NAME: name, **attrs}, start,
                duration_ns=10 * S, status=status)


def tool_call(trace: bytes, parent: bytes, tool: str, args: str, start: int, status: int = OK, **attrs):
    return span(trace, os.urandom(8), parent, tool, {c.OI_SPAN_KIND: "TOOL", c.OI_TOOL_NAME: tool,
                                                     c.OI_INPUT_VALUE: args, **attrs}, start, status=status)


def sweep(store, kind: str, config: DetectorConfig | None = None):
    result = run_sweep(store, config or DetectorConfig(), kinds={kind}, persist_findings=False)
    assert not result.errors
    return [f for f in result.findings if f.kind == kind]


def test_a_framework_retry_that_recovered_is_no_partial_failure(store) -> None:
    """The agent retried its failed call with the same arguments and it worked: only the derived
    attempt says so (the unresolved attempts are 0). A call that failed and was never retried is."""
    t0 = time.time_ns() - 60 * S
    (good, bad), (good_agent, bad_agent) = (os.urandom(16), os.urandom(16)), (os.urandom(8), os.urandom(8))
    send(store,
         tool_call(good, good_agent, "pay", '{"amount": 5}', t0 + S, status=ERROR),
         tool_call(good, good_agent, "pay", '{"amount": 5}', t0 + 2 * S),
         tool_call(bad, bad_agent, "pay", '{"amount": 5}', t0 + S, status=ERROR),
         tool_call(bad, bad_agent, "pay", '{"amount": 6}', t0 + 2 * S),
         agent_span(good, good_agent, "payer", t0),
         agent_span(bad, bad_agent, "refunder", t0))
    # An agent loop (OpenAI Agents, LangGraph) makes each tool call in a turn of its own: the retry has
    # another parent than the failed call, and is still the same agent's retry.
    turns, turns_agent, turn_1, turn_2 = os.urandom(16), os.urandom(8), os.urandom(8), os.urandom(8)
    send(store,
         tool_call(turns, turn_1, "pay", '{"amount": 5}', t0 + S, status=ERROR),
         tool_call(turns, turn_2, "pay", '{"amount": 5}', t0 + 2 * S),
         span(turns, turn_1, turns_agent, "turn", {}, t0 + S // 2),
         span(turns, turn_2, turns_agent, "turn", {}, t0 + 2 * S - S // 2),
         agent_span(turns, turns_agent, "teller", t0))
    assert store.scalar("SELECT countIf(Attempt > 0) FROM spans") == 0
    resolve_all(store)
    found = sweep(store, "partial_failure")
    assert [f.trace_id for f in found] == [bad.hex()]
    assert sorted(set(found[0].agent_ids)) == ["refunder"]  # the failed call's agent, from its parent


def test_phantom_completion_names_the_framework_agent(store) -> None:
    trace, agent = os.urandom(16), os.urandom(8)
    t0 = time.time_ns() - 60 * S
    send(store,
         span(trace, os.urandom(8), agent, "run tests", {c.TASK_STATUS: "completed", c.EVIDENCE_EXIT_CODE: 1},
              t0 + S),
         agent_span(trace, agent, "coder", t0))
    resolve_all(store)
    found = sweep(store, "phantom_completion")
    assert [(f.agent_ids, f.evidence["span"]["agent_id"]) for f in found] == [(["coder"], "coder")]
    assert store.scalar("SELECT AgentId FROM spans WHERE SpanName = 'run tests'") == ""


def test_context_over_budget_is_the_agents_whose_model_call_it_was(store) -> None:
    trace, agent = os.urandom(16), os.urandom(8)
    t0 = time.time_ns() - 60 * S
    send(store,
         span(trace, os.urandom(8), agent, "ChatModel", {c.OI_SPAN_KIND: "LLM", c.OI_INPUT_TOKENS: 9000,
                                                          c.CONTEXT_BUDGET: 8000}, t0 + S),
         agent_span(trace, agent, "researcher", t0))
    resolve_all(store)
    found = sweep(store, "context_bloat")
    assert [(f.key, f.agent_ids) for f in found] == [(f"budget/{trace.hex()}/researcher", ["researcher"])]
    assert found[0].evidence["spans"][0]["input_tokens"] == 9000


def test_duplicate_execution_names_the_framework_agents(store) -> None:
    t0 = time.time_ns() - 60 * S
    for name in ("billing", "support"):
        trace, agent = os.urandom(16), os.urandom(8)
        send(store, tool_call(trace, agent, "refund", '{"id": 7}', t0 + S, **{c.IDEMPOTENCY_KEY: "refund-7"}),
             agent_span(trace, agent, name, t0))
    resolve_all(store)
    found = sweep(store, "duplicate_execution")
    assert [sorted(f.agent_ids) for f in found] == [["billing", "support"]]


def test_agent_loop_on_a_derived_input_fingerprint(store) -> None:
    """A framework agent given the same input three times in one run: its fingerprint is derived
    from `input.value` (no swarmscope.input.hash)."""
    trace, root = os.urandom(16), os.urandom(8)
    t0 = time.time_ns() - 60 * S
    planner = {c.OI_SPAN_KIND: "AGENT", c.OI_AGENT_NAME: "planner", c.OI_INPUT_VALUE: '{"goal": "ship"}'}
    send(store, *[span(trace, os.urandom(8), root, "planner", planner, t0 + i * S) for i in range(1, 4)],
         span(trace, root, b"", "workflow", {c.OI_SPAN_KIND: "CHAIN", c.OI_SESSION_ID: "s-1"}, t0))
    assert store.scalar("SELECT countIf(InputHash != '') FROM spans") == 0
    resolve_all(store)
    found = sweep(store, "loop", DetectorConfig.from_dict({"loop": {"max_repeats": 3}}))
    assert [(f.agent_ids, f.run_id, f.evidence["repeats"]) for f in found] == [(["planner"], "s-1", 3)]


def test_agent_drift_of_a_genai_agent_named_only_by_its_span(store) -> None:
    """`invoke_agent helper` spans without an agent key: unresolved, no agent to drift."""
    now = time.time_ns()
    spans = [span(os.urandom(16), os.urandom(8), b"", "invoke_agent helper", {c.OPERATION: c.OP_AGENT},
                  now - (600 + i) * S, status=OK) for i in range(4)]
    spans += [span(os.urandom(16), os.urandom(8), b"", "invoke_agent helper", {c.OPERATION: c.OP_AGENT},
                   now - (30 + i) * S, status=ERROR) for i in range(2)]
    send(store, *spans)
    assert store.scalar("SELECT countIf(AgentId != '') FROM spans") == 0
    resolve_all(store)
    config = DetectorConfig.from_dict({"drift": {"recent_s": 300, "baseline_s": 3600, "min_recent": 2,
                                                 "min_baseline": 4}})
    found = sweep(store, "drift", config)
    assert [f.key for f in found] == ["agent/helper/error_rate"]


def _two_agent_trace(store) -> tuple[bytes, dict[str, bytes]]:
    trace, (a, b) = os.urandom(16), (os.urandom(8), os.urandom(8))
    t0 = time.time_ns() - 120 * S
    calls = {"search": tool_call(trace, a, "search", '{"q": 1}', t0 + S),
             "write": tool_call(trace, b, "write", '{"f": 2}', t0 + 2 * S, status=ERROR)}
    llm = span(trace, os.urandom(8), a, "ChatModel", {c.OI_SPAN_KIND: "LLM", c.OI_INPUT_TOKENS: 40,
                                                      c.OI_OUTPUT_TOKENS: 4}, t0 + S)
    send(store, *calls.values(), llm,
         agent_span(trace, a, "researcher", t0, **{c.OI_SESSION_ID: "conv-1", c.OI_INPUT_TOKENS: 40,
                                                   c.OI_OUTPUT_TOKENS: 4}),
         agent_span(trace, b, "writer", t0 + S, **{c.OI_SESSION_ID: "conv-1"}))
    return trace, {n: s.span_id for n, s in calls.items()}


def test_trace_view_and_index_show_the_resolved_agents(store) -> None:
    trace, calls = _two_agent_trace(store)
    assert list_traces(store)[0]["agents"] == ["researcher", "writer"]  # the agent spans name them
    before = {s["span_id"]: s["agent_id"] for s in outline(store, [trace.hex()])}
    assert before[calls["search"].hex()] == ""
    resolve_all(store)
    view = {s["span_id"]: s for s in outline(store, [trace.hex()])}
    assert (view[calls["search"].hex()]["agent_id"], view[calls["write"].hex()]["agent_id"]) == (
        "researcher", "writer")
    full = {s["span_id"]: s for s in get_trace(store, trace.hex())}
    assert full[calls["write"].hex()]["agent_name"] == "writer"
    assert full[calls["write"].hex()]["run_id"] == "conv-1"


def test_trace_index_lists_agents_only_resolution_finds(store) -> None:
    """A GenAI agent span named `invoke_agent helper` names no agent key: the index had none."""
    trace, agent = os.urandom(16), os.urandom(8)
    t0 = time.time_ns() - 60 * S
    tool = {c.OPERATION: c.OP_TOOL, c.TOOL_NAME: "t"}
    send(store, span(trace, os.urandom(8), agent, "execute_tool t", tool, t0 + S),
         span(trace, agent, b"", "invoke_agent helper", {c.OPERATION: c.OP_AGENT}, t0))
    assert list_traces(store)[0]["agents"] == []
    resolve_all(store)
    listed = list_traces(store)
    assert [(t["trace_id"], t["agents"], t["span_count"]) for t in listed] == [(trace.hex(), ["helper"], 2)]
    assert [t["trace_id"] for t in list_traces(store, agent="helper")] == [trace.hex()]


def test_agents_table_series_and_latency_count_framework_spans_for_their_agent(store) -> None:
    _two_agent_trace(store)
    resolve_all(store)
    since = now_ms() - 3_600_000
    table = {a["agent_id"]: a for a in agents(store, since_ms=since)}
    assert {a: (r["spans"], r["errors"], r["runs"], r["input_tokens"]) for a, r in table.items()} == {
        "researcher": (3, 0, 1, 40), "writer": (2, 1, 1, 0)}
    series = agent_queries.series(store, since_ms=since)
    assert sum(series["writer"]["errors"]) == 1 and sum(series["researcher"]["tokens"]) == 44
    assert set(agent_queries.latency(store, since_ms=since)) == {"researcher", "writer"}


def test_alert_agent_measures_use_the_resolved_agent_and_run(store) -> None:
    _two_agent_trace(store)
    resolve_all(store)
    now = now_ms()
    params = {"from_ms": now - 3_600_000, "to_ms": now + 1, "starts": list_param([now - 3_600_000]),
              "ends": list_param([now + 1]), "name": ""}
    rows = store.rows(MEASURE_SQL["agent_tokens_per_run"], params)
    per_run = {r["entity"]: (r["samples"], r["value"]) for r in rows}
    assert per_run == {"researcher": (1, 44.0), "writer": (1, 0.0)}


def test_resolver_steps_without_detection_and_counts_framework_retries_once(store) -> None:
    """serve with detection off still resolves (a Resolver stepped by its own loop; here by hand), and
    derived retries reach the per-minute tool counters once, however often the trace is resolved."""
    trace, agent = os.urandom(16), os.urandom(8)
    t0 = time.time_ns() - 60 * S
    send(store, *[tool_call(trace, agent, "pay", '{"amount": 5}', t0 + i * S, status=ERROR)
                  for i in range(1, 4)])
    retries = "SELECT sum(Retries) FROM tool_minutes WHERE ToolName = 'pay'"
    assert store.scalar(retries) == 0
    resolver = Resolver(store, overlap_s=0)
    assert resolver.step() == 3
    assert store.scalar(retries) == 2  # attempts 1, 2, 3: two retries
    send(store, agent_span(trace, agent, "payer", t0))  # the parent arrives: the trace is resolved again
    assert resolver.step() == 4
    assert store.scalar(retries) == 2
    assert resolver.step() == 0  # nothing new
    assert store.scalar("SELECT AgentId FROM spans_resolved WHERE SpanName = 'pay' LIMIT 1") == "payer"


def test_full_sweeps_resolve_a_trace_once_until_it_changes(store) -> None:
    trace, agent = os.urandom(16), os.urandom(8)
    t0 = time.time_ns() - 60 * S
    send(store, tool_call(trace, agent, "t", "{}", t0 + S), agent_span(trace, agent, "a", t0))
    assert resolve_all(store) == 2
    assert resolve_all(store) == 0
    send(store, tool_call(trace, agent, "t", '{"x": 1}', t0 + 2 * S))
    assert resolve_all(store) == 3


def test_detection_loop_steps_its_resolver_first(store) -> None:
    trace, agent = os.urandom(16), os.urandom(8)
    t0 = time.time_ns() - 60 * S
    send(store, *[tool_call(trace, agent, "lookup", '{"k": 1}', t0 + i * S) for i in range(1, 4)],
         agent_span(trace, agent, "reader", t0))
    resolver = Resolver(store)
    config = DetectorConfig.from_dict({"loop": {"max_repeats": 3}})
    loop = DetectionLoop(store, config, interval_s=1, clock=now_ms, resolver=resolver)
    found = [f for f in loop.run_once() if f.kind == "loop"]
    assert resolver.steps == 1
    assert [f.agent_ids for f in found] == [["reader"]]


def test_serve_without_detection_still_resolves_framework_traces(server_factory) -> None:
    """`serve --detect-interval 0`: the resolution loop runs on its own, so a tool span of a framework
    trace shows its agent in the trace view (the agent span arrives after it, in its own request)."""
    srv = server_factory(extra_args=["--detect-interval", "0"])
    trace, agent = os.urandom(16), os.urandom(8)
    t0 = time.time_ns() - 10 * S
    for s in (tool_call(trace, agent, "search", '{"q": 1}', t0 + S),
              agent_span(trace, agent, "researcher", t0)):
        assert post(srv.url, request(s).SerializeToString())[0] == 200

    def tool_agent():
        spans = srv.get(f"/api/traces/{trace.hex()}")["spans"]
        return [s["agent_id"] for s in spans if s["name"] == "search"] == ["researcher"]

    assert srv.wait_for(tool_agent, timeout=60)


def test_incremental_sweeps_read_the_resolution_of_the_traces_that_moved(store) -> None:
    """After the loop's first (full) sweep, a framework trace arrives: the incremental sweep that sees
    it joins its resolution (a bound list of trace ids) and names the agent; a sweep with only SDK
    traffic joins nothing and still finds what the SDK's own attributes say."""
    config = DetectorConfig.from_dict({"loop": {"max_repeats": 3}, "sweep": {"overlap_s": 0}})
    clock = iter(range(now_ms(), now_ms() + 10**9, 1000))
    loop = DetectionLoop(store, config, interval_s=1, clock=lambda: next(clock), resolver=Resolver(store))
    assert loop.run_once() == []
    trace, agent = os.urandom(16), os.urandom(8)
    t0 = time.time_ns() - 60 * S
    send(store, *[tool_call(trace, agent, "fetch", '{"u": 1}', t0 + i * S) for i in range(1, 4)],
         agent_span(trace, agent, "crawler", t0))
    found = loop.run_once()
    assert loop.last_result.traces_in_scope == 1
    assert [(f.kind, f.agent_ids) for f in found] == [("loop", ["crawler"])]
    sdk = os.urandom(16)
    send(store, *[span(sdk, os.urandom(8), b"", "invoke_agent a", {c.OPERATION: c.OP_AGENT, c.AGENT_ID: "a",
                                                                 c.INPUT_HASH: "same"}, t0 + i * S)
                  for i in range(3)])
    found = loop.run_once()
    assert loop.last_result.traces_in_scope == 1
    assert [(f.kind, f.agent_ids) for f in found] == [("loop", ["a"])]  # the crawler's trace did not move
    assert loop.store.scalar("SELECT count() FROM span_resolution WHERE TraceId = {t:String}",
                             {"t": sdk.hex()}) == 0


def test_a_resolvers_first_step_reaches_back_only_its_lookback(store) -> None:
    """A server restarting on a month of data resolves its last hour, not the month: here a lookback of
    0 leaves what was there before the first step; what arrives after it is resolved."""
    trace, agent = os.urandom(16), os.urandom(8)
    t0 = time.time_ns() - 60 * S
    send(store, tool_call(trace, agent, "t", "{}", t0 + S), agent_span(trace, agent, "a", t0))
    resolver = Resolver(store, lookback_s=0, overlap_s=0)
    assert resolver.step() == 0
    later = os.urandom(16)
    send(store, tool_call(later, agent, "t", "{}", t0 + S))
    assert resolver.step() == 1
    assert store.scalar("SELECT groupArray(TraceId) FROM span_resolution") == [later.hex()]
