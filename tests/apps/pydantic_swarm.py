"""A Pydantic AI swarm on FunctionModel, traced by Pydantic AI's own instrumentation through
`swarmscope.init(..., instrument=True)`. Run as a subprocess by tests/test_frameworks_e2e.py:

    python pydantic_swarm.py URL RUN_ID {swarm,storm,loop,hang}

Every model call reports 100/10 tokens (planner) or 7/3 (everyone else). `hang` prints "hanging" once
its tool call has started and blocks until stdin closes.
"""

from __future__ import annotations

import asyncio

from pydantic_ai import Agent, ModelRetry, RunContext
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage
from swarm_main import hang_here, main


def tool_calls_so_far(messages: list[ModelMessage]) -> int:
    return sum(isinstance(p, ToolReturnPart) or p.part_kind == "retry-prompt"
               for m in messages for p in m.parts)


def scripted(script: list[tuple[str, dict]], tokens: tuple[int, int]) -> FunctionModel:
    """A model that makes the scripted tool calls one per turn, then answers."""

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        usage = RequestUsage(input_tokens=tokens[0], output_tokens=tokens[1])
        done = tool_calls_so_far(messages)
        if done < len(script):
            name, args = script[done]
            return ModelResponse(parts=[ToolCallPart(name, args)], usage=usage)
        return ModelResponse(parts=[TextPart("done")], usage=usage)

    return FunctionModel(model)


def swarm() -> None:
    coder = Agent(scripted([("run_tests", {"path": "tests"}), ("run_tests", {"path": "tests"})], (7, 3)),
                  name="coder", retries=3)
    failures = iter([True])

    @coder.tool_plain
    def run_tests(path: str) -> str:
        if next(failures, False):
            raise ModelRetry("2 tests failed")
        return "ok"

    plan = [("search", {"q": "docs"}), ("transfer_to_coder", {"task": "fix it"})]
    planner = Agent(scripted(plan, (100, 10)), name="planner")

    @planner.tool_plain
    def search(q: str) -> str:
        return "found " + q

    @planner.tool
    async def transfer_to_coder(ctx: RunContext, task: str) -> str:
        return (await coder.run(task)).output

    planner.run_sync("plan the fix")


def storm() -> None:
    def worker(name: str) -> Agent:
        agent = Agent(scripted([("flaky_api", {"id": 7})] * 5, (7, 3)), name=name, retries=10)

        @agent.tool_plain
        def flaky_api(id: int) -> str:
            raise ModelRetry("upstream 503")

        return agent

    async def all_at_once() -> None:
        await asyncio.gather(*(worker(f"w{i}").run("go") for i in range(3)))

    asyncio.run(all_at_once())


def loop() -> None:
    agent = Agent(scripted([("lookup", {"q": "same"})] * 3, (7, 3)), name="looper")

    @agent.tool_plain
    def lookup(q: str) -> str:
        return "nothing new"

    agent.run_sync("find it")


def hang() -> None:
    agent = Agent(scripted([("wait_for_approval", {"ticket": 1})], (7, 3)), name="waiter")

    @agent.tool_plain
    def wait_for_approval(ticket: int) -> str:
        hang_here()
        return "approved"

    agent.run_sync("ship it")


if __name__ == "__main__":
    main("pydantic-swarm", {"swarm": swarm, "storm": storm, "loop": loop, "hang": hang})
