"""Realistic agent-swarm OTLP traffic for benchmarks: an orchestrator fanning out to agents that call tools.

Each trace: one orchestrator span, agents (planner, coder, tester, docs, researcher...) with waits
and tool calls underneath, ~15 attributes a span, a few percent errors and retries. Requests are
pre-serialized so the benchmark measures the server, not the generator.
"""

from __future__ import annotations

import hashlib
import random
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

AGENTS = ["planner", "coder", "tester", "docs", "researcher", "reviewer"]
TOOLS = ["web_search", "read_file", "write_file", "run_tests", "git_diff", "vector_lookup", "http_get"]
MODELS = ["gpt-5-mini", "claude-sonnet-5", "llama-4-70b"]


def _kv(key: str, value: str | int | float | bool) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _hash(rng: random.Random) -> str:
    return hashlib.sha256(rng.randbytes(16)).hexdigest()


class SwarmTraffic:
    """Generates spans of whole swarm runs, packed into requests of `spans_per_request` spans."""

    def __init__(self, seed: int = 7, service: str = "swarm-bench") -> None:
        self.rng = random.Random(seed)
        self.service = service

    def _span(self, trace_id: bytes, parent: bytes, name: str, start: int, dur: int,
              attrs: list[KeyValue], error: bool = False) -> Span:
        span = Span(trace_id=trace_id, span_id=self.rng.randbytes(8), parent_span_id=parent, name=name,
                    kind=Span.SPAN_KIND_INTERNAL, start_time_unix_nano=start, end_time_unix_nano=start + dur)
        span.attributes.extend(attrs)
        if error:
            span.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR,
                                        message="tool call failed: upstream 503"))
            span.attributes.append(_kv("error.type", "UpstreamError"))
        return span

    def run_spans(self, now_ns: int) -> list[Span]:
        """One swarm run: orchestrator -> agents -> (tools, waits). ~20-40 spans."""
        rng = self.rng
        trace_id = rng.randbytes(16)
        run_id = rng.randbytes(8).hex()
        start = now_ns - rng.randint(1, 60) * 1_000_000_000
        root = self._span(trace_id, b"", "invoke_agent orchestrator", start, 30_000_000_000, [
            _kv("gen_ai.operation.name", "invoke_agent"), _kv("gen_ai.agent.id", "orchestrator"),
            _kv("gen_ai.agent.name", "orchestrator"), _kv("swarmscope.agent.role", "orchestrator"),
            _kv("swarmscope.run.id", run_id), _kv("swarmscope.task.id", f"task-{rng.randint(1, 10**9)}"),
            _kv("swarmscope.task.status", "completed"), _kv("gen_ai.request.model", rng.choice(MODELS)),
            _kv("gen_ai.usage.input_tokens", rng.randint(500, 5000)),
            _kv("gen_ai.usage.output_tokens", rng.randint(50, 900)),
            _kv("swarmscope.input.hash", _hash(rng)), _kv("swarmscope.output.hash", _hash(rng)),
            _kv("swarmscope.confidence", round(rng.uniform(0.6, 0.99), 3)),
            _kv("gen_ai.system", "openai"), _kv("swarmscope.context.budget_tokens", 128000),
        ])
        spans = [root]
        t = start + 1_000_000
        for agent in rng.sample(AGENTS, rng.randint(3, 5)):
            agent_span = self._span(trace_id, root.span_id, f"invoke_agent {agent}", t, 5_000_000_000, [
                _kv("gen_ai.operation.name", "invoke_agent"), _kv("gen_ai.agent.id", agent),
                _kv("gen_ai.agent.name", agent), _kv("swarmscope.agent.role", agent),
                _kv("swarmscope.run.id", run_id),
                _kv("swarmscope.task.id", f"{agent}-{rng.randint(1, 10**9)}"),
                _kv("swarmscope.task.status", "completed"), _kv("gen_ai.request.model", rng.choice(MODELS)),
                _kv("gen_ai.usage.input_tokens", rng.randint(500, 20000)),
                _kv("gen_ai.usage.output_tokens", rng.randint(50, 2000)),
                _kv("swarmscope.input.hash", _hash(rng)), _kv("swarmscope.output.hash", _hash(rng)),
                _kv("swarmscope.confidence", round(rng.uniform(0.5, 0.99), 3)),
                _kv("swarmscope.evidence.exit_code", 0),
                _kv("swarmscope.evidence.files_changed", rng.randint(0, 9)),
            ])
            spans.append(agent_span)
            for _ in range(rng.randint(3, 7)):
                tool = rng.choice(TOOLS)
                attempt = 1 if rng.random() > 0.05 else 2
                spans.append(self._span(trace_id, agent_span.span_id, f"execute_tool {tool}", t,
                                        rng.randint(5, 900) * 1_000_000, [
                    _kv("gen_ai.operation.name", "execute_tool"), _kv("gen_ai.tool.name", tool),
                    _kv("gen_ai.tool.call.id", f"call_{rng.randbytes(6).hex()}"),
                    _kv("gen_ai.agent.id", agent), _kv("gen_ai.agent.name", agent),
                    _kv("swarmscope.run.id", run_id), _kv("swarmscope.attempt", attempt),
                    _kv("swarmscope.idempotency_key", rng.randbytes(8).hex()),
                    _kv("swarmscope.input.hash", _hash(rng)), _kv("swarmscope.output.hash", _hash(rng)),
                    _kv("http.url", f"https://api.example.com/{tool}?q={rng.randint(1, 10**6)}"),
                    _kv("tool.arguments.size", rng.randint(10, 4000)), _kv("cache.hit", rng.random() < 0.3),
                    _kv("swarmscope.task.id", f"{agent}-t"), _kv("gen_ai.system", "swarmscope"),
                ], error=rng.random() < 0.03))
                t += 10_000_000
            if rng.random() < 0.5:
                target = rng.choice(AGENTS)
                spans.append(self._span(trace_id, agent_span.span_id, f"wait {target}", t, 800_000_000, [
                    _kv("gen_ai.operation.name", "wait"), _kv("swarmscope.wait.for", target),
                    _kv("swarmscope.wait.task_id", f"{target}-{rng.randint(1, 1000)}"),
                    _kv("swarmscope.wait.timeout_ms", 120000), _kv("gen_ai.agent.id", agent),
                    _kv("gen_ai.agent.name", agent), _kv("swarmscope.run.id", run_id),
                ]))
        return spans

    def requests(self, count: int, spans_per_request: int = 512) -> list[bytes]:
        """`count` serialized ExportTraceServiceRequests of exactly `spans_per_request` spans."""
        now = time.time_ns()
        out: list[bytes] = []
        buffer: list[Span] = []
        while len(out) < count:
            buffer.extend(self.run_spans(now))
            while len(buffer) >= spans_per_request and len(out) < count:
                chunk, buffer = buffer[:spans_per_request], buffer[spans_per_request:]
                request = ExportTraceServiceRequest()
                rs = request.resource_spans.add()
                rs.resource.attributes.extend([_kv("service.name", self.service),
                                               _kv("service.version", "1.4.2"),
                                               _kv("host.name", "worker-3")])
                ss = rs.scope_spans.add()
                ss.scope.name = "swarmscope"
                ss.spans.extend(chunk)
                out.append(request.SerializeToString())
        return out
