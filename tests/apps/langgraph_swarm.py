"""A LangGraph swarm of prebuilt ReAct agents on a fake chat model from langchain_core, traced by the
OpenInference LangChain instrumentor through `swarmscope.init(..., instrument=True)`. Run as a
subprocess by tests/test_frameworks_e2e.py:

    python langgraph_swarm.py URL RUN_ID {swarm,storm,loop,hang}

Every model call reports 100/10 tokens (planner) or 7/3 (everyone else). The planner hands off to the
coder with a `transfer_to_coder` tool (a Command to the parent graph, as langgraph-swarm does). `hang`
prints "hanging" once its tool call has started and blocks until stdin closes.
"""

from __future__ import annotations

import warnings
from typing import Annotated

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import InjectedToolCallId, tool
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.types import Command
from swarm_main import hang_here, main

warnings.filterwarnings("ignore", message=".*create_react_agent.*")
from langgraph.prebuilt import create_react_agent  # noqa: E402 - after silencing its move notice


class ScriptedChat(GenericFakeChatModel):
    """The fake chat model, with tools bound (it makes its scripted calls whatever they are)."""

    def bind_tools(self, tools, **kwargs):
        return self


def scripted(script: list[tuple[str, dict]], tokens: tuple[int, int]) -> ScriptedChat:
    usage = {"input_tokens": tokens[0], "output_tokens": tokens[1], "total_tokens": sum(tokens)}
    replies = [AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"call{i}"}],
                         usage_metadata=usage) for i, (name, args) in enumerate(script)]
    replies.append(AIMessage(content="done", usage_metadata=usage))
    return ScriptedChat(messages=iter(replies))


def agent(name: str, script: list[tuple[str, dict]], tokens: tuple[int, int], tools: list):
    return create_react_agent(scripted(script, tokens), ToolNode(tools, handle_tool_errors=True), name=name)


def swarm() -> None:
    failures = iter([True])

    @tool
    def run_tests(path: str) -> str:
        """Run the tests under path."""
        if next(failures, False):
            raise ValueError("2 tests failed")
        return "ok"

    @tool
    def search(q: str) -> str:
        """Search the docs."""
        return "found " + q

    @tool
    def transfer_to_coder(tool_call_id: Annotated[str, InjectedToolCallId]) -> Command:
        """Hand the work to the coder."""
        done = ToolMessage("handing off", tool_call_id=tool_call_id)
        return Command(goto="coder", graph=Command.PARENT, update={"messages": [done]})

    planner = agent("planner", [("search", {"q": "docs"}), ("transfer_to_coder", {})], (100, 10),
                    [search, transfer_to_coder])
    coder = agent("coder", [("run_tests", {"path": "tests"})] * 2, (7, 3), [run_tests])
    graph = StateGraph(MessagesState)
    graph.add_node("planner", planner, destinations=("coder",))
    graph.add_node("coder", coder)
    graph.add_edge(START, "planner")
    graph.compile().invoke({"messages": [("user", "plan the fix")]})


def storm() -> None:
    @tool
    def flaky_api(id: int) -> str:
        """Call the flaky API."""
        raise RuntimeError("upstream 503")

    graph = StateGraph(MessagesState)
    for i in range(3):  # three agents side by side: one superstep runs them at once
        graph.add_node(f"w{i}", agent(f"w{i}", [("flaky_api", {"id": 7})] * 5, (7, 3), [flaky_api]))
        graph.add_edge(START, f"w{i}")
    graph.compile().invoke({"messages": [("user", "go")]})


def single(name: str, script: list[tuple[str, dict]], tools: list) -> None:
    graph = StateGraph(MessagesState)
    graph.add_node(name, agent(name, script, (7, 3), tools))
    graph.add_edge(START, name)
    graph.compile().invoke({"messages": [("user", "go")]})


def loop() -> None:
    @tool
    def lookup(q: str) -> str:
        """Look it up."""
        return "nothing new"

    single("looper", [("lookup", {"q": "same"})] * 3, [lookup])


def hang() -> None:
    @tool
    def wait_for_approval(ticket: int) -> str:
        """Wait for a human."""
        hang_here()
        return "approved"

    single("waiter", [("wait_for_approval", {"ticket": 1})], [wait_for_approval])


if __name__ == "__main__":
    main("langgraph-swarm", {"swarm": swarm, "storm": storm, "loop": loop, "hang": hang})
