"""An OpenAI Agents SDK swarm on a scripted Model subclass, traced by the OpenInference instrumentor
through `swarmscope.init(..., instrument=True)`. Run as a subprocess by
tests/test_frameworks_e2e.py:

    python openai_agents_swarm.py URL RUN_ID {swarm,storm,loop,hang}

Every model call reports 100/10 tokens (planner) or 7/3 (everyone else), on a generation span as the
SDK's own model classes do. `hang` prints "hanging" once its tool call has started and blocks until
stdin closes.
"""

from __future__ import annotations

import asyncio
import itertools
import json

from agents import Agent, Model, ModelResponse, Runner, Usage, function_tool, generation_span
from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage, ResponseOutputText
from swarm_main import hang_here, main

_ids = itertools.count()


class Scripted(Model):
    """Makes the scripted tool calls one per turn, then answers."""

    def __init__(self, script: list[tuple[str, dict]], tokens: tuple[int, int]) -> None:
        self.script, self.tokens, self.turn = script, tokens, 0

    async def get_response(self, system_instructions, input, model_settings, tools, output_schema, handoffs,
                           tracing, **kwargs) -> ModelResponse:
        step = self.script[self.turn] if self.turn < len(self.script) else None
        self.turn += 1
        n = next(_ids)
        if step:
            out = [ResponseFunctionToolCall(type="function_call", name=step[0], arguments=json.dumps(step[1]),
                                            call_id=f"call{n}", id=f"fc{n}")]
        else:
            text = ResponseOutputText(type="output_text", text="done", annotations=[])
            out = [ResponseOutputMessage(type="message", id=f"msg{n}", role="assistant", status="completed",
                                         content=[text])]
        tokens_in, tokens_out = self.tokens
        reported = {"input_tokens": tokens_in, "output_tokens": tokens_out}
        with generation_span(model="scripted", usage=reported):
            pass
        usage = Usage(requests=1, input_tokens=tokens_in, output_tokens=tokens_out,
                      total_tokens=tokens_in + tokens_out)
        return ModelResponse(output=out, usage=usage, response_id=None)

    def stream_response(self, *args, **kwargs):
        raise NotImplementedError


def swarm() -> None:
    failures = iter([True])

    @function_tool
    def run_tests(path: str) -> str:
        """Run the tests under path."""
        if next(failures, False):
            raise RuntimeError("2 tests failed")
        return "ok"

    @function_tool
    def search(q: str) -> str:
        """Search the docs."""
        return "found " + q

    coder = Agent(name="coder", tools=[run_tests],
                  model=Scripted([("run_tests", {"path": "tests"})] * 2, (7, 3)))
    planner = Agent(name="planner", tools=[search], handoffs=[coder],
                    model=Scripted([("search", {"q": "docs"}), ("transfer_to_coder", {})], (100, 10)))
    asyncio.run(Runner.run(planner, "plan the fix"))


def storm() -> None:
    @function_tool
    def flaky_api(id: int) -> str:
        """Call the flaky API."""
        raise RuntimeError("upstream 503")

    async def all_at_once() -> None:
        script = [("flaky_api", {"id": 7})] * 5
        workers = [Agent(name=f"w{i}", tools=[flaky_api], model=Scripted(script, (7, 3))) for i in range(3)]
        await asyncio.gather(*(Runner.run(w, "go") for w in workers))

    asyncio.run(all_at_once())


def loop() -> None:
    @function_tool
    def lookup(q: str) -> str:
        """Look it up."""
        return "nothing new"

    agent = Agent(name="looper", tools=[lookup], model=Scripted([("lookup", {"q": "same"})] * 3, (7, 3)))
    asyncio.run(Runner.run(agent, "find it"))


def hang() -> None:
    @function_tool
    def wait_for_approval(ticket: int) -> str:
        """Wait for a human."""
        hang_here()
        return "approved"

    agent = Agent(name="waiter", tools=[wait_for_approval],
                  model=Scripted([("wait_for_approval", {"ticket": 1})], (7, 3)))
    asyncio.run(Runner.run(agent, "ship it"))


if __name__ == "__main__":
    main("openai-agents-swarm", {"swarm": swarm, "storm": storm, "loop": loop, "hang": hang})
