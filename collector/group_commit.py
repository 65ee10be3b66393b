"""Group commit: many OTLP requests, one ClickHouse insert, an answer only after the commit.

While one insert runs, arriving requests queue up; the next insert takes all of them. So the batch
size follows the load by itself, and no request waits for a timer. The queue has a byte budget:
past it, callers are told to come back later (429/RESOURCE_EXHAUSTED) instead of growing memory.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from swarmscope.schema.store import frame

log = logging.getLogger("swarmscope.collector")


class Overloaded(Exception):
    """The group-commit budget is full; retry after `retry_after` seconds."""

    def __init__(self, retry_after: int = 1) -> None:
        super().__init__("ingest queue is full")
        self.retry_after = retry_after


class CommitFailed(Exception):
    """The store did not take this request."""


@dataclass
class _Entry:
    framed: bytes
    future: asyncio.Future
    spans: int


@dataclass
class CommitStats:
    batches: int = 0
    requests: int = 0
    spans: int = 0
    rejected_overload: int = 0
    failed_requests: int = 0
    last_batch_seconds: float = 0.0
    queued_bytes: int = 0
    in_flight_bytes: int = 0
    extra: dict = field(default_factory=dict)


class GroupCommitter:
    def __init__(
        self,
        insert: Callable[[bytes], None],
        max_batch_bytes: int = 64 * 1024 * 1024,
        max_pending_bytes: int = 256 * 1024 * 1024,
        workers: int = 1,
    ) -> None:
        self._insert = insert
        self.max_batch_bytes = max_batch_bytes
        self.max_pending_bytes = max_pending_bytes
        self.workers = workers
        self._queue: list[_Entry] = []
        self._queued_bytes = 0
        self._in_flight_bytes = 0
        self._wakeup: asyncio.Event | None = None
        self._tasks: list[asyncio.Task] = []
        self._closing = False
        self.stats = CommitStats()

    @property
    def pending_bytes(self) -> int:
        return self._queued_bytes + self._in_flight_bytes

    def has_room(self, size: int) -> bool:
        return self.pending_bytes + size <= self.max_pending_bytes

    async def start(self) -> None:
        self._wakeup = asyncio.Event()
        self._tasks = [asyncio.create_task(self._run(), name=f"group-commit-{i}") for i in range(self.workers)]

    async def submit(self, payload: bytes, spans: int) -> None:
        """Queue one serialized ExportTraceServiceRequest; return once it is committed."""
        if self._closing or self._wakeup is None:
            raise Overloaded(retry_after=5)
        framed = frame(payload)
        if not self.has_room(len(framed)):
            self.stats.rejected_overload += 1
            raise Overloaded()
        future = asyncio.get_running_loop().create_future()
        self._queue.append(_Entry(framed, future, spans))
        self._queued_bytes += len(framed)
        self._wakeup.set()
        await future

    def _take_batch(self) -> list[_Entry]:
        batch, size = [], 0
        while self._queue and (not batch or size + len(self._queue[0].framed) <= self.max_batch_bytes):
            entry = self._queue.pop(0)
            batch.append(entry)
            size += len(entry.framed)
        self._queued_bytes -= size
        self._in_flight_bytes += size
        return batch

    async def _run(self) -> None:
        assert self._wakeup is not None
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = self._take_batch()
            size = sum(len(e.framed) for e in batch)
            try:
                await self._commit(batch)
            finally:
                self._in_flight_bytes -= size

    async def _commit(self, batch: list[_Entry]) -> None:
        started = time.perf_counter()
        try:
            await asyncio.to_thread(self._insert, b"".join(e.framed for e in batch))
        except Exception as exc:  # the store refused: find the culprit instead of failing everyone
            if len(batch) == 1:
                self.stats.failed_requests += 1
                log.warning("insert failed for one request: %s", exc)
                _settle(batch[0].future, CommitFailed(str(exc)))
                return
            log.warning("batch of %d requests failed (%s); committing them one by one", len(batch), exc)
            for entry in batch:
                await self._commit([entry])
            return
        self.stats.batches += 1
        self.stats.requests += len(batch)
        self.stats.spans += sum(e.spans for e in batch)
        self.stats.last_batch_seconds = time.perf_counter() - started
        for entry in batch:
            _settle(entry.future, None)

    async def stop(self) -> None:
        """Commit everything already accepted, then stop."""
        self._closing = True
        if self._wakeup is not None:
            self._wakeup.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _settle(future: asyncio.Future, error: Exception | None) -> None:
    if future.done():  # the client went away; the data is committed regardless
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
