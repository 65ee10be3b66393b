"""Raw OTLP in each framework dialect: ingest fills the per-span columns, the resolution pass
(schema/resolve.py) the per-trace ones, whatever order the spans arrive in."""

from __future__ import annotations

import os
import time

from otlp_payloads import kv, request, span
from swarmscope import _conventions as c
from swarmscope._fingerprint import fingerprint
from swarmscope.schema.resolve import resolve_traces, resolve_window

ERROR = 2


def ids(n: int) -> list[bytes]:
    return [os.urandom(8) for _ in range(n)]


def send(store, *spans) -> None:
    """Each argument is one request: children first, parents in later requests."""
    for s in spans:
        store.insert_requests([request(s).SerializeToString()])


def resolved(store, trace: bytes) -> dict[str, dict]:
    rows = store.rows("SELECT * FROM spans_resolved WHERE TraceId = {t:String}", {"t": trace.hex()})
    return {r["SpanName"]: r for r in rows}


def test_openinference_agent_reaches_children_sent_before_it(store) -> None:
    trace, (agent, llm, tool) = os.urandom(16), ids(3)
    t0 = time.time_ns()
    send(store,
         span(trace, llm, agent, "ChatModel", {c.OI_SPAN_KIND: "LLM", c.OI_INPUT_TOKENS: 30,
                                               c.OI_OUTPUT_TOKENS: 7, c.OI_MODEL: "m"}, t0 + 1),
         span(trace, tool, agent, "search", {c.OI_SPAN_KIND: "TOOL", c.OI_TOOL_NAME: "search",
                                             c.OI_INPUT_VALUE: '{"q": "x", "k": 2}'}, t0 + 2))
    resolve_traces(store, [trace.hex()])
    before = resolved(store, trace)
    assert before["search"]["AgentId"] == "" and before["search"]["ToolName"] == "search"
    send(store, span(trace, agent, b"", "Researcher", {c.OI_SPAN_KIND: "AGENT", c.OI_AGENT_NAME: "Researcher",
                                                        c.OI_SESSION_ID: "sess-1", c.OI_INPUT_TOKENS: 30,
                                                        c.OI_OUTPUT_TOKENS: 7}, t0))
    resolve_traces(store, [trace.hex()])
    rows = resolved(store, trace)
    assert {n: (r["AgentId"], r["Operation"]) for n, r in rows.items()} == {
        "Researcher": ("Researcher", "invoke_agent"), "ChatModel": ("Researcher", "chat"),
        "search": ("Researcher", "execute_tool")}
    # The agent span repeats its model call's totals: counted once, on the model call.
    assert sum(r["InputTokens"] for r in rows.values()) == 30
    assert sum(r["OutputTokens"] for r in rows.values()) == 7
    assert {r["RunId"] for r in rows.values()} == {"sess-1"}
    # The same fingerprint the SDK gives the same arguments.
    assert rows["search"]["InputHash"] == fingerprint({"k": 2, "q": "x"})


def test_openllmetry_shape(store) -> None:
    trace, (agent, tool, chat) = os.urandom(16), ids(3)
    send(store,
         span(trace, tool, agent, "get_weather.tool", {c.TRACELOOP_SPAN_KIND: "tool",
                                                       c.TRACELOOP_ENTITY_NAME: "get_weather"}),
         span(trace, chat, agent, "openai.chat", {c.INPUT_TOKENS: 11, c.OUTPUT_TOKENS: 4}),
         span(trace, agent, b"", "crew.agent", {c.TRACELOOP_SPAN_KIND: "agent", c.AGENT_NAME: "planner",
                                                c.CONVERSATION_ID: "conv-9", c.INPUT_TOKENS: 11,
                                                c.OUTPUT_TOKENS: 4, c.HANDOFF_FROM: "planner",
                                                c.HANDOFF_TO: "coder"}))
    resolve_traces(store, [trace.hex()])
    rows = resolved(store, trace)
    assert rows["get_weather.tool"]["ToolName"] == "get_weather"
    assert rows["get_weather.tool"]["AgentId"] == "planner"
    assert (rows["crew.agent"]["HandoffFrom"], rows["crew.agent"]["HandoffTo"]) == ("planner", "coder")
    assert sum(r["InputTokens"] for r in rows.values()) == 11
    assert {r["RunId"] for r in rows.values()} == {"conv-9"}


