"""Group commit: many OTLP requests, one ClickHouse insert, an answer only after the commit.

While one insert runs, arriving requests queue up; the next insert takes all of them. So the batch
size follows the load by itself, and no request waits for a timer. The queue has a byte budget:
past it, callers are told to come back later (429/RESOURCE_EXHAUSTED) instead of growing memory.

With a write-ahead log (`wal`, the store's `otlp_wal` table) the commit that a 200 waits for is a cheap
append of the raw request bytes to the log; a single normalizer then inserts the already durable requests
into the normalizing materialized views in large batches, so their ~100 ms of query planning per insert
is paid once per batch of hundreds of requests instead of once per handful of acknowledgements. Spans
are queryable one normalizer cycle after their 200. After a crash the log beyond the normalized
watermark is replayed before the server takes requests (a crash between a normalizer insert and its
watermark re-inserts that batch: spans dedup on (TraceId, SpanId); the tool_minutes sums count it twice).
The byte budget covers requests until they are normalized, so memory stays bounded when the
normalizer falls behind.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from swarmscope.schema.store import frame, wal_row

log = logging.getLogger("swarmscope.collector")


class WriteAheadLog(Protocol):
    def append(self, rows: bytes) -> None: ...
    def watermark(self) -> int: ...
    def last_seq(self) -> int: ...
    def unnormalized(self, after: int, max_bytes: int = ...) -> Iterator[tuple[int, bytes]]: ...
    def read(self, after: int, upto: int) -> bytes: ...
    def advance(self, seq: int) -> None: ...


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
    future: asyncio.Future | None
    spans: int
    seq: int = 0
    stored: bool = True
    size: int = 0


@dataclass
class CommitStats:
    batches: int = 0
    requests: int = 0
    spans: int = 0
    rejected_overload: int = 0
    failed_requests: int = 0
    last_batch_seconds: float = 0.0
    wal_batches: int = 0
    wal_requests: int = 0
    normalize_lag_bytes: int = 0
    replayed_requests: int = 0


class GroupCommitter:
    def __init__(
        self,
        insert: Callable[[bytes], None],
        max_batch_bytes: int = 64 * 1024 * 1024,
        max_pending_bytes: int = 256 * 1024 * 1024,
        workers: int = 1,
        wal: WriteAheadLog | None = None,
        normalize_batch_bytes: int = 8 * 1024 * 1024,
        normalize_workers: int = 1,
    ) -> None:
        self._insert = insert
        self._wal = wal
        self.max_batch_bytes = max_batch_bytes
        self.max_pending_bytes = max_pending_bytes
        self.normalize_batch_bytes = normalize_batch_bytes
        # Appends to the log must complete in Seq order for the watermark to mean "all below is in".
        self.workers = 1 if wal is not None else workers
        self._queue: deque[_Entry] = deque()
        self._queued_bytes = 0
        self._in_flight_bytes = 0
        self._durable: deque[_Entry] = deque()  # in the log, not normalized yet
        self._durable_bytes = 0
        self._seq = 0
        self.normalize_workers = normalize_workers
        self._normalizing: list[int] = []  # first Seq of each batch being normalized
        self._normalized_upto = 0  # every Seq up to here is normalized (the watermark)
        self._completed_max = 0  # highest Seq of any finished batch
        self._watermark_lock: asyncio.Lock | None = None
        self._wakeup: asyncio.Event | None = None
        self._normalize_wakeup: asyncio.Event | None = None
        self._tasks: list[asyncio.Task] = []
        self._normalizers: list[asyncio.Task] = []
        self._closing = False
        self.stats = CommitStats()

    @property
    def pending_bytes(self) -> int:
        return self._queued_bytes + self._in_flight_bytes + self._durable_bytes

    def has_room(self, size: int) -> bool:
        return self.pending_bytes + size <= self.max_pending_bytes

    async def start(self) -> None:
        if self._wal is not None:
            await asyncio.to_thread(self._recover)
            self._normalize_wakeup = asyncio.Event()
            self._watermark_lock = asyncio.Lock()
            self._normalized_upto = self._completed_max = self._seq
            self._normalizers = [asyncio.create_task(self._normalize_loop(), name=f"normalizer-{i}")
                                 for i in range(self.normalize_workers)]
        self._wakeup = asyncio.Event()
        self._tasks = [asyncio.create_task(self._run(), name=f"group-commit-{i}")
                       for i in range(self.workers)]

    def _recover(self) -> None:
        """Normalize what the log holds beyond the watermark (a previous process died before it did)."""
        assert self._wal is not None
        self._seq = self._wal.last_seq()
        watermark = self._wal.watermark()
        if watermark >= self._seq:
            return
        log.info("replaying the ingest log: requests %d..%d", watermark + 1, self._seq)
        for upto, data in self._wal.unnormalized(watermark):
            try:
                self._insert(data)
            except Exception as exc:  # one bad request: replay this chunk request by request
                log.warning("replayed chunk up to %d failed (%s); replaying it request by request", upto, exc)
                for one_upto, one in self._wal.unnormalized(watermark, max_bytes=1):
                    if one_upto > upto:
                        break
                    try:
                        self._insert(one)
                    except Exception as one_exc:
                        self.stats.failed_requests += 1
                        log.error("dropping logged request %d: the store refuses it: %s", one_upto, one_exc)
            self._wal.advance(upto)
            watermark = upto
            self.stats.replayed_requests = upto  # approximate: the Seq replayed up to

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
            entry = self._queue.popleft()
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
                if self._wal is not None:
                    await self._append(batch)
                else:
                    await self._commit(batch)
            finally:
                self._in_flight_bytes -= size

    async def _append(self, batch: list[_Entry]) -> None:
        """Write the batch to the log; acknowledge it; hand it to the normalizer."""
        assert self._wal is not None and self._normalize_wakeup is not None
        first = self._seq + 1
        for i, entry in enumerate(batch):
            entry.seq = first + i
        rows = b"".join(wal_row(e.seq, e.framed) for e in batch)
        try:
            await asyncio.to_thread(self._wal.append, rows)
        except Exception as exc:
            log.warning("write-ahead log append of %d requests failed: %s", len(batch), exc)
            self.stats.failed_requests += len(batch)
            for entry in batch:
                _settle(entry.future, CommitFailed(str(exc)))
            return
        self._seq = batch[-1].seq
        self.stats.wal_batches += 1
        self.stats.wal_requests += len(batch)
        for entry in batch:
            future, entry.future = entry.future, None
            _settle(future, None)
            # The bytes now live in the log: the normalizer reads them back from there, so a backlog
            # costs disk (bounded by the budget), not memory.
            entry.size, entry.framed = len(entry.framed), b""
            self._durable.append(entry)
            self._durable_bytes += entry.size
        self.stats.normalize_lag_bytes = self._durable_bytes
        self._normalize_wakeup.set()

    async def _normalize_loop(self) -> None:
        """One of `normalize_workers` loops; each takes the oldest logged requests, up to a batch."""
        assert self._wal is not None and self._normalize_wakeup is not None
        while True:
            if not self._durable:
                if self._closing and not self._tasks_busy():
                    self._normalize_wakeup.set()  # let the other loops see it too
                    return
                self._normalize_wakeup.clear()
                await self._normalize_wakeup.wait()
                continue
            batch, size = [], 0
            limit = self.normalize_batch_bytes
            while self._durable and (not batch or size + self._durable[0].size <= limit):
                entry = self._durable.popleft()
                batch.append(entry)
                size += entry.size
            self._normalizing.append(batch[0].seq)
            try:
                await self._normalize(batch)
            finally:
                self._normalizing.remove(batch[0].seq)
                self._durable_bytes -= size
                self.stats.normalize_lag_bytes = self._durable_bytes
            await self._advance_watermark(batch[-1].seq)

    def _tasks_busy(self) -> bool:
        return any(not t.done() for t in self._tasks)

    async def _normalize(self, batch: list[_Entry]) -> None:
        started = time.perf_counter()
        good = await self._insert_bisect(batch)
        self.stats.batches += 1
        self.stats.requests += good
        self.stats.spans += sum(e.spans for e in batch if e.stored)
        self.stats.last_batch_seconds = time.perf_counter() - started

    async def _advance_watermark(self, done_seq: int) -> None:
        """Batches normalize concurrently: the watermark only passes Seqs that are all in."""
        assert self._wal is not None and self._watermark_lock is not None
        async with self._watermark_lock:
            self._completed_max = max(self._completed_max, done_seq)
            upto = min(self._normalizing) - 1 if self._normalizing else self._completed_max
            if upto <= self._normalized_upto:
                return
            try:
                await asyncio.to_thread(self._wal.advance, upto)
            except Exception as exc:  # harmless: a restart would replay (dedup) a little more
                log.warning("normalizer: could not record the watermark %d: %s", upto, exc)
                return
            self._normalized_upto = upto

    async def _insert_bisect(self, batch: list[_Entry]) -> int:
        """Insert the batch; if the store refuses it, find the refused requests by halving. Returns the
        number of requests stored; refused ones (already acknowledged: the log took them) are logged
        and marked as not stored."""
        try:
            await asyncio.to_thread(self._normalize_range, batch[0].seq - 1, batch[-1].seq)
            return len(batch)
        except Exception as exc:
            if len(batch) == 1:
                self.stats.failed_requests += 1
                log.error("normalizer: dropping logged request %d, the store refuses it: %s",
                          batch[0].seq, exc)
                batch[0].stored = False
                return 0
            log.warning("normalizing %d requests failed (%s); halving", len(batch), exc)
        half = len(batch) // 2
        return await self._insert_bisect(batch[:half]) + await self._insert_bisect(batch[half:])

    def _normalize_range(self, after: int, upto: int) -> None:
        assert self._wal is not None
        self._insert(self._wal.read(after, upto))

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
        """Commit everything already accepted (and normalize everything logged), then stop."""
        self._closing = True
        if self._wakeup is not None:
            self._wakeup.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._normalizers and self._normalize_wakeup is not None:
            self._normalize_wakeup.set()
            await asyncio.gather(*self._normalizers, return_exceptions=True)


def _settle(future: asyncio.Future | None, error: Exception | None) -> None:
    if future is None or future.done():  # the client went away; the data is committed regardless
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
