"""OTLP/gRPC `TraceService/Export` on its own port, sharing the HTTP path's checks and group commit.

The handler is registered with no deserializer, so it receives the request's raw bytes: the same
bytes go to ClickHouse, exactly as over HTTP.
"""

from __future__ import annotations

import hmac

import grpc

from .group_commit import CommitFailed, GroupCommitter, Overloaded
from .http import REJECT_REASONS
from .otlp import Limits, RequestError, checked, parse_protobuf, response_body

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


class TraceService:
    def __init__(self, committer: GroupCommitter, limits: Limits, api_key: str | None = None) -> None:
        self.committer = committer
        self.limits = limits
        self.api_key = api_key

    async def export(self, body: bytes, context: grpc.aio.ServicerContext) -> bytes:
        if self.api_key is not None:
            metadata = dict(context.invocation_metadata() or ())
            given = str(metadata.get("authorization", "")).encode()
            if not hmac.compare_digest(given, f"Bearer {self.api_key}".encode()):  # constant time
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        try:
            if len(body) > self.limits.max_decompressed_bytes:
                raise RequestError(413, "request exceeds the size limit")
            result = checked(parse_protobuf(body), body)
            if result.span_count:
                await self.committer.submit(result.payload, result.span_count)
        except RequestError as exc:
            self.committer.stats.reject(REJECT_REASONS.get(exc.status, "invalid"))
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, exc.message)
        except Overloaded:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "ingest queue is full, retry later")
        except CommitFailed as exc:
            self.committer.stats.reject("commit_failed")
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"store did not accept the request: {exc}")
        return response_body(result, as_json=False)


async def start_grpc(service: TraceService, host: str, port: int) -> grpc.aio.Server:
    server = grpc.aio.server(options=[
        ("grpc.max_receive_message_length", service.limits.max_decompressed_bytes),
    ])
    handler = grpc.method_handlers_generic_handler(SERVICE, {
        "Export": grpc.unary_unary_rpc_method_handler(service.export),  # raw bytes in and out
    })
    server.add_generic_rpc_handlers((handler,))
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind OTLP/gRPC to {host}:{port}")
    await server.start()
    return server
