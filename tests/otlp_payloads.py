"""Small builders of raw OTLP requests for collector tests (protobuf and OTLP/JSON)."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from email.message import Message
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span


def kv(key: str, value: Any) -> KeyValue:
    """An OTLP attribute; anything not bool/int/float is sent as its string form."""
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def span(trace_id: bytes | None = None, span_id: bytes | None = None, parent: bytes = b"",
         name: str = "execute_tool search", attrs: dict | None = None, start_ns: int | None = None,
         duration_ns: int = 5_000_000, status: int = 0) -> Span:
    start = start_ns or time.time_ns()
    s = Span(trace_id=trace_id if trace_id is not None else os.urandom(16),
             span_id=span_id if span_id is not None else os.urandom(8), parent_span_id=parent, name=name,
             kind=Span.SPAN_KIND_INTERNAL, start_time_unix_nano=start, end_time_unix_nano=start + duration_ns)
    s.attributes.extend(kv(k, v) for k, v in (attrs or {}).items())
    s.status.code = status
    return s


def request(*spans: Span, service: str = "tests") -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(kv("service.name", service))
    rs.scope_spans.add().spans.extend(spans)
    return req


def post(url: str, body: bytes, content_type: str = "application/x-protobuf",
         headers: dict[str, str] | None = None) -> tuple[int, Message, bytes]:
    """POST and return (status, headers, body) for any status, errors included."""
    req = urllib.request.Request(url + "/v1/traces", data=body, method="POST",
                                 headers={"Content-Type": content_type, **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def json_request(trace_id: str, span_id: str, name: str = "json span", attrs: dict | None = None) -> bytes:
    """OTLP/JSON as the spec writes it: hex ids, int64 as strings, camelCase."""
    now = time.time_ns()
    attributes = [{"key": k, "value": v} for k, v in (attrs or {}).items()]
    doc = {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]},
        "scopeSpans": [{"scope": {"name": "raw"}, "spans": [{
            "traceId": trace_id, "spanId": span_id, "name": name, "kind": 1,
            "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 1_000_000),
            "attributes": attributes, "status": {"code": 2, "message": "failed"},
        }]}],
    }]}
    return json.dumps(doc).encode()


def span_ids(n: int) -> list[bytes]:
    """`n` random span ids."""
    return [os.urandom(8) for _ in range(n)]


def insert_each(store, *spans: Span) -> None:
    """Store each span as a request of its own, in this order (children first, parents later: the
    order frameworks send them in)."""
    for s in spans:
        store.insert_requests([request(s).SerializeToString()])
