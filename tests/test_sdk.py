"""The SDK's span shapes and attributes, on an in-memory exporter (no backend needed)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import queue
import subprocess
import sys
import threading
from dataclasses import dataclass

import pytest
import swarmscope
from opentelemetry import trace
from opentelemetry.trace import StatusCode
from swarmscope import _conventions as c


def test_import_pulls_in_nothing_from_the_server_side():
    code = (
        "import sys, swarmscope\n"
        "swarmscope.init('x', endpoint='http://127.0.0.1:9')\n"
        "with swarmscope.agent('a'): pass\n"
        "heavy = ('chdb', 'clickhouse_connect', 'fastapi', 'uvicorn', 'grpc')\n"
        "print([m for m in heavy if m in sys.modules])\n"
        "swarmscope.shutdown(timeout=0.5)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# agent -------------------------------------------------------------------------------------------


def test_agent_span_carries_the_genai_attributes(traced):
    with swarmscope.agent("planner", role="orchestrator", task_id="T-1", input={"goal": "ship"}) as a:
        a.record_tokens(100, 20, model="gpt-x")
        a.record_tokens(50, 5)
        a.set_confidence(0.9)
        a.set_output({"plan": ["code", "test"]})
        a.set_context_budget(8000)
        a.set_evidence(
            exit_code=0, test_command="pytest -q", files_changed=["a.py", "b.py"],
            validated_by="tester", validation_passed=True,
        )
    span = traced.one("invoke_agent planner")
    attrs = span.attributes
    assert attrs[c.OPERATION] == "invoke_agent"
    assert attrs[c.AGENT_ID] == "planner" and attrs[c.AGENT_NAME] == "planner"
    assert attrs[c.AGENT_ROLE] == "orchestrator"
    assert attrs[c.TASK_ID] == "T-1"
    assert attrs[c.TASK_STATUS] == "completed"
    assert attrs[c.INPUT_HASH] == swarmscope.fingerprint({"goal": "ship"})
    assert attrs[c.OUTPUT_HASH] == swarmscope.fingerprint({"plan": ["code", "test"]})
    assert (attrs[c.INPUT_TOKENS], attrs[c.OUTPUT_TOKENS]) == (150, 25)
    assert attrs[c.REQUEST_MODEL] == "gpt-x"
    assert attrs[c.CONFIDENCE] == 0.9
    assert attrs[c.CONTEXT_BUDGET] == 8000
    assert attrs[c.EVIDENCE_EXIT_CODE] == 0
    assert attrs[c.EVIDENCE_TEST_COMMAND] == "pytest -q"
    assert tuple(attrs[c.EVIDENCE_FILES_CHANGED]) == ("a.py", "b.py")
    assert attrs[c.EVIDENCE_VALIDATED_BY] == "tester"
    assert attrs[c.EVIDENCE_VALIDATION_PASSED] is True
    assert len(attrs[c.RUN_ID]) == 32
    assert span.status.status_code is StatusCode.OK
    assert span.parent is None
    # content capture is off: no raw input or output anywhere
    assert c.INPUT_CONTENT not in attrs and c.OUTPUT_CONTENT not in attrs


def test_agent_id_defaults_to_name_and_can_be_given(traced):
    with swarmscope.agent("coder", agent_id="coder-2"):
        pass
    attrs = traced.one("invoke_agent coder").attributes
    assert (attrs[c.AGENT_ID], attrs[c.AGENT_NAME]) == ("coder-2", "coder")


def test_agent_exception_marks_error_and_reraises(traced):
    class Boom(Exception):
        pass

    with pytest.raises(Boom), swarmscope.agent("coder"):
        raise Boom("compile failed")
    span = traced.one("invoke_agent coder")
    assert span.status.status_code is StatusCode.ERROR
    assert "compile failed" in span.status.description
    assert span.attributes[c.ERROR_TYPE].endswith("_reraises.<locals>.Boom")
    assert span.attributes[c.TASK_STATUS] == "failed"
    assert [e.name for e in span.events] == ["exception"]


def test_builtin_exception_error_type_is_unqualified(traced):
    with pytest.raises(KeyError), swarmscope.agent("coder"):
        raise KeyError("x")
    assert traced.one("invoke_agent coder").attributes[c.ERROR_TYPE] == "KeyError"


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        ("completed", StatusCode.OK, None),
        ("partial", StatusCode.UNSET, None),
        ("failed", StatusCode.ERROR, "task_failed"),
    ],
)
def test_task_status_decides_the_span_status(traced, status, code, error):
    with swarmscope.agent("tester") as a:
        a.set_task_status(status)
    span = traced.one("invoke_agent tester")
    assert span.attributes[c.TASK_STATUS] == status
    assert span.status.status_code is code
    assert span.attributes.get(c.ERROR_TYPE) == error


def test_recorders_reject_values_outside_the_contract(traced):
    with swarmscope.agent("a") as a:
        with pytest.raises(ValueError):
            a.set_confidence(1.5)
        with pytest.raises(ValueError):
            a.set_task_status("done")
        a.set_evidence(files_changed=3, validation_passed=False, exit_code=2)
    attrs = traced.one("invoke_agent a").attributes
    assert c.CONFIDENCE not in attrs
    assert attrs[c.EVIDENCE_FILES_CHANGED] == 3
    assert attrs[c.EVIDENCE_VALIDATION_PASSED] is False
    assert attrs[c.EVIDENCE_EXIT_CODE] == 2


def test_nested_agents_each_own_their_tools(traced):
    with swarmscope.agent("orchestrator"), swarmscope.agent("coder") as coder:
        assert swarmscope.current_agent() is coder
        with swarmscope.tool("edit"):
            pass
    tool = traced.one("execute_tool edit")
    inner = traced.one("invoke_agent coder")
    outer = traced.one("invoke_agent orchestrator")
    assert tool.attributes[c.AGENT_ID] == "coder"
    assert tool.parent.span_id == inner.context.span_id
    assert inner.parent.span_id == outer.context.span_id
    assert swarmscope.current_agent() is None


# tool --------------------------------------------------------------------------------------------


def test_tool_span_inside_agent(traced):
    with swarmscope.agent("researcher") as a, swarmscope.tool(
        "web_search", arguments={"q": "otel", "n": 3}, idempotency_key="search-1"
    ) as t:
        t.set_result(["r1", "r2"])
    span = traced.one("execute_tool web_search")
    attrs = span.attributes
    assert attrs[c.OPERATION] == "execute_tool"
    assert attrs[c.TOOL_NAME] == "web_search"
    assert attrs[c.TOOL_CALL_ID].startswith("call_")
    assert attrs[c.ATTEMPT] == 1
    assert attrs[c.IDEMPOTENCY_KEY] == "search-1"
    assert attrs[c.INPUT_HASH] == swarmscope.fingerprint({"n": 3, "q": "otel"})
    assert attrs[c.OUTPUT_HASH] == swarmscope.fingerprint(["r1", "r2"])
    assert attrs[c.AGENT_ID] == "researcher" and attrs[c.AGENT_NAME] == "researcher"
    assert attrs[c.RUN_ID] == traced.one("invoke_agent researcher").attributes[c.RUN_ID]
    assert span.parent.span_id == a.span.get_span_context().span_id
    assert span.status.status_code is StatusCode.OK
    assert c.TOOL_ARGUMENTS not in attrs and c.TOOL_RESULT not in attrs


def test_tool_error_without_exception(traced):
    with swarmscope.tool("http_get", arguments="https://x") as t:
        t.set_error("http.503", "service unavailable")
    span = traced.one("execute_tool http_get")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[c.ERROR_TYPE] == "http.503"


def test_tool_outside_an_agent_still_has_a_run(traced):
    with swarmscope.tool("lonely"):
        pass
    attrs = traced.one("execute_tool lonely").attributes
    assert c.AGENT_ID not in attrs
    assert attrs[c.RUN_ID]


def test_decorators_sync_and_async_record_arguments_and_results(traced):
    @swarmscope.tool("add")
    def add(a, b=1):
        return a + b

    @swarmscope.agent("summarizer", role="writer")
    async def summarize(self_like, text):
        return text.upper()

    class Holder:
        @swarmscope.agent("method-agent")
        def run(self, x):
            return x * 2

    assert add(2, b=3) == 5 and add(4) == 5
    assert asyncio.run(summarize(None, "hi")) == "HI"
    assert Holder().run(21) == 42

    adds = [s for s in traced.spans() if s.name == "execute_tool add"]
    assert len(adds) == 2 and adds[0].context.span_id != adds[1].context.span_id
    assert adds[0].attributes[c.INPUT_HASH] == swarmscope.fingerprint({"a": 2, "b": 3})
    assert adds[0].attributes[c.OUTPUT_HASH] == swarmscope.fingerprint(5)
    # bound arguments, not positional: add(4) and add(a=4, b=1) are the same input
    assert adds[1].attributes[c.INPUT_HASH] == swarmscope.fingerprint({"a": 4, "b": 1})
    summ = traced.one("invoke_agent summarizer")
    assert summ.attributes[c.INPUT_HASH] == swarmscope.fingerprint({"self_like": None, "text": "hi"})
    assert summ.attributes[c.OUTPUT_HASH] == swarmscope.fingerprint("HI")
    assert summ.attributes[c.AGENT_ROLE] == "writer"
    # `self` is not part of the input (its repr would differ between runs)
    method = traced.one("invoke_agent method-agent")
    assert method.attributes[c.INPUT_HASH] == swarmscope.fingerprint({"x": 21})


def test_async_context_managers(traced):
    async def main():
        async with swarmscope.agent("async-agent") as a:
            async with swarmscope.tool("fetch") as t:
                await asyncio.sleep(0)
                t.set_result(1)
            a.set_output("done")

    asyncio.run(main())
    tool = traced.one("execute_tool fetch")
    assert tool.attributes[c.AGENT_ID] == "async-agent"
    assert tool.parent.span_id == traced.one("invoke_agent async-agent").context.span_id


def test_concurrent_asyncio_tasks_keep_their_own_agent(traced):
    async def worker(name):
        async with swarmscope.agent(name):
            await asyncio.sleep(0.01)
            async with swarmscope.tool("step"):
                await asyncio.sleep(0.01)

    async def main():
        await asyncio.gather(*(worker(f"w{i}") for i in range(5)))

    asyncio.run(main())
    by_id = {s.context.span_id: s for s in traced.spans()}
    steps = [s for s in by_id.values() if s.name == "execute_tool step"]
    assert len(steps) == 5
    for step in steps:
        assert by_id[step.parent.span_id].attributes[c.AGENT_ID] == step.attributes[c.AGENT_ID]


# wait_for ----------------------------------------------------------------------------------------


def test_wait_span_shape(traced):
    with swarmscope.agent("tester"), swarmscope.wait_for("coder", "T-7", resource="repo-lock", timeout=2.5):
        pass
    span = traced.one("wait coder")
    attrs = span.attributes
    assert attrs[c.OPERATION] == "wait"
    assert attrs[c.WAIT_FOR] == "coder"
    assert attrs[c.WAIT_TASK_ID] == "T-7"
    assert attrs[c.WAIT_RESOURCE] == "repo-lock"
    assert attrs[c.WAIT_TIMEOUT_MS] == 2500
    assert attrs[c.AGENT_ID] == "tester" and attrs[c.RUN_ID]
    assert span.status.status_code is StatusCode.OK


def _assert_timed_out(traced, target="coder"):
    span = traced.one(f"wait {target}")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[c.ERROR_TYPE] == "timeout"


def test_bounded_wait_on_a_queue(traced):
    q: queue.Queue = queue.Queue()
    with pytest.raises(swarmscope.WaitTimeout) as info, swarmscope.wait_for("coder", "T", timeout=0.05) as w:
        w.get(q)
    assert isinstance(info.value, TimeoutError)
    assert "coder" in str(info.value) and info.value.task_id == "T"
    assert w.timed_out
    _assert_timed_out(traced)


def test_bounded_wait_returns_what_arrives_in_time(traced):
    q: queue.Queue = queue.Queue()
    q.put("patch")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(lambda: "review")
        with swarmscope.wait_for("coder", timeout=5) as w:
            assert w.get(q) == "patch"
            assert w.result(future) == "review"
            assert 0 < w.remaining() <= 5
    assert traced.one("wait coder").status.status_code is StatusCode.OK


def test_bounded_wait_on_a_future(traced):
    never: concurrent.futures.Future = concurrent.futures.Future()
    with pytest.raises(swarmscope.WaitTimeout), swarmscope.wait_for("coder", timeout=0.05) as w:
        w.result(never)
    _assert_timed_out(traced)


def test_a_future_that_itself_timed_out_is_not_our_deadline(traced):
    failed: concurrent.futures.Future = concurrent.futures.Future()
    failed.set_exception(TimeoutError("the tool's own timeout"))
    with pytest.raises(TimeoutError) as info, swarmscope.wait_for("coder", timeout=5) as w:
        w.result(failed)
    assert not isinstance(info.value, swarmscope.WaitTimeout)
    assert traced.one("wait coder").attributes[c.ERROR_TYPE] == "TimeoutError"


def test_bounded_wait_on_an_event(traced):
    with pytest.raises(swarmscope.WaitTimeout), swarmscope.wait_for("coder", timeout=0.05) as w:
        w.wait_event(threading.Event())
    _assert_timed_out(traced)


def test_bounded_wait_on_an_awaitable(traced):
    cancelled = []

    async def never():
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def main():
        async with swarmscope.wait_for("coder", timeout=0.05) as w:
            assert await w.wait(asyncio.sleep(0, result="quick")) == "quick"
            await w.wait(never())

    with pytest.raises(swarmscope.WaitTimeout):
        asyncio.run(main())
    assert cancelled == [True]  # the abandoned awaitable does not linger
    _assert_timed_out(traced)


def test_timeout_caught_inside_the_block_still_marks_the_wait(traced):
    with swarmscope.agent("tester") as a, swarmscope.wait_for("coder", timeout=0) as w:
        try:
            w.get(queue.Queue())
        except swarmscope.WaitTimeout:
            a.set_task_status("partial")
    _assert_timed_out(traced)
    assert traced.one("invoke_agent tester").attributes[c.TASK_STATUS] == "partial"


def test_wait_timeout_escaping_the_agent_fails_it(traced):
    with pytest.raises(swarmscope.WaitTimeout), swarmscope.agent("tester"), swarmscope.wait_for(
        "coder", timeout=0
    ) as w:
        w.get(queue.Queue())
    assert traced.one("invoke_agent tester").attributes[c.ERROR_TYPE] == "swarmscope.WaitTimeout"


# content capture ---------------------------------------------------------------------------------


def test_content_capture_goes_through_the_redaction_hook(make_traced):
    seen = []

    def redact(value, attribute):
        seen.append(attribute)
        if attribute == c.TOOL_RESULT:
            return None  # never record tool results
        if isinstance(value, dict):
            return {k: ("***" if k == "api_key" else v) for k, v in value.items()}
        return value

    traced = make_traced(capture_content=True, redact=redact, max_content_chars=30)
    with swarmscope.agent("a", input={"q": "hi", "api_key": "sk-123"}) as a:
        with swarmscope.tool("t", arguments={"api_key": "sk-123"}) as t:
            t.set_result("secret result")
        a.set_output("x" * 50)
    agent_attrs = traced.one("invoke_agent a").attributes
    tool_attrs = traced.one("execute_tool t").attributes
    assert json.loads(agent_attrs[c.INPUT_CONTENT]) == {"api_key": "***", "q": "hi"}
    assert agent_attrs[c.OUTPUT_CONTENT] == "x" * 30 + "...[truncated]"
    assert json.loads(tool_attrs[c.TOOL_ARGUMENTS]) == {"api_key": "***"}
    assert c.TOOL_RESULT not in tool_attrs
    # hashes are of the real values, whatever was redacted
    assert agent_attrs[c.INPUT_HASH] == swarmscope.fingerprint({"q": "hi", "api_key": "sk-123"})
    assert tool_attrs[c.OUTPUT_HASH] == swarmscope.fingerprint("secret result")
    assert set(seen) == {c.INPUT_CONTENT, c.OUTPUT_CONTENT, c.TOOL_ARGUMENTS, c.TOOL_RESULT}


def test_a_failing_redactor_records_nothing(make_traced):
    def broken(value, attribute):
        raise RuntimeError("bug")

    traced = make_traced(capture_content=True, redact=broken)
    with swarmscope.agent("a", input="secret"):
        pass
    attrs = traced.one("invoke_agent a").attributes
    assert c.INPUT_CONTENT not in attrs and c.INPUT_HASH in attrs


# fingerprints ------------------------------------------------------------------------------------


def test_fingerprint_is_sha256_of_canonical_json():
    assert swarmscope.fingerprint({"b": 1, "a": [1, 2]}) == hashlib.sha256(b'{"a":[1,2],"b":1}').hexdigest()
    assert swarmscope.fingerprint("é") == hashlib.sha256('"é"'.encode()).hexdigest()


def test_fingerprint_ignores_key_and_set_order_and_handles_odd_values():
    @dataclass
    class Task:
        id: str
        tags: frozenset

    fp = swarmscope.fingerprint
    assert fp({"x": 1, "y": {3, 1, 2}}) == fp({"y": {2, 3, 1}, "x": 1})
    assert swarmscope.fingerprint(Task("t", frozenset({"b", "a"}))) == swarmscope.fingerprint(
        {"id": "t", "tags": ["a", "b"]}
    )
    assert swarmscope.fingerprint({1: "a", "2": "b"}) == swarmscope.fingerprint({"1": "a", "2": "b"})
    assert swarmscope.fingerprint(b"\x00\xff") != swarmscope.fingerprint("00ff")
    assert swarmscope.fingerprint([1, 2]) != swarmscope.fingerprint([2, 1])


# run identity ------------------------------------------------------------------------------------


def test_run_id_given_to_init_is_on_every_span(make_traced):
    traced = make_traced(run_id="run-42")
    with swarmscope.agent("a"), swarmscope.tool("t"), swarmscope.wait_for("b"):
        pass
    with swarmscope.agent("later"):
        pass
    assert {s.attributes[c.RUN_ID] for s in traced.spans()} == {"run-42"}


def test_run_id_made_at_the_first_agent_is_kept_by_the_process(traced):
    with swarmscope.agent("planner"):
        first = swarmscope.current_run_id()
    with swarmscope.agent("coder"):  # a sequential pipeline: same run
        pass
    with swarmscope.run("job-2"), swarmscope.agent("next-job"):
        assert swarmscope.current_run_id() == "job-2"
    runs = {s.name: s.attributes[c.RUN_ID] for s in traced.spans()}
    assert runs == {
        "invoke_agent planner": first,
        "invoke_agent coder": first,
        "invoke_agent next-job": "job-2",
    }


def test_spans_from_other_instrumentations_get_the_run_id(traced):
    other = traced.runtime.tracer_provider.get_tracer("openai-instrumentation")
    with swarmscope.agent("a"), other.start_as_current_span("chat gpt-x"):
        pass
    with other.start_as_current_span("outside any run"):
        pass
    run = traced.one("invoke_agent a").attributes[c.RUN_ID]
    assert traced.one("chat gpt-x").attributes[c.RUN_ID] == run
    # the process run exists by now, so it is stamped outside agents too
    assert traced.one("outside any run").attributes[c.RUN_ID] == run


# propagation -------------------------------------------------------------------------------------


def test_inject_extract_carry_trace_and_run(traced):
    with swarmscope.agent("producer") as producer:
        carrier = swarmscope.inject({})
    run = producer.span.attributes[c.RUN_ID]
    assert carrier["traceparent"].split("-")[1] == format(producer.span.get_span_context().trace_id, "032x")
    assert f"swarmscope.run.id={run}" in carrier["baggage"]
    remote = trace.get_current_span(swarmscope.extract(carrier)).get_span_context()
    assert remote.span_id == producer.span.get_span_context().span_id and remote.is_remote


def test_continue_from_makes_the_remote_span_the_parent(traced):
    with swarmscope.agent("producer") as producer:
        carrier = swarmscope.inject()
    with swarmscope.run("another-run"), swarmscope.continue_from(carrier), swarmscope.agent("consumer"):
        pass
    consumer = traced.one("invoke_agent consumer")
    assert consumer.context.trace_id == producer.span.get_span_context().trace_id
    assert consumer.parent.span_id == producer.span.get_span_context().span_id
    assert consumer.attributes[c.RUN_ID] == producer.span.attributes[c.RUN_ID]
    assert not consumer.links


def test_continue_from_with_link_starts_a_linked_trace(traced):
    with swarmscope.agent("producer") as producer:
        carrier = swarmscope.inject()
    with swarmscope.continue_from(carrier, link=True):
        with swarmscope.agent("consumer"), swarmscope.tool("work"):
            pass
        with swarmscope.agent("second"):
            pass
    produced = producer.span.get_span_context()
    consumer, work, second = traced.one("invoke_agent consumer"), traced.one("execute_tool work"), traced.one(
        "invoke_agent second"
    )
    assert consumer.parent is None and consumer.context.trace_id != produced.trace_id
    assert [link.context.span_id for link in consumer.links] == [produced.span_id]
    assert [link.context.span_id for link in second.links] == [produced.span_id]
    assert not work.links  # only the first level of the hand-off links back
    assert {s.attributes[c.RUN_ID] for s in (consumer, work, second)} == {producer.span.attributes[c.RUN_ID]}


def test_inject_outside_any_span_still_carries_a_run(traced):
    carrier = swarmscope.inject()
    assert "traceparent" not in carrier
    assert carrier["baggage"].startswith("swarmscope.run.id=")


# retry -------------------------------------------------------------------------------------------


def test_retry_records_every_attempt(traced, monkeypatch):
    sleeps: list[float] = []
    monkeypatch.setattr("swarmscope._retry.time.sleep", sleeps.append)
    calls = []

    @swarmscope.retry("flaky", max_attempts=4, base_delay=0.1, idempotency_key=lambda q: f"key-{q}")
    def flaky(q):
        calls.append(q)
        if len(calls) < 3:
            raise ConnectionError("reset")
        return "ok"

    with swarmscope.agent("a"):
        assert flaky("x") == "ok"
    attempts = [s for s in traced.spans() if s.name == "execute_tool flaky"]
    attempts.sort(key=lambda s: s.start_time)
    assert [s.attributes[c.ATTEMPT] for s in attempts] == [1, 2, 3]
    assert [s.status.status_code for s in attempts] == [StatusCode.ERROR, StatusCode.ERROR, StatusCode.OK]
    assert {s.attributes[c.IDEMPOTENCY_KEY] for s in attempts} == {"key-x"}
    assert len({s.attributes[c.TOOL_CALL_ID] for s in attempts}) == 1
    assert {s.attributes[c.INPUT_HASH] for s in attempts} == {swarmscope.fingerprint({"q": "x"})}
    assert attempts[2].attributes[c.OUTPUT_HASH] == swarmscope.fingerprint("ok")
    assert attempts[0].attributes[c.ERROR_TYPE] == "ConnectionError"
    assert len(sleeps) == 2 and 0 <= sleeps[0] <= 0.1 and 0 <= sleeps[1] <= 0.2


def test_retry_gives_up_and_reraises(traced, monkeypatch):
    monkeypatch.setattr("swarmscope._retry.time.sleep", lambda s: None)

    @swarmscope.retry(max_attempts=2, retry_on=(ConnectionError,))
    def down():
        raise ConnectionError("refused")

    @swarmscope.retry(max_attempts=5, retry_on=(ConnectionError,))
    def bad_request():
        raise ValueError("400")

    with pytest.raises(ConnectionError):
        down()
    with pytest.raises(ValueError):
        bad_request()
    names = [s.name for s in traced.spans()]
    assert names.count("execute_tool down") == 2
    assert names.count("execute_tool bad_request") == 1  # not retryable: no second attempt


def test_retry_async(traced, monkeypatch):
    async def no_sleep(_):
        return None

    monkeypatch.setattr("swarmscope._retry.asyncio.sleep", no_sleep)
    state = {"n": 0}

    @swarmscope.retry("aflaky", max_attempts=3)
    async def aflaky():
        state["n"] += 1
        if state["n"] == 1:
            raise TimeoutError
        return state["n"]

    assert asyncio.run(aflaky()) == 2
    attempts = [s.attributes[c.ATTEMPT] for s in traced.spans() if s.name == "execute_tool aflaky"]
    assert sorted(attempts) == [1, 2]


def test_backoff_is_capped_exponential_with_full_jitter():
    policy = swarmscope.RetryPolicy(max_attempts=10, base_delay=0.5, max_delay=4.0)
    for attempt, cap in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (8, 4.0)]:
        samples = [policy.backoff(attempt) for _ in range(200)]
        assert all(0 <= s <= cap for s in samples)
        assert max(samples) > cap * 0.6 and min(samples) < cap * 0.4  # spread over the whole range
