"""Per-request checks on the OTLP hot path: size, decompression, encoding, well-formedness, span ids.

Spans are never turned into Python rows: a valid request leaves here as the protobuf bytes it came in
as (JSON is converted to protobuf once), and ClickHouse parses it. upb's parse is only a gate so one
malformed request cannot fail a batch of good ones.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from dataclasses import dataclass

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
ZERO_TRACE_ID = b"\0" * 16
ZERO_SPAN_ID = b"\0" * 8


class RequestError(Exception):
    """A request the collector refuses, with the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 16 * 1024 * 1024  # as received (compressed)
    max_decompressed_bytes: int = 64 * 1024 * 1024  # after gzip/deflate: gzip bombs stop here


@dataclass
class CheckedRequest:
    """A request ready for the store: protobuf bytes plus what was dropped from it."""

    payload: bytes
    span_count: int
    rejected_spans: int = 0
    error_message: str = ""


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo Content-Encoding without ever holding more than `limit` decompressed bytes."""
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        # HTTP "deflate" is zlib-wrapped, but raw deflate is common in the wild: accept both.
        raw = len(body) > 0 and (body[0] & 0x0F) != 8
        decompressor = zlib.decompressobj(wbits=-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
    else:
        raise RequestError(415, f"unsupported Content-Encoding {encoding!r}: use gzip, deflate or identity")
    try:
        out = decompressor.decompress(body, limit + 1)
    except zlib.error as exc:
        raise RequestError(400, f"body is not valid {encoding} data: {exc}") from exc
    if len(out) > limit:
        raise RequestError(413, f"decompressed body exceeds the limit of {limit} bytes")
    if not decompressor.eof:
        raise RequestError(400, f"{encoding} body is truncated")
    return out


def _hex_to_b64(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{field} must be a hex string")
    return base64.b64encode(binascii.unhexlify(value)).decode()


def _json_ids_to_base64(doc: dict) -> None:
    """OTLP/JSON writes ids as hex; protobuf's JSON mapping wants base64 for bytes fields."""
    for rs in doc.get("resourceSpans") or doc.get("resource_spans") or []:
        for ss in rs.get("scopeSpans") or rs.get("scope_spans") or []:
            for span in ss.get("spans") or []:
                for key in ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"):
                    if span.get(key):
                        span[key] = _hex_to_b64(span[key], key)
                for link in span.get("links") or []:
                    for key in ("traceId", "spanId", "trace_id", "span_id"):
                        if link.get(key):
                            link[key] = _hex_to_b64(link[key], key)


def parse_json(body: bytes) -> ExportTraceServiceRequest:
    try:
        doc = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise RequestError(400, f"JSON body is not valid UTF-8: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise RequestError(400, f"malformed JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise RequestError(400, "OTLP/JSON body must be an object with resourceSpans")
    try:
        _json_ids_to_base64(doc)
        return json_format.ParseDict(doc, ExportTraceServiceRequest(), ignore_unknown_fields=True)
    except (ValueError, TypeError, AttributeError, json_format.ParseError, binascii.Error) as exc:
        raise RequestError(400, f"not an OTLP ExportTraceServiceRequest: {exc}") from exc


def parse_protobuf(body: bytes) -> ExportTraceServiceRequest:
    try:
        return ExportTraceServiceRequest.FromString(body)
    except DecodeError as exc:
        raise RequestError(400, f"malformed protobuf ExportTraceServiceRequest: {exc}") from exc


def reencoded(payload: bytes) -> bytes:
    """A request as upb read it, encoded again: no unknown fields, one member per oneof, shortest
    varints. upb accepts protobuf that ClickHouse's parser refuses (a known field with another wire
    type, which upb keeps as an unknown field; groups; a oneof set twice; padded varints), and
    re-encoding it yields bytes ClickHouse reads. Checking for that on every request would cost
    more than the gate itself (docs/ingest.md), so only a request the store refused is re-encoded."""
    try:
        request = ExportTraceServiceRequest.FromString(payload)
    except DecodeError:
        return payload  # not from this gate (an older log): the store decides
    request.DiscardUnknownFields()
    return request.SerializeToString()


def _valid_ids(span) -> bool:
    trace_id, span_id, parent = span.trace_id, span.span_id, span.parent_span_id
    return (
        len(trace_id) == 16 and trace_id != ZERO_TRACE_ID
        and len(span_id) == 8 and span_id != ZERO_SPAN_ID
        and len(parent) in (0, 8)
    )


def drop_invalid_spans(request: ExportTraceServiceRequest) -> tuple[int, int]:
    """Remove spans whose ids are malformed; return (kept, dropped)."""
    kept = dropped = 0
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            bad = [i for i, span in enumerate(ss.spans) if not _valid_ids(span)]
            for i in reversed(bad):
                del ss.spans[i]
            dropped += len(bad)
            kept += len(ss.spans)
    return kept, dropped


def check_request(body: bytes, content_type: str, content_encoding: str | None,
                  limits: Limits) -> CheckedRequest:
    """Validate one OTLP/HTTP body; raise RequestError with the status to answer."""
    kind = media_type(content_type)
    if kind not in (PROTOBUF, JSON):
        raise RequestError(415, f"unsupported Content-Type {content_type!r}: use {PROTOBUF} or {JSON}")
    body = decompress(body, content_encoding, limits.max_decompressed_bytes)
    if kind == JSON:
        request = parse_json(body)
        body = b""  # re-serialized below
    else:
        request = parse_protobuf(body)
    return checked(request, body)


def checked(request: ExportTraceServiceRequest, original: bytes) -> CheckedRequest:
    """Drop spans with invalid ids (reported as partial success); keep the original bytes otherwise."""
    kept, dropped = drop_invalid_spans(request)
    payload = original if (original and not dropped) else request.SerializeToString()
    message = f"{dropped} span(s) dropped: trace_id must be 16 non-zero bytes, span_id 8 non-zero bytes" \
        if dropped else ""
    return CheckedRequest(payload=payload if kept else b"", span_count=kept, rejected_spans=dropped,
                          error_message=message)


def response_body(result: CheckedRequest, as_json: bool) -> bytes:
    response = ExportTraceServiceResponse()
    if result.rejected_spans:
        response.partial_success.rejected_spans = result.rejected_spans
        response.partial_success.error_message = result.error_message
    if as_json:
        return json_format.MessageToJson(response, indent=None).encode()
    return response.SerializeToString()
