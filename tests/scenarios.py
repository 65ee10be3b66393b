"""Scenario builders for the detector tests: raw OTLP ExportTraceServiceRequest messages, no SDK.

One `Scenario` is one trace of one run, in one of three attribute styles, so detectors are tested on
what other instrumentations send as well as on ours:

- "swarmscope":    gen_ai.operation.name, gen_ai.agent.id/name, gen_ai.usage.input_tokens, swarmscope.*
- "genai":         GenAI semconv only where it has a name: gen_ai.agent.name (no id),
                   gen_ai.usage.prompt_tokens/completion_tokens, gen_ai.conversation.id for the run,
                   a2a.task.id / a2a.task.state for tasks
- "openinference": openinference.span.kind AGENT/TOOL/LLM, agent.name, tool.name,
                   llm.token_count.prompt/completion, llm.model_name, session.id

Waits, evidence, attempts and idempotency keys have no standard names: every style uses ours.
Times are seconds relative to the scenario's `now` (negative = in the past). A span with `dur=None`
is open: it is only sent as pending-span heartbeats (`heartbeat()`), exactly as the SDK sends them.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from otlp_payloads import kv

STYLES = ("swarmscope", "genai", "openinference")
NS = 1_000_000_000


@dataclass
class Ref:
    """A span of the scenario (finished or open)."""

    span_id: bytes
    trace_id: bytes
    parent: bytes
    name: str
    start_ns: int
    attrs: dict[str, Any]
    service: str
    agent: str = ""

    @property
    def id(self) -> str:
        return self.span_id.hex()

    @property
    def trace(self) -> str:
        return self.trace_id.hex()


@dataclass
class Scenario:
    style: str = "swarmscope"
    run_id: str | None = None
    service: str = "swarm"
    now_ns: int = field(default_factory=time.time_ns)
    trace_id: bytes = field(default_factory=lambda: os.urandom(16))

    def __post_init__(self) -> None:
        assert self.style in STYLES, self.style
        if self.run_id is None:
            self.run_id = "run-" + os.urandom(6).hex()
        self._spans: list[tuple[str, Span]] = []

    # ---- attribute styles -------------------------------------------------------------------

    def _common(self, agent: str | None) -> dict[str, Any]:
        attrs: dict[str, Any] = {}
        if self.run_id:
            attrs[
                {
                    "swarmscope": "swarmscope.run.id",
                    "genai": "gen_ai.conversation.id",
                    "openinference": "session.id",
                }[self.style]
            ] = self.run_id
        if agent:
            if self.style == "swarmscope":
                attrs.update({"gen_ai.agent.id": agent, "gen_ai.agent.name": agent})
            elif self.style == "genai":
                attrs["gen_ai.agent.name"] = agent
            else:
                attrs["agent.name"] = agent
        return attrs

    def _op(self, op: str) -> dict[str, Any]:
        if self.style == "openinference":
            return {
                "openinference.span.kind": {"invoke_agent": "AGENT", "execute_tool": "TOOL", "chat": "LLM"}[
                    op
                ]
            }
        return {"gen_ai.operation.name": op}

    def _tokens(self, input_tokens: int | None, output_tokens: int | None) -> dict[str, Any]:
        names = {
            "swarmscope": ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"),
            "genai": ("gen_ai.usage.prompt_tokens", "gen_ai.usage.completion_tokens"),
            "openinference": ("llm.token_count.prompt", "llm.token_count.completion"),
        }[self.style]
        attrs = {}
        if input_tokens is not None:
            attrs[names[0]] = input_tokens
        if output_tokens is not None:
            attrs[names[1]] = output_tokens
        return attrs

    def _task(self, task_id: str | None, status: str | None) -> dict[str, Any]:
        id_key, status_key = (
            ("a2a.task.id", "a2a.task.state")
            if self.style == "genai"
            else ("swarmscope.task.id", "swarmscope.task.status")
        )
        attrs = {}
        if task_id:
            attrs[id_key] = task_id
        if status:
            attrs[status_key] = status
        return attrs

    # ---- spans ------------------------------------------------------------------------------

    def _emit(
        self,
        name: str,
        *,
        parent: Ref | None,
        start: float,
        dur: float | None,
        attrs: dict[str, Any],
        status: str = "unset",
        message: str = "",
        agent: str = "",
        service: str | None = None,
        span_id: bytes | None = None,
    ) -> Ref:
        ref = Ref(
            span_id=span_id or os.urandom(8),
            trace_id=self.trace_id,
            parent=parent.span_id if parent else b"",
            name=name,
            start_ns=self.now_ns + int(start * NS),
            attrs=attrs,
            service=service or self.service,
            agent=agent,
        )
        if dur is not None:
            span = Span(
                trace_id=ref.trace_id,
                span_id=ref.span_id,
                parent_span_id=ref.parent,
                name=name,
                kind=Span.SPAN_KIND_INTERNAL,
                start_time_unix_nano=ref.start_ns,
                end_time_unix_nano=ref.start_ns + int(dur * NS),
            )
            span.attributes.extend(kv(k, v) for k, v in attrs.items())
            code = {
                "unset": Status.STATUS_CODE_UNSET,
                "ok": Status.STATUS_CODE_OK,
                "error": Status.STATUS_CODE_ERROR,
            }[status]
            span.status.CopyFrom(Status(code=code, message=message))
            self._spans.append((ref.service, span))
        return ref

    def agent(
        self,
        name: str,
        *,
        parent: Ref | None = None,
        start: float = -60,
        dur: float | None = 30,
        status: str = "ok",
        task_id: str | None = None,
        task_status: str | None = "completed",
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        input_hash: str | None = None,
        output_hash: str | None = None,
        confidence: float | None = None,
        role: str | None = None,
        service: str | None = None,
        **extra: Any,
    ) -> Ref:
        attrs = {
            **self._op("invoke_agent"),
            **self._common(name),
            **self._task(task_id, task_status),
            **self._tokens(input_tokens, output_tokens),
        }
        if role:
            attrs["swarmscope.agent.role"] = role
        if input_hash:
            attrs["swarmscope.input.hash"] = input_hash
        if output_hash:
            attrs["swarmscope.output.hash"] = output_hash
        if confidence is not None:
            attrs["swarmscope.confidence"] = confidence
        if self.style == "openinference":
            attrs.setdefault("llm.model_name", "gpt-5-mini")
        else:
            attrs.setdefault("gen_ai.request.model", "gpt-5-mini")
        attrs.update(extra)
        return self._emit(
            f"invoke_agent {name}",
            parent=parent,
            start=start,
            dur=dur,
            attrs=attrs,
            status=status,
            agent=name,
            service=service,
        )

    def tool(
        self,
        name: str,
        *,
        parent: Ref,
        start: float = -50,
        dur: float | None = 1.0,
        error: str | None = None,
        attempt: int | None = None,
        call_id: str | None = None,
        idempotency_key: str | None = None,
        input_hash: str | None = None,
        agent: str | None = None,
        **extra: Any,
    ) -> Ref:
        agent = agent if agent is not None else parent.agent
        attrs = {**self._op("execute_tool"), **self._common(agent)}
        attrs["tool.name" if self.style == "openinference" else "gen_ai.tool.name"] = name
        attrs["tool.id" if self.style == "openinference" else "gen_ai.tool.call.id"] = (
            call_id or "call_" + os.urandom(4).hex()
        )
        if attempt is not None:
            attrs["swarmscope.attempt"] = attempt
        if idempotency_key:
            attrs["swarmscope.idempotency_key"] = idempotency_key
        if input_hash:
            attrs["swarmscope.input.hash"] = input_hash
        if error:
            attrs["error.type"] = error
        attrs.update(extra)
        return self._emit(
            f"execute_tool {name}",
            parent=parent,
            start=start,
            dur=dur,
            attrs=attrs,
            status="error" if error else "unset",
            message=f"{name} failed: {error}" if error else "",
            agent=agent,
        )

    def llm(
        self,
        *,
        parent: Ref,
        start: float = -55,
        dur: float = 2.0,
        input_tokens: int = 800,
        output_tokens: int = 120,
    ) -> Ref:
        attrs = {**self._op("chat"), **self._common(None), **self._tokens(input_tokens, output_tokens)}
        return self._emit(
            "chat gpt-5-mini", parent=parent, start=start, dur=dur, attrs=attrs, agent=parent.agent
        )

    def wait(
        self,
        *,
        parent: Ref,
        for_: str | None = None,
        task_id: str | None = None,
        resource: str | None = None,
        timeout_ms: int | None = None,
        start: float = -40,
        dur: float | None = 5.0,
        error: str | None = None,
        agent: str | None = None,
    ) -> Ref:
        agent = agent if agent is not None else parent.agent
        attrs = {"gen_ai.operation.name": "wait", **self._common(agent)}
        if self.style == "openinference":  # no operation name of its own there; the wait attributes say it
            del attrs["gen_ai.operation.name"]
        if for_:
            attrs["swarmscope.wait.for"] = for_
        if task_id:
            attrs["swarmscope.wait.task_id"] = task_id
        if resource:
            attrs["swarmscope.wait.resource"] = resource
        if timeout_ms is not None:
            attrs["swarmscope.wait.timeout_ms"] = timeout_ms
        if error:
            attrs["error.type"] = error
        target = for_ or task_id or resource or "?"
        return self._emit(
            f"wait {target}",
            parent=parent,
            start=start,
            dur=dur,
            attrs=attrs,
            status="error" if error else "unset",
            agent=agent,
        )

    def heartbeat(self, ref: Ref, at: float, interval_ms: int | None = 10_000, logfire: bool = False) -> None:
        """A pending-span record for `ref` sent at `at` (its heartbeat). interval None: an SDK that does
        not heartbeat (Logfire style)."""
        attrs = dict(ref.attrs)
        if logfire:
            attrs.update(
                {
                    "logfire.span_type": "pending_span",
                    "logfire.pending_parent_id": (ref.parent or bytes(8)).hex(),
                }
            )
        else:
            attrs.update(
                {
                    "swarmscope.span_type": "pending",
                    "swarmscope.pending_parent_id": (ref.parent or bytes(8)).hex(),
                }
            )
        if interval_ms is not None:
            attrs["swarmscope.heartbeat.interval_ms"] = interval_ms
        span = Span(
            trace_id=ref.trace_id,
            span_id=os.urandom(8),
            parent_span_id=ref.span_id,
            name=ref.name,
            kind=Span.SPAN_KIND_INTERNAL,
            start_time_unix_nano=ref.start_ns,
            end_time_unix_nano=self.now_ns + int(at * NS),
        )
        span.attributes.extend(kv(k, v) for k, v in attrs.items())
        self._spans.append((ref.service, span))

    def finish(self, ref: Ref, end: float, status: str = "unset", **attrs: Any) -> None:
        """Send the finished span for a span that was open (same ids)."""
        span = Span(
            trace_id=ref.trace_id,
            span_id=ref.span_id,
            parent_span_id=ref.parent,
            name=ref.name,
            kind=Span.SPAN_KIND_INTERNAL,
            start_time_unix_nano=ref.start_ns,
            end_time_unix_nano=self.now_ns + int(end * NS),
        )
        span.attributes.extend(kv(k, v) for k, v in {**ref.attrs, **attrs}.items())
        span.status.CopyFrom(Status(code={"unset": 0, "ok": 1, "error": 2}[status]))
        self._spans.append((ref.service, span))

    # ---- output -----------------------------------------------------------------------------

    def requests(self) -> list[bytes]:
        by_service: dict[str, list[Span]] = {}
        for service, span in self._spans:
            by_service.setdefault(service, []).append(span)
        out = []
        for service, spans in by_service.items():
            request = ExportTraceServiceRequest()
            rs = request.resource_spans.add()
            rs.resource.attributes.extend([kv("service.name", service)])
            ss = rs.scope_spans.add()
            ss.scope.name = {
                "swarmscope": "swarmscope",
                "genai": "opentelemetry.instrumentation.genai",
                "openinference": "openinference.instrumentation",
            }[self.style]
            ss.spans.extend(spans)
            out.append(request.SerializeToString())
        return out

    def insert(self, store) -> Scenario:
        store.insert_requests(self.requests())
        self._spans.clear()
        return self


def clean_run(style: str = "swarmscope", now_ns: int | None = None) -> Scenario:
    """A healthy four-agent run: planner, coder, tester and docs under an orchestrator; waits that end,
    tools that succeed, evidence that agrees, and heartbeats of spans that were open for a while."""
    sc = Scenario(style=style, now_ns=now_ns or time.time_ns())
    orch = sc.agent(
        "orchestrator",
        start=-120,
        dur=110,
        task_id="FEAT-42",
        role="orchestrator",
        input_tokens=1200,
        output_tokens=300,
        input_hash="h-req",
        output_hash="h-result",
        confidence=0.9,
        **{"swarmscope.context.budget_tokens": 64000},
    )
    sc.heartbeat(orch, at=-110)  # it was pending for a while, then finished
    planner = sc.agent(
        "planner",
        parent=orch,
        start=-118,
        dur=10,
        task_id="FEAT-42/plan",
        input_tokens=1500,
        output_tokens=400,
        input_hash="h-req",
        output_hash="h-plan",
        confidence=0.85,
    )
    sc.llm(parent=planner, start=-117, dur=3, input_tokens=1500, output_tokens=400)
    sc.tool("read_file", parent=planner, start=-113, dur=0.2, idempotency_key=f"{sc.run_id}/plan-read-1")
    coder = sc.agent(
        "coder",
        parent=orch,
        start=-106,
        dur=40,
        task_id="FEAT-42/code",
        input_tokens=2400,
        output_tokens=1800,
        input_hash="h-plan",
        output_hash="h-patch",
        confidence=0.8,
        **{"swarmscope.evidence.files_changed": 2},
    )
    sc.wait(parent=coder, for_="planner", task_id="FEAT-42/plan", timeout_ms=60_000, start=-106, dur=0.5)
    sc.tool("write_file", parent=coder, start=-90, dur=0.3, idempotency_key=f"{sc.run_id}/write-feature-py")
    # one failed attempt, retried with backoff and recovered: not a partial failure
    sc.tool(
        "web_search", parent=coder, start=-85, dur=1.0, error="UpstreamError", attempt=1, call_id="call-ws"
    )
    sc.tool("web_search", parent=coder, start=-82, dur=1.0, attempt=2, call_id="call-ws")
    tester = sc.agent(
        "tester",
        parent=orch,
        start=-64,
        dur=30,
        task_id="FEAT-42/test",
        input_tokens=2600,
        output_tokens=200,
        input_hash="h-patch",
        output_hash="h-tests-ok",
        confidence=0.95,
        **{
            "swarmscope.evidence.exit_code": 0,
            "swarmscope.evidence.test_command": "pytest -q",
            "swarmscope.evidence.validation.passed": True,
        },
    )
    sc.wait(parent=tester, for_="coder", task_id="FEAT-42/code", timeout_ms=120_000, start=-64, dur=0.2)
    run_tests = sc.tool(
        "run_tests",
        parent=tester,
        start=-60,
        dur=20,
        **{"swarmscope.evidence.test_command": "pytest -q", "swarmscope.evidence.exit_code": 0},
    )
    sc.heartbeat(run_tests, at=-50)
    docs = sc.agent(
        "docs",
        parent=orch,
        start=-30,
        dur=18,
        task_id="FEAT-42/docs",
        input_tokens=2000,
        output_tokens=900,
        input_hash="h-patch",
        output_hash="h-docs",
        confidence=0.9,
    )
    sc.wait(parent=docs, for_="tester", timeout_ms=60_000, start=-30, dur=0.1)
    sc.tool("write_file", parent=docs, start=-20, dur=0.2, idempotency_key=f"{sc.run_id}/write-docs-md")
    return sc


def detect(store, *kinds: str, config=None, persist: bool = True, **kwargs: Any) -> list:
    """One full sweep of `kinds` (all kinds if none) over the store; the findings present now."""
    from swarmscope.detectors.config import DetectorConfig
    from swarmscope.detectors.runner import run_sweep

    result = run_sweep(
        store,
        config or DetectorConfig(),
        kinds=set(kinds) if kinds else None,
        persist_findings=persist,
        **kwargs,
    )
    assert not result.errors, result.errors
    return result.findings


def stored(store, kind: str | None = None) -> list[dict]:
    """Rows of the findings table (latest version of each)."""
    sql = (
        "SELECT Id, Kind, Status, toUnixTimestamp64Milli(FirstSeen) AS first_ms, "
        "toUnixTimestamp64Milli(LastSeen) AS last_ms, SpanIds, Evidence FROM findings FINAL"
    )
    rows = store.rows(sql)
    return [r for r in rows if kind is None or r["Kind"] == kind]
