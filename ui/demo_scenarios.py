"""The demo's simulated swarms, written with the SDK as a user would (one scenario per process: the SDK's
state is per process). Each is a function of a `Scenario` context; shapes and ids are fixed, so the
findings each one produces are known (the demo test checks them).

Scenarios that end call nothing special: the worker flushes and reports them ready. Scenarios that stay
open (the deadlock) call `ctx.ready()` once their waits are open and heartbeating, then block until
`ctx.release` is set (the worker sets it when the demo stops).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import swarmscope

# A pause, so the waterfall has something to show; scaled down by the worker for tests if needed.
STEP = 0.05


@dataclass
class Scenario:
    run_id: str
    ready: Callable[[], None] = lambda: None
    release: threading.Event = field(default_factory=threading.Event)


def _llm(a: swarmscope.agent, input_tokens: int, output_tokens: int, steps: int = 1) -> None:
    time.sleep(STEP * steps)
    a.record_tokens(input_tokens, output_tokens, model="demo-model")


def healthy(ctx: Scenario) -> None:
    """The four-agent feature pipeline, everything green: plan, code, test (exit 0), document."""
    request = f"add a --json flag to the report command ({ctx.run_id})"
    task = ctx.run_id
    with swarmscope.agent("orchestrator", role="orchestrator", task_id=f"{task}/feature", input=request) as o:
        with swarmscope.agent("planner", role="planner", task_id=f"{task}/plan", input=request) as p:
            _llm(p, 900, 300)
            p.set_output("plan: 1. parse flag 2. emit json 3. test")
            p.set_confidence(0.9)
        with swarmscope.agent("coder", role="coder", task_id=f"{task}/code", input="plan") as c:
            _llm(c, 1400, 700, steps=2)
            with swarmscope.tool("write_file", arguments={"path": "report.py"}) as t:
                time.sleep(STEP)
                t.set_result({"bytes": 2048})
            c.set_output("patch")
            c.set_evidence(files_changed=["report.py"])
        with swarmscope.agent("tester", role="tester", task_id=f"{task}/test", input="patch") as t_:
            with swarmscope.tool("run_tests", arguments={"cmd": "pytest -q"}) as t:
                time.sleep(STEP * 3)
                t.set_result({"exit_code": 0, "passed": 42})
            t_.set_evidence(exit_code=0, test_command="pytest -q", validated_by="tester",
                            validation_passed=True)
        with swarmscope.agent("docs", role="writer", task_id=f"{task}/docs", input="patch") as d:
            _llm(d, 800, 400)
            d.set_output("docs updated")
        o.set_output({"patch": "patch", "tests_passed": True})


DEADLOCK_RING = ("planner", "coder", "tester", "docs")


def deadlock(ctx: Scenario) -> None:
    """planner waits for coder, coder for tester, tester for docs, docs for planner: nobody proceeds.
    Every agent is alive and heartbeating; the orchestrator waits behind the cycle. Stays open."""
    entered = threading.Barrier(len(DEADLOCK_RING) + 1)
    with swarmscope.agent("orchestrator", role="orchestrator", task_id=f"{ctx.run_id}/release"):
        carrier = swarmscope.inject()  # one trace: each thread continues the orchestrator's

        def member(i: int) -> None:
            name, target = DEADLOCK_RING[i], DEADLOCK_RING[(i + 1) % len(DEADLOCK_RING)]
            with (swarmscope.continue_from(carrier),
                  swarmscope.agent(name, task_id=f"{ctx.run_id}/{name}"),
                  swarmscope.wait_for(target, task_id=f"{ctx.run_id}/{target}", timeout=86_400) as w):
                entered.wait()
                w.wait_event(ctx.release)

        threads = [threading.Thread(target=member, args=(i,), daemon=True) for i in range(len(DEADLOCK_RING))]
        for t in threads:
            t.start()
        with swarmscope.wait_for("planner", task_id=f"{ctx.run_id}/planner", timeout=86_400) as w:
            entered.wait()
            ctx.ready()
            w.wait_event(ctx.release)
        for t in threads:
            t.join()


def fanout(ctx: Scenario) -> None:
    """A researcher fans out to three sub-researchers and waits 1 s; the slow one is cut off, yet the
    researcher reports success (partial failure)."""

    async def sub(topic: str, seconds: float) -> str:
        async with swarmscope.agent("sub-researcher", agent_id=f"sub-researcher:{topic}", role="researcher",
                                    input=topic) as a:
            with swarmscope.tool("web_search", arguments={"q": topic}) as t:
                await asyncio.sleep(seconds)
                t.set_result([f"{topic} result"])
            a.record_tokens(600, 200)
            return topic

    async def lead() -> None:
        async with swarmscope.agent("researcher", role="lead", input="compare vector databases") as r:
            tasks = [asyncio.ensure_future(sub(topic, s)) for topic, s in
                     (("pricing", STEP), ("latency", 2 * STEP), ("licensing", 30.0))]
            found: list[str] = []
            async with swarmscope.wait_for("sub-researcher", resource="fan-out", timeout=1.0) as w:
                try:
                    found = list(await w.wait(asyncio.gather(*tasks)))
                except swarmscope.WaitTimeout:
                    done = [t for t in tasks if t.done() and not t.cancelled()]
                    found = [t.result() for t in done if t.exception() is None]
            r.record_tokens(1500, 500)
            r.set_output({"summary": found})  # reports success: no set_task_status("partial")

    asyncio.run(lead())


def phantom(ctx: Scenario) -> None:
    """A coding agent's tests fail (exit code 1) and it reports the task completed anyway."""
    with swarmscope.agent("coder", role="coder", task_id=f"{ctx.run_id}/fix-bug", input="fix issue 311") as c:
        _llm(c, 2100, 900, steps=2)
        with swarmscope.tool("run_tests", arguments={"cmd": "pytest -q tests/test_parser.py"}) as t:
            time.sleep(STEP * 2)
            t.set_result({"exit_code": 1, "failed": 3})
        c.set_evidence(exit_code=1, test_command="pytest -q tests/test_parser.py")
        c.set_output("All tests pass, the bug is fixed.")
        c.set_confidence(0.95)


