"""Protobuf that upb reads and ClickHouse's parser refuses: the collector stores it re-encoded."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from otlp_payloads import request, span
from swarmscope.collector.otlp import reencoded
from swarmscope.schema.framing import frame, split_frames, unframe


def varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes(out) + bytes([n])


def key(field: int, wire_type: int) -> bytes:
    return varint(field << 3 | wire_type)


def length_delimited(field: int, payload: bytes) -> bytes:
    return key(field, 2) + varint(len(payload)) + payload


def with_span_tail(tail: bytes) -> tuple[bytes, bytes]:
    """A one-span request whose span message ends with `tail`, and that span's id."""
    one = span(attrs={"a": "b"})
    resource = request().resource_spans[0].resource.SerializeToString()
    scope_spans = length_delimited(2, one.SerializeToString() + tail)
    body = length_delimited(1, length_delimited(1, resource) + length_delimited(2, scope_spans))
    return body, one.span_id


REFUSED_AS_SENT = {
    "a known field with another wire type": key(5, 0) + varint(3),  # name as a varint
    "an unknown field as a group": key(50, 3) + key(1, 0) + varint(1) + key(50, 4),
    "a padded varint": key(6, 0) + b"\x81" + b"\x80" * 8 + b"\x00",  # kind
    "a oneof set twice": length_delimited(9, length_delimited(1, b"k") + length_delimited(
        2, length_delimited(1, b"s") + key(3, 0) + varint(7))),
}


@pytest.mark.parametrize("case", REFUSED_AS_SENT)
def test_store_refuses_as_sent_and_takes_it_reencoded(store, case):
    body, span_id = with_span_tail(REFUSED_AS_SENT[case])
    ExportTraceServiceRequest.FromString(body)  # the collector's gate accepts it
    with pytest.raises(Exception, match="(?i)protobuf"):
        store.insert_requests([body])
    store.insert_requests([reencoded(body)])
    assert store.scalar("SELECT count() FROM spans WHERE SpanId = {id:String}", {"id": span_id.hex()}) == 1


def test_framing_round_trip():
    messages = [b"", b"x", b"y" * 127, b"z" * 128, b"w" * 70_000]
    framed = b"".join(frame(m) for m in messages)
    frames, size = split_frames(framed + frame(b"torn" * 50)[:20])
    assert size == len(framed)
    assert [unframe(f) for f in frames] == messages
    with pytest.raises(ValueError):
        unframe(frame(b"a") + b"extra")
