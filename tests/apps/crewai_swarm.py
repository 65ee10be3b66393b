"""A CrewAI crew on a scripted LLM (a small subclass of CrewAI's BaseLLM that behaves as its providers do:
native tool calls, LLM call events, token usage), traced by the OpenInference CrewAI instrumentor through
`swarmscope.init(..., instrument=True)`. Run as a subprocess by tests/test_frameworks_e2e.py, with
an interpreter that has CrewAI (it cannot share the test environment, see docs/integrations.md):

    python crewai_swarm.py URL RUN_ID {swarm,storm,loop,hang}

Every model call reports 100/10 tokens (planner) or 7/3 (everyone else). A sequential crew hands the
planner's result to the coder (OpenInference marks it `graph.node.parent_id`). `hang` prints "hanging"
once its tool call has started and blocks until stdin closes.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from typing import Any

# Offline and quiet: no CrewAI telemetry or cloud tracing (they would leave the machine).
os.environ["CREWAI_DISABLE_TELEMETRY"] = "true"
os.environ["CREWAI_TRACING_ENABLED"] = "false"

from crewai import Agent, Crew, Process, Task  # noqa: E402
from crewai.events import crewai_event_bus  # noqa: E402
from crewai.events.types.llm_events import LLMCallType  # noqa: E402
from crewai.llms.base_llm import BaseLLM, llm_call_context  # noqa: E402
from crewai.tools import tool  # noqa: E402
from swarm_main import hang_here, main  # noqa: E402


class Scripted(BaseLLM):
    """Makes the scripted tool calls one per turn, then answers."""

    script: list = []
    tokens: tuple = (7, 3)
    turn: int = 0

    def supports_function_calling(self) -> bool:
        return True

    def call(self, messages, tools=None, callbacks=None, available_functions=None, from_task=None,
             from_agent=None, response_model=None) -> Any:
        with llm_call_context():  # as CrewAI's providers do: events and usage carry the call id
            self._emit_call_started_event(messages=messages, tools=tools, callbacks=callbacks,
                                          available_functions=available_functions, from_task=from_task,
                                          from_agent=from_agent)
            if self.turn < len(self.script) and tools:
                name, args = self.script[self.turn]
                answer: Any = [{"id": f"call{self.turn}", "type": "function",
                                "function": {"name": name, "arguments": json.dumps(args)}}]
            else:
                answer = "done"
            self.turn += 1
            usage = {"prompt_tokens": self.tokens[0], "completion_tokens": self.tokens[1],
                     "total_tokens": sum(self.tokens)}
            self._track_token_usage_internal(usage)
            said = answer if isinstance(answer, str) else json.dumps(answer)
            self._emit_call_completed_event(response=said, call_type=LLMCallType.LLM_CALL,
                                            from_task=from_task, from_agent=from_agent, messages=messages,
                                            usage=usage)
            return answer


def agent(role: str, script: list[tuple[str, dict]], tokens: tuple[int, int], tools: list) -> Agent:
    return Agent(role=role, goal=f"{role} work", backstory=role, tools=tools, allow_delegation=False,
                 llm=Scripted(model="scripted", script=script, tokens=tokens), max_iter=10)


def crew(*agents: Agent) -> Crew:
    tasks = [Task(description=f"{a.role}'s part", expected_output="done", agent=a) for a in agents]
    return Crew(agents=list(agents), tasks=tasks, process=Process.sequential)


def swarm() -> None:
    failures = iter([True])

    @tool("run_tests")
    def run_tests(path: str) -> str:
        """Run the tests under path."""
        if next(failures, False):
            raise ValueError("2 tests failed")
        return "ok"

    @tool("search")
    def search(q: str) -> str:
        """Search the docs."""
        return "found " + q

    planner = agent("planner", [("search", {"q": "docs"})], (100, 10), [search])
    coder = agent("coder", [("run_tests", {"path": "tests"})] * 2, (7, 3), [run_tests])
    crew(planner, coder).kickoff()


def storm() -> None:
    calls = itertools.count(1)

    @tool("flaky_api")
    def flaky_api(id: int) -> str:
        """Call the flaky API."""
        # Each failure says something new: CrewAI stops an agent that gets the same result 5 times.
        raise RuntimeError(f"upstream 503 (request {next(calls)})")

    async def all_at_once() -> None:
        crews = [crew(agent(f"w{i}", [("flaky_api", {"id": 7})] * 5, (7, 3), [flaky_api]))
                 for i in range(3)]
        await asyncio.gather(*(c.kickoff_async() for c in crews))

    asyncio.run(all_at_once())


def loop() -> None:
    @tool("lookup")
    def lookup(q: str) -> str:
        """Look it up."""
        return "nothing new"

    crew(agent("looper", [("lookup", {"q": "same"})] * 3, (7, 3), [lookup])).kickoff()


def hang() -> None:
    @tool("wait_for_approval")
    def wait_for_approval(ticket: int) -> str:
        """Wait for a human."""
        crewai_event_bus.flush()  # CrewAI's event handlers (OpenInference's spans) run on a thread pool
        hang_here()
        return "approved"

    crew(agent("waiter", [("wait_for_approval", {"ticket": 1})], (7, 3), [wait_for_approval])).kickoff()


if __name__ == "__main__":
    main("crewai-swarm", {"swarm": swarm, "storm": storm, "loop": loop, "hang": hang})
