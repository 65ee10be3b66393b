"""The backend in one process: OTLP/HTTP + API (+ pages) on one port, OTLP/gRPC on another, one store."""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi import FastAPI
from swarmscope.alerts import api as alerts_api
from swarmscope.alerts import evaluator as alert_evaluator
from swarmscope.alerts.rules import load_rules
from swarmscope.collector import http as otlp_http
from swarmscope.collector.group_commit import GroupCommitter
from swarmscope.collector.grpc_server import TraceService, start_grpc
from swarmscope.collector.otlp import Limits
from swarmscope.collector.wal import SegmentLog
from swarmscope.detectors.config import DetectorConfig, load_config
from swarmscope.detectors.runner import DetectionLoop
from swarmscope.schema.resolve import ResolutionLoop, Resolver
from swarmscope.schema.store import Store

from . import alerts_page, api, api_detectors, api_handoffs, pages, pages_render, pages_ui2


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    grpc_port: int | None = 4317
    api_key: str | None = None
    limits: Limits = Limits()
    max_pending_bytes: int = 256 * 1024 * 1024
    wal_dir: str = "./swarmscope-data/ingest-wal"
    wal_fsync: bool = False
    segment_bytes: int = 16 * 1024 * 1024
    insert_bytes: int = 48 * 1024 * 1024
    detect_interval: float = 5.0
    config_path: str | None = None  # detector thresholds (serve --config)


class BearerAuth:
    """With an API key set, every route but /healthz needs `Authorization: Bearer KEY` (plain ASGI:
    no overhead on the ingest body stream)."""

    OPEN_PATHS = ("/healthz",)

    def __init__(self, app, api_key: str) -> None:
        self.app = app
        self.expected = f"Bearer {api_key}".encode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] not in self.OPEN_PATHS:
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                body = b'{"code": 16, "message": "missing or wrong bearer token"}'
                await send({"type": "http.response.start", "status": 401, "headers": [
                    (b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def create_app(store: Store, options: ServeOptions | None = None) -> FastAPI:
    options = options or ServeOptions()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await app.state.committer.start()
        grpc_server = None
        if options.grpc_port:
            service = TraceService(app.state.committer, options.limits, options.api_key)
            grpc_server = await start_grpc(service, options.host, options.grpc_port)
        # Framework traces get their agents on a cadence of their own, detection on or off.
        sweep = app.state.detector_config.sections["sweep"]
        resolver = Resolver(store, sweep["lookback_s"], sweep["overlap_s"])
        resolution = ResolutionLoop(resolver).start()
        detection = _start_detection(store, app.state.detector_config, options.detect_interval, resolver)
        app.state.detection = detection
        alerting = alert_evaluator.EvaluationLoop(app.state.alerts).start() if app.state.alerts else None
        try:
            yield
        finally:
            if alerting is not None:
                alerting.stop()
            if grpc_server is not None:
                await grpc_server.stop(grace=5)
            await app.state.committer.stop()  # everything acknowledged is committed first
            if detection is not None:
                detection.stop()
            resolution.stop()

    app = FastAPI(title="swarmscope", version="0.1.0", lifespan=lifespan,
                  description="Tracing backend for multi-agent AI systems")
    app.state.store = store
    app.state.limits = options.limits
    app.state.detector_config = load_config(options.config_path)  # the loop and the API share it
    alert_config = load_rules(options.config_path)  # the same file: [[alerts]] and [alerting]
    app.state.alerts = alert_evaluator.build(store, alert_config) if alert_config.rules else None
    app.state.committer = GroupCommitter(
        SegmentLog(options.wal_dir, fsync=options.wal_fsync),
        store.insert_otlp_files, store.insert_otlp, store.ping,
        segment_bytes=options.segment_bytes, insert_bytes=options.insert_bytes,
        max_pending_bytes=options.max_pending_bytes)
    app.include_router(otlp_http.router)
    app.include_router(api.router)
    app.include_router(api_detectors.router)
    app.include_router(api_handoffs.router)
    app.include_router(pages.router)
    pages_ui2.include(app)  # part 2 pages: findings, live, tools, agents, compare, login
    pages_render.install(app)
    app.include_router(alerts_api.router)
    app.include_router(alerts_page.router)
    app.state.api_key = options.api_key
    if options.api_key:
        from .page_session import PageAuth  # BearerAuth, plus a browser's session cookie on page paths

        app.add_middleware(PageAuth, api_key=options.api_key)
    return app


def _start_detection(store: Store, config: DetectorConfig, interval: float,
                     resolver: Resolver | None = None) -> DetectionLoop | None:
    """Continuous detection every `interval` seconds (0 turns it off)."""
    if interval <= 0:
        return None
    loop = DetectionLoop(store, config, interval_s=interval, resolver=resolver)
    loop.start()
    return loop
