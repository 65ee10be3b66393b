"""Shared fixtures: an embedded store per test (one chDB engine per process, one database per test)
and a real `swarmscope serve` subprocess on free ports. Helpers that are not fixtures: harness.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import Server, fresh_store

# The SDK tests' fixtures (traced, make_traced) live with their helpers.
pytest_plugins = ["sdk_helpers"]


@pytest.fixture(scope="session")
def chdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # chDB hosts one engine per process: every in-process store shares this path.
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture
def store(chdb_dir: Path):
    with fresh_store(chdb_dir) as s:
        yield s


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator:
    started: list[Server] = []

    def make(data_dir: Path | None = None, **kwargs: Any) -> Server:
        srv = Server(data_dir=data_dir or tmp_path / f"data-{len(started)}", **kwargs)
        started.append(srv)
        return srv.start()

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture
def server(server_factory) -> Server:
    return server_factory()

