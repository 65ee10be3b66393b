"""OTLP/HTTP: `POST /v1/traces`, protobuf or JSON, gzip or deflate."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import Response
from google.rpc import code_pb2, status_pb2

from .group_commit import CommitFailed, GroupCommitter, Overloaded
from .otlp import JSON, PROTOBUF, Limits, RequestError, check_request, media_type, response_body

router = APIRouter()
# Why a request was refused, as /metrics counts it (overload is CommitStats.rejected_overload).
REJECT_REASONS = {400: "invalid", 413: "too_large", 415: "unsupported_media_type"}

_RPC_CODES = {
    400: code_pb2.INVALID_ARGUMENT,
    401: code_pb2.UNAUTHENTICATED,
    413: code_pb2.INVALID_ARGUMENT,
    415: code_pb2.INVALID_ARGUMENT,
    429: code_pb2.RESOURCE_EXHAUSTED,
    503: code_pb2.UNAVAILABLE,
}


def status_response(status: int, message: str, content_type: str | None,
                    headers: dict[str, str] | None = None) -> Response:
    """An error as a google.rpc.Status in the request's encoding (JSON when that is unknown)."""
    rpc = status_pb2.Status(code=_RPC_CODES.get(status, code_pb2.INTERNAL), message=message)
    if media_type(content_type) == PROTOBUF:
        return Response(rpc.SerializeToString(), status_code=status, media_type=PROTOBUF, headers=headers)
    body = json.dumps({"code": rpc.code, "message": message})
    return Response(body, status_code=status, media_type=JSON, headers=headers)


async def read_body(request: Request, limit: int) -> bytes:
    """Read at most `limit` bytes; a larger body is refused without ever being held in memory.

    Up to 8x the limit, the rest of an oversized body is read and thrown away first, so the client
    gets a readable 413 instead of a connection reset mid-upload; past that, it is cut off.
    """
    declared = request.headers.get("content-length")
    if declared is not None and not declared.isdigit():
        raise RequestError(400, "invalid Content-Length")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            chunks.clear()
            if size > 8 * limit:
                break
            continue
        chunks.append(chunk)
    if size > limit:
        raise RequestError(413, f"body of {declared or 'more than ' + str(limit)} bytes exceeds the limit "
                                f"of {limit} bytes")
    return b"".join(chunks)


@router.post("/v1/traces", include_in_schema=True, summary="OTLP/HTTP trace export")
async def export_traces(request: Request) -> Response:
    committer: GroupCommitter = request.app.state.committer
    limits: Limits = request.app.state.limits
    content_type = request.headers.get("content-type")
    retry = {"Retry-After": "1"}
    try:
        if media_type(content_type) not in (PROTOBUF, JSON):
            raise RequestError(415, f"unsupported Content-Type {content_type!r}: use {PROTOBUF} or {JSON}")
        declared = int(request.headers.get("content-length") or 0)
        if not committer.has_room(declared):  # refuse before reading: memory stays bounded
            committer.stats.rejected_overload += 1
            raise Overloaded()
        body = await read_body(request, limits.max_body_bytes)
        result = check_request(body, content_type or "", request.headers.get("content-encoding"), limits)
        if result.span_count:
            await committer.submit(result.payload, result.span_count)
    except RequestError as exc:
        committer.stats.reject(REJECT_REASONS.get(exc.status, "invalid"))
        return status_response(exc.status, exc.message, content_type)
    except Overloaded as exc:
        retry["Retry-After"] = str(exc.retry_after)
        return status_response(429, "ingest queue is full, retry later", content_type, retry)
    except CommitFailed as exc:
        committer.stats.reject("commit_failed")
        return status_response(503, f"store did not accept the request: {exc}", content_type, retry)
    as_json = media_type(content_type) == JSON
    return Response(response_body(result, as_json), media_type=JSON if as_json else PROTOBUF)
