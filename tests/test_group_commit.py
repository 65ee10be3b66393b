"""The group committer against a real store that fails on demand: an unavailable store keeps the log
and is retried; a request the store refuses costs only itself (found by halving)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from otlp_payloads import request, span
from swarmscope.collector.group_commit import GroupCommitter
from swarmscope.collector.wal import SegmentLog
from swarmscope.schema.store import Store

POISON = b"poison-request"


class FailingStore:
    """The real store behind the committer's three calls; `down` makes it unreachable, and any insert
    holding POISON is refused, as ClickHouse refuses a request it cannot parse."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.down = False
        self.inserts = 0

    def _check(self, data: bytes) -> None:
        self.inserts += 1
        if self.down:
            raise ConnectionError("store is down")
        if POISON in data:
            raise RuntimeError("the store refuses this request")

    def normalize_files(self, paths: list[Path]) -> None:
        self._check(b"".join(Path(p).read_bytes() for p in paths))
        self.store.insert_otlp_files(paths)

    def insert(self, data: bytes) -> None:
        self._check(data)
        self.store.insert_otlp(data)

    def ping(self) -> bool:
        return not self.down


def committer(tmp_path: Path, failing: FailingStore) -> GroupCommitter:
    return GroupCommitter(SegmentLog(tmp_path / "wal"), failing.normalize_files, failing.insert, failing.ping,
                          max_insert_wait=0.0)


def stored(store: Store, trace_id: bytes) -> int:
    return store.scalar("SELECT count() FROM spans WHERE TraceId = {t:String}", {"t": trace_id.hex()})


async def until(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def test_unavailable_store_keeps_the_log_and_is_retried(store, tmp_path):
    failing = FailingStore(store)
    trace_id = os.urandom(16)

    async def scenario() -> None:
        gc = committer(tmp_path, failing)
        await gc.start()
        failing.down = True
        for _ in range(3):  # acknowledged while the store is down: the log has them
            await gc.submit(request(*(span(trace_id=trace_id) for _ in range(2))).SerializeToString(), 2)
        await until(lambda: failing.inserts >= 1)
        assert stored(store, trace_id) == 0 and gc.stats.spans == 0
        assert gc.pending_bytes > 0 and list((tmp_path / "wal").glob("*.otlp"))
        failing.down = False  # the normalizer retries a second later
        await until(lambda: gc.stats.spans == 6)
        await gc.stop()
        assert gc.stats.failed_requests == 0 and gc.pending_bytes == 0

    asyncio.run(scenario())
    assert stored(store, trace_id) == 6
    assert list((tmp_path / "wal").glob("*.otlp")) == []


def test_a_refused_request_is_found_by_halving_and_costs_only_itself(store, tmp_path):
    failing = FailingStore(store)
    trace_id = os.urandom(16)
    good = [request(*(span(trace_id=trace_id) for _ in range(3))).SerializeToString() for _ in range(6)]
    poison = request(span(trace_id=trace_id, name=POISON.decode())).SerializeToString()

    async def scenario() -> None:
        gc = committer(tmp_path, failing)
        failing.down = True  # hold the normalizer back until every request is in the log
        await gc.start()
        for body in (*good[:3], poison, *good[3:]):
            await gc.submit(body, 1 if body is poison else 3)
        failing.down = False
        await until(lambda: gc.pending_bytes == 0)
        await gc.stop()
        assert gc.stats.failed_requests == 1 and gc.stats.spans == 19

    asyncio.run(scenario())
    assert stored(store, trace_id) == 18