RETRY_AGENTS = 4
RETRY_ATTEMPTS = 4


def retry_storm(ctx: Scenario) -> None:
    """Four crawlers hit a rate-limited search API and retry at once, without backoff: HTTP 429s."""

    def crawler(i: int) -> None:
        with swarmscope.agent("crawler", agent_id=f"crawler-{i}", role="crawler", input=f"site {i}") as a:
            call_id = f"{ctx.run_id}-call-{i}"
            for attempt in range(1, RETRY_ATTEMPTS + 1):
                with swarmscope.tool("search_api", arguments={"q": f"site {i}"}, attempt=attempt,
                                     call_id=call_id, attributes={"http.response.status_code": 429}) as t:
                    time.sleep(STEP / 5)
                    t.set_error("http_429", "429 Too Many Requests: rate limit exceeded")
            a.set_task_status("failed")  # out of attempts: the crawler says it failed

    with swarmscope.agent("dispatcher", role="orchestrator", input="crawl 4 sites") as d:
        carrier = swarmscope.inject()  # one trace: the crawler threads continue the dispatcher's

        def in_trace(i: int) -> None:
            with swarmscope.continue_from(carrier):
                crawler(i)

        threads = [threading.Thread(target=in_trace, args=(i,)) for i in range(1, RETRY_AGENTS + 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        d.set_task_status("failed")  # honest: every crawler gave up


def duplicate_payment(ctx: Scenario) -> None:
    """A checkout task is delivered twice; both deliveries charge the card with the same idempotency key."""
    key = f"{ctx.run_id}/order-1042"
    for delivery in (1, 2):
        with (swarmscope.agent("billing", role="payments", task_id=f"{ctx.run_id}/checkout", input="order"),
              swarmscope.tool("charge_card", arguments={"order": 1042, "amount_eur": 129.0},
                              idempotency_key=key) as t):
            time.sleep(STEP)
            t.set_result({"charge_id": f"ch_{delivery}", "status": "succeeded"})


def loop(ctx: Scenario) -> None:
    """A planner and a critic bounce the same plan back and forth: the critic gets the same input 4 times."""
    plan = "plan v1: migrate the database, then the API"
    for round_ in range(1, 5):
        feedback = f"critique {round_}: needs another revision"
        with swarmscope.agent("planner", role="planner", input=feedback) as p:
            _llm(p, 700, 250)
            p.set_output(plan)
        with swarmscope.agent("critic", role="critic", input=plan) as c:
            _llm(c, 900, 120)
            c.set_output("needs another revision")


def context_bloat(ctx: Scenario) -> None:
    """Each summarizer hands the whole transcript on: input tokens 1.5k, 4k, 9k, 21k (budget 16k)."""
    with swarmscope.agent("digest", role="orchestrator", input="summarize the incident channel"):
        for i, tokens in enumerate((1500, 4000, 9000, 21000)):
            with swarmscope.agent("summarizer", agent_id=f"summarizer-{i + 1}", role="summarizer",
                                  input=f"transcript part {i + 1}", budget_tokens=16_000) as a:
                _llm(a, tokens, 600)
                a.set_output(f"summary {i + 1}")


def crash(ctx: Scenario) -> None:
    """A worker is killed (SIGKILL) while holding a tool call: its heartbeats stop (lost heartbeat)."""
    import os
    import signal

    with (swarmscope.agent("indexer", role="worker", task_id=f"{ctx.run_id}/reindex"),
          swarmscope.tool("reindex_shard", arguments={"shard": 7})):
        ctx.ready()  # the open spans' records are out; now the process dies holding them
        os.kill(os.getpid(), signal.SIGKILL)


SCENARIOS: dict[str, tuple[str, Callable[[Scenario], None]]] = {
    # name: (service name, body)
    "healthy": ("feature-pipeline", healthy),
    "deadlock": ("deadlock-swarm", deadlock),
    "fanout": ("research-swarm", fanout),
    "phantom": ("coding-agent", phantom),
    "retry_storm": ("crawler-fleet", retry_storm),
    "duplicate_payment": ("payments", duplicate_payment),
    "loop": ("planner-critic", loop),
    "context_bloat": ("summarizer-chain", context_bloat),
    "crash": ("indexer", crash),
}
# Scenarios whose spans stay open: they report ready themselves, and run until released (or killed).
STAYS_OPEN = frozenset({"deadlock", "crash"})
