"""One big trace as raw OTLP protobuf, fast (no SDK): for the trace view's lazy loading and the UI bench.

Shape (n = 10,000 by default): an orchestrator at the root, `agents` agent spans under it one after the
other, the remaining spans shared out as their tool calls, two at a time side by side (the longer of each pair
is on the critical path; every 97th call failed, every agent's last call a wait on the next agent),
each with the attributes a real span carries. Ids are fixed (span ids
1..n, the trace id derived from `run_id`), so a test can name any span.
"""

from __future__ import annotations

import hashlib
import time
import urllib.request

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from swarmscope import _conventions as conv

MS = 1_000_000


def span_id(n: int) -> bytes:
    return n.to_bytes(8, "big")


def trace_id_for(run_id: str) -> bytes:
    return hashlib.sha256(run_id.encode()).digest()[:16]


def _kv(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def big_trace_spans(n: int = 10_000, run_id: str = "run-big", agents: int = 12,
                    start_ns: int | None = None) -> list[Span]:
    """The spans of one trace of `n` spans (n >= agents + 1)."""
    if n < agents + 1:
        raise ValueError(f"a big trace needs at least {agents + 1} spans, got {n}")
    trace = trace_id_for(run_id)
    tools = n - 1 - agents
    per_agent = [tools // agents + (1 if a < tools % agents else 0) for a in range(agents)]
    slot = 10 * MS  # a pair of calls: 8 ms and 5 ms, side by side
    pairs = [(calls + 1) // 2 for calls in per_agent]
    total = (sum(pairs) + agents) * slot
    t0 = start_ns if start_ns is not None else time.time_ns() - total - 10 * slot

    def make(sid: int, parent: int, name: str, start: int, duration: int, attrs: dict,
             error: bool = False) -> Span:
        s = Span(trace_id=trace, span_id=span_id(sid), parent_span_id=span_id(parent) if parent else b"",
                 name=name, kind=Span.SPAN_KIND_INTERNAL, start_time_unix_nano=start,
                 end_time_unix_nano=start + duration)
        s.attributes.extend(_kv(k, v) for k, v in attrs.items())
        if error:
            s.status.code = 2
            s.status.message = "tool failed: upstream 503"
        return s

    spans = [make(1, 0, "invoke_agent orchestrator", t0, total, {
        conv.OPERATION: conv.OP_AGENT, conv.AGENT_ID: "orchestrator", conv.AGENT_NAME: "orchestrator",
        conv.RUN_ID: run_id, conv.TASK_STATUS: "completed", conv.INPUT_TOKENS: 4000,
        conv.OUTPUT_TOKENS: 800})]
    next_id, start = 2, t0 + MS
    for a, calls in enumerate(per_agent):
        name = f"worker-{a}"
        agent_sid = next_id
        spans.append(make(agent_sid, 1, f"invoke_agent {name}", start, (pairs[a] + 1) * slot, {
            conv.OPERATION: conv.OP_AGENT, conv.AGENT_ID: name, conv.AGENT_NAME: name, conv.RUN_ID: run_id,
            conv.TASK_STATUS: "completed", conv.INPUT_TOKENS: 1000 + 10 * calls, conv.OUTPUT_TOKENS: 200}))
        next_id += 1
        for c in range(calls):
            common = {conv.AGENT_ID: name, conv.AGENT_NAME: name, conv.RUN_ID: run_id}
            begin = start + MS + (c // 2) * slot
            if c == calls - 1 and a + 1 < agents:
                target = f"worker-{a + 1}"
                spans.append(make(next_id, agent_sid, f"wait {target}", begin, 8 * MS, {
                    **common, conv.OPERATION: conv.OP_WAIT, conv.WAIT_FOR: target,
                    conv.WAIT_TIMEOUT_MS: 60_000}))
            else:
                tool, duration = f"tool-{c % 7}", (8 if c % 2 == 0 else 5) * MS
                spans.append(make(next_id, agent_sid, f"execute_tool {tool}", begin, duration, {
                    **common, conv.OPERATION: conv.OP_TOOL, conv.TOOL_NAME: tool, conv.ATTEMPT: 1,
                    conv.TOOL_CALL_ID: f"call-{next_id}", "http.url": f"https://api.example.com/{tool}?n={c}"},
                    error=c % 97 == 13))
            next_id += 1
        start += (pairs[a] + 1) * slot
    return spans


def requests(spans: list[Span], service: str = "big", batch: int = 2500) -> list[bytes]:
    out = []
    for i in range(0, len(spans), batch):
        req = ExportTraceServiceRequest()
        rs = req.resource_spans.add()
        rs.resource.attributes.append(_kv("service.name", service))
        rs.scope_spans.add().spans.extend(spans[i:i + batch])
        out.append(req.SerializeToString())
    return out


def send_big_trace(url: str, n: int = 10_000, run_id: str = "run-big", service: str = "big",
                   headers: dict[str, str] | None = None) -> str:
    """POST the trace to a server's OTLP/HTTP endpoint; returns its trace id (hex)."""
    for body in requests(big_trace_spans(n, run_id), service):
        req = urllib.request.Request(url.rstrip("/") + "/v1/traces", data=body, method="POST",
                                     headers={"Content-Type": "application/x-protobuf", **(headers or {})})
        with urllib.request.urlopen(req, timeout=60) as resp:
            resp.read()
    return trace_id_for(run_id).hex()