def test_langsmith_shape(store) -> None:
    trace, (chain, tool, llm) = os.urandom(16), ids(3)
    send(store,
         span(trace, tool, chain, "transfer_to_coder", {c.LANGSMITH_SPAN_KIND: "tool"}),
         span(trace, llm, chain, "ChatOpenAI", {c.LANGSMITH_SPAN_KIND: "llm", c.INPUT_TOKENS: 5,
                                                c.OUTPUT_TOKENS: 2}),
         span(trace, chain, b"", "supervisor", {c.LANGSMITH_SPAN_KIND: "chain",
                                                c.LANGSMITH_AGENT_NAME: "supervisor",
                                                c.LANGSMITH_THREAD_ID: "thread-1"}))
    resolve_traces(store, [trace.hex()])
    rows = resolved(store, trace)
    assert rows["transfer_to_coder"]["Operation"] == "execute_tool"
    assert rows["transfer_to_coder"]["ToolName"] == "transfer_to_coder"
    assert rows["transfer_to_coder"]["HandoffTo"] == "coder"
    assert rows["transfer_to_coder"]["AgentId"] == "supervisor"
    assert rows["ChatOpenAI"]["Operation"] == "chat"
    assert {r["RunId"] for r in rows.values()} == {"thread-1"}


def test_genai_nested_runs_and_exception_messages(store) -> None:
    trace, (outer, tool, inner, inner_tool) = os.urandom(16), ids(4)
    exc = span(trace, inner_tool, inner, "execute_tool lookup",
               {c.OPERATION: c.OP_TOOL, c.TOOL_NAME: "lookup", c.AGENT_NAME: "helper",
                c.CONVERSATION_ID: "inner-conv", c.TOOL_ARGUMENTS: '{"q":"a"}'}, status=ERROR)
    event = exc.events.add()
    event.name = c.EXCEPTION_EVENT
    event.attributes.extend([kv(c.EXCEPTION_TYPE, "ValueError"), kv(c.EXCEPTION_MESSAGE, "no such row")])
    send(store, exc,
         span(trace, inner, tool, "invoke_agent helper", {c.OPERATION: c.OP_AGENT, c.AGENT_NAME: "helper",
                                                          c.CONVERSATION_ID: "inner-conv",
                                                          c.AGGREGATED_INPUT_TOKENS: 50}),
         span(trace, tool, outer, "execute_tool delegate",
              {c.OPERATION: c.OP_TOOL, c.TOOL_NAME: "delegate", c.AGENT_NAME: "boss",
               c.CONVERSATION_ID: "outer"}),
         span(trace, outer, b"", "invoke_agent boss", {c.OPERATION: c.OP_AGENT, c.AGENT_NAME: "boss",
                                                       c.CONVERSATION_ID: "outer"}))
    resolve_traces(store, [trace.hex()])
    rows = resolved(store, trace)
    assert {r["RunId"] for r in rows.values()} == {"outer"}
    assert rows["execute_tool lookup"]["ErrorMessage"] == "ValueError: no such row"
    # No model-call span under the inner agent: its aggregated usage is all there is.
    assert rows["invoke_agent helper"]["InputTokens"] == 50
    assert rows["execute_tool lookup"]["InputHash"] == fingerprint({"q": "a"})


def test_mcp_tools_call(store) -> None:
    trace, (agent, call) = os.urandom(16), ids(2)
    send(store, span(trace, call, agent, "tools/call read_file", {c.MCP_METHOD: c.MCP_TOOLS_CALL,
                                                                  c.MCP_SESSION_ID: "mcp-s"}),
         span(trace, agent, b"", "invoke_agent fs", {c.OPERATION: c.OP_AGENT, c.AGENT_NAME: "fs"}))
    resolve_traces(store, [trace.hex()])
    rows = resolved(store, trace)
    assert (rows["tools/call read_file"]["Operation"], rows["tools/call read_file"]["ToolName"]) == (
        "execute_tool", "read_file")
    assert rows["tools/call read_file"]["AgentId"] == "fs"


