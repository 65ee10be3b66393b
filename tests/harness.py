"""Test helpers that are not fixtures (import them; the fixtures are in conftest.py): free ports, a
fresh store on the shared chDB engine, and a real `swarmscope serve` subprocess."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def fresh_store(chdb_dir: Path) -> Iterator:
    """A migrated store in a database of its own on the shared engine, dropped afterwards."""
    from swarmscope.schema.store import Store, embedded_url

    s = Store(embedded_url(chdb_dir), database=f"t_{uuid.uuid4().hex[:12]}")
    s.migrate()
    try:
        yield s
    finally:
        s.command(f"DROP DATABASE IF EXISTS {s.database}")
        s.close()


@dataclass
class Server:
    """A `swarmscope serve` subprocess."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    grpc_port: int = field(default_factory=free_port)
    api_key: str | None = None
    extra_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def grpc_endpoint(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def start(self, timeout: float = 60.0) -> Server:
        args = [sys.executable, "-m", "swarmscope.ui.cli", "serve", "--host", "127.0.0.1",
                "--port", str(self.port), "--grpc-port", str(self.grpc_port), "--data", str(self.data_dir),
                *self.extra_args]
        if self.api_key:
            args += ["--api-key", self.api_key]
        self.log_path = self.data_dir.parent / f"serve-{self.port}.log"
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"serve did not become healthy:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path else ""

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def get(self, path: str, **params: Any) -> Any:
        from urllib.parse import urlencode

        query = {k: v for k, v in params.items() if v is not None}
        url = self.url + path + (("?" + urlencode(query)) if query else "")
        req = urllib.request.Request(url, headers=self.headers())
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def wait_for(self, predicate, timeout: float = 20.0, interval: float = 0.2) -> Any:
        """Poll until predicate() returns a truthy value; return it (or fail with the last value)."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            try:
                value = predicate()
            except urllib.error.HTTPError:
                value = None
            if value:
                return value
            time.sleep(interval)
        raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def api_client(store, *routers):
    """A TestClient of an app made of `routers` alone, over `store` (no serve, no ingest)."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    app = FastAPI()
    for router in routers:
        app.include_router(router)
    app.state.store = store
    return TestClient(app)