def test_retries_without_attempt_attribute(store) -> None:
    """Same tool, same arguments, same agent, right after a failure: attempts 1, 2, 3; then a new
    series after a success."""
    trace, agent = os.urandom(16), os.urandom(8)
    t0 = time.time_ns()
    calls = [span(trace, os.urandom(8), agent, f"call {i}",
                  {c.OI_SPAN_KIND: "TOOL", c.OI_TOOL_NAME: "pay", c.OI_INPUT_VALUE: '{"amount": 5}'},
                  t0 + i * 1000, status=ERROR if i < 2 else 1) for i in range(4)]
    send(store, *calls, span(trace, agent, b"", "payer", {c.OI_SPAN_KIND: "AGENT", c.OI_AGENT_NAME: "payer"},
                             t0 - 1))
    end = store.scalar("SELECT toUnixTimestamp64Milli(max(InsertedAt)) FROM spans")
    assert resolve_window(store, 0, end) == 5
    rows = resolved(store, trace)
    assert [rows[f"call {i}"]["Attempt"] for i in range(4)] == [1, 2, 3, 1]


def test_sdk_traces_need_no_resolution(store) -> None:
    trace, (agent, tool) = os.urandom(16), ids(2)
    send(store, span(trace, tool, agent, "execute_tool t", {c.OPERATION: c.OP_TOOL, c.TOOL_NAME: "t",
                                                            c.AGENT_ID: "a", c.INPUT_HASH: "h1"}),
         span(trace, agent, b"", "invoke_agent a", {c.OPERATION: c.OP_AGENT, c.AGENT_ID: "a",
                                                    c.INPUT_HASH: "h0"}))
    end = store.scalar("SELECT toUnixTimestamp64Milli(max(InsertedAt)) FROM spans")
    assert resolve_window(store, 0, end) == 0
    assert {r["AgentId"] for r in resolved(store, trace).values()} == {"a"}


def test_content_that_is_not_json_is_fingerprinted_as_text(store) -> None:
    trace, tool = os.urandom(16), os.urandom(8)
    send(store, span(trace, tool, b"", "t", {c.OI_SPAN_KIND: "TOOL", c.OI_TOOL_NAME: "t",
                                             c.OI_INPUT_VALUE: "plain {text"}))
    resolve_traces(store, [trace.hex()])
    assert resolved(store, trace)["t"]["InputHash"] == fingerprint("plain {text")


def test_hostile_shapes_resolve_without_losing_the_good_spans(store) -> None:
    """Parent ids in a cycle, a span that is its own parent, junk metadata and token counts, content
    that looks like SQL: every span gets a row, the good ones their agent."""
    trace, (a, b, selfish, agent, tool) = os.urandom(16), ids(5)
    send(store,
         span(trace, a, b, "cycle-a", {c.OI_SPAN_KIND: "TOOL", c.OI_TOOL_NAME: "x"}),
         span(trace, b, a, "cycle-b", {c.OI_SPAN_KIND: "AGENT", c.OI_AGENT_NAME: "loopy"}),
         span(trace, selfish, selfish, "selfish", {c.OI_METADATA: '{"langgraph_checkpoint_ns": ['}),
         span(trace, tool, agent, "t", {c.OI_SPAN_KIND: "TOOL", c.OI_TOOL_NAME: "t",
                                        c.OI_INPUT_VALUE: "'); DROP TABLE spans; --",
                                        c.AGGREGATED_INPUT_TOKENS: "12abc"}),
         span(trace, agent, b"", "invoke_agent good", {c.OPERATION: c.OP_AGENT,
                                                        c.OI_METADATA: "not json"}))
    assert resolve_traces(store, [trace.hex()]) == 5
    rows = resolved(store, trace)
    assert {n: r["AgentId"] for n, r in rows.items()} == {
        "cycle-a": "loopy", "cycle-b": "loopy", "selfish": "", "t": "good", "invoke_agent good": "good"}
    assert rows["t"]["InputHash"] == fingerprint("'); DROP TABLE spans; --")
    assert store.scalar("SELECT count() FROM spans WHERE TraceId = {t:String}", {"t": trace.hex()}) == 5
