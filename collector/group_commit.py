"""Group commit: many OTLP requests, one log append, an answer only after the append.

While one append runs, arriving requests queue up; the next append takes all of them, so the batch
size follows the load by itself and no request waits for a timer. The 200 waits for the write-ahead
log (collector/wal.py), not for ClickHouse: an insert through the normalizing SQL pays ~150 ms of
query planning plus a part per table, so inserting per handful of acknowledgements caps throughput
and makes merges.

One normalizer hands the store every sealed segment at once (up to `insert_bytes`) in a single
insert: ClickHouse reads the files in parallel and feeds its views in parallel, so one insert keeps
the cores busy while its fixed cost is paid once per batch instead of once per segment (two
concurrent one-segment inserts cost ~20% more CPU for the same spans). Under load segments pile up
while an insert runs, so batches grow with the load by themselves.

A segment is sealed when it is full, or when the normalizer starts an insert with room for it (an idle
normalizer first lets the first bytes of a burst gather for up to `max_insert_wait`): a trickle of spans
is queryable about 0.1 s plus one normalize cycle after its 200. A budget covers every byte not yet
normalized: past it callers are told to come back later (429 / RESOURCE_EXHAUSTED), so neither memory
nor the log grows without bound when ClickHouse falls behind.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from swarmscope.schema.framing import frame, split_frames, unframe

from .otlp import reencoded
from .wal import Segment, SegmentLog

log = logging.getLogger("swarmscope.collector")


class Overloaded(Exception):
    """The group-commit budget is full; retry after `retry_after` seconds."""

    def __init__(self, retry_after: int = 1) -> None:
        super().__init__("ingest queue is full")
        self.retry_after = retry_after


class CommitFailed(Exception):
    """The log did not take this request."""


class StoreUnavailable(Exception):
    """The store answers nothing: keep the segment and retry it later."""


@dataclass
class _Entry:
    framed: bytes
    future: asyncio.Future
    spans: int


INSERT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class CommitStats:
    appends: int = 0  # log appends (each acknowledges a batch of requests)
    requests: int = 0  # requests acknowledged
    spans: int = 0  # spans normalized into the store
    batches: int = 0  # segments normalized
    last_batch_seconds: float = 0.0
    normalize_lag_bytes: int = 0  # acknowledged, not yet in the store
    rejected_overload: int = 0
    failed_requests: int = 0  # acknowledged requests the store refused (logged and dropped)
    replayed_requests: int = 0  # found in the log at start and normalized then
    spans_received: int = 0  # spans in acknowledged requests
    rejected: dict[str, int] = field(default_factory=dict)  # refused requests by reason (see reject)
    # Store insert durations as a histogram (/metrics): counts per INSERT_BUCKETS bound, the last is +Inf.
    insert_seconds_buckets: list[int] = field(default_factory=lambda: [0] * (len(INSERT_BUCKETS) + 1))
    insert_seconds_sum: float = 0.0

    def reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1

    def observe_insert(self, seconds: float) -> None:
        self.last_batch_seconds = seconds
        self.insert_seconds_sum += seconds
        index = next((i for i, bound in enumerate(INSERT_BUCKETS) if seconds <= bound), len(INSERT_BUCKETS))
        self.insert_seconds_buckets[index] += 1


class GroupCommitter:
    def __init__(
        self,
        wal: SegmentLog,
        normalize_files: Callable[[list[Path]], None],
        insert: Callable[[bytes], None],
        ping: Callable[[], bool],
        segment_bytes: int = 16 * 1024 * 1024,
        insert_bytes: int = 48 * 1024 * 1024,
        max_batch_bytes: int = 64 * 1024 * 1024,
        max_pending_bytes: int = 256 * 1024 * 1024,
        min_insert_bytes: int = 4 * 1024 * 1024,
        max_insert_wait: float = 0.1,
    ) -> None:
        self._wal = wal
        self._normalize_files = normalize_files  # whole segment files into the store, one insert
        self._insert = insert  # length-delimited requests into the store (to isolate a refused one)
        self._ping = ping  # is the store reachable at all?
        self.segment_bytes = segment_bytes
        self.insert_bytes = insert_bytes
        self.max_batch_bytes = max_batch_bytes
        self.max_pending_bytes = max_pending_bytes
        self.min_insert_bytes = min_insert_bytes
        self.max_insert_wait = max_insert_wait
        self._open_since = 0.0  # when the first request not sealed yet was logged
        self._queue: deque[_Entry] = deque()
        self._queued_bytes = 0  # waiting for or in an append
        self._logged_bytes = 0  # in the log, not normalized yet
        self._sealed: deque[Segment] = deque()
        self._log_lock: asyncio.Lock | None = None
        self._wakeup: asyncio.Event | None = None
        self._normalize_wakeup: asyncio.Event | None = None
        self._writer: asyncio.Task | None = None
        self._normalizer: asyncio.Task | None = None
        self._closing = False
        self.stats = CommitStats()

    @property
    def pending_bytes(self) -> int:
        return self._queued_bytes + self._logged_bytes

    def has_room(self, size: int) -> bool:
        return self.pending_bytes + size <= self.max_pending_bytes

    async def start(self) -> None:
        """Replay what an earlier process logged but did not normalize, then take requests."""
        await asyncio.to_thread(self._replay)
        self._log_lock = asyncio.Lock()
        self._wakeup = asyncio.Event()
        self._normalize_wakeup = asyncio.Event()
        self._writer = asyncio.create_task(self._run(), name="group-commit")
        self._normalizer = asyncio.create_task(self._normalize_loop(), name="normalizer")

    def _replay(self) -> None:
        segments = self._wal.recover()
        if segments:
            log.info("replaying %d ingest log segments (%d requests)", len(segments),
                     sum(s.requests for s in segments))
        pending = deque(segments)
        while pending:
            batch = _take_segments(pending, self.insert_bytes)
            self._store_segments(batch)
            for segment in batch:
                self.stats.replayed_requests += segment.requests
                self._wal.remove(segment)

    async def submit(self, payload: bytes, spans: int) -> None:
        """Queue one serialized ExportTraceServiceRequest; return once it is in the log."""
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
        return batch

    async def _run(self) -> None:
        assert self._wakeup is not None and self._log_lock is not None
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = self._take_batch()
            data = b"".join(e.framed for e in batch)
            try:
                async with self._log_lock:
                    if not self._wal.open_size:
                        self._open_since = time.monotonic()
                    await asyncio.to_thread(self._wal.append, data, len(batch), sum(e.spans for e in batch))
                    if self._wal.open_size >= self.segment_bytes:
                        self._seal()
            except Exception as exc:
                log.warning("write-ahead log append of %d requests failed: %s", len(batch), exc)
                self.stats.failed_requests += len(batch)
                for entry in batch:
                    _settle(entry.future, CommitFailed(str(exc)))
                continue
            finally:
                self._queued_bytes -= len(data)
            self._logged_bytes += len(data)
            self.stats.appends += 1
            self.stats.requests += len(batch)
            self.stats.spans_received += sum(e.spans for e in batch)
            self.stats.normalize_lag_bytes = self._logged_bytes
            for entry in batch:
                _settle(entry.future, None)
            self._wake_normalizer()

    def _seal(self) -> None:
        segment = self._wal.seal()
        if segment is not None:
            self._sealed.append(segment)

    def _wake_normalizer(self) -> None:
        assert self._normalize_wakeup is not None
        self._normalize_wakeup.set()

    async def _normalize_loop(self) -> None:
        assert self._normalize_wakeup is not None and self._log_lock is not None
        while True:
            if self._wal.open_size and self._sealed_bytes() + self._wal.open_size <= self.insert_bytes:
                # The open segment rides along when there is room: left open, it would cost an insert
                # of its own (a burst's tail would wait for a second, small insert).
                wait = 0.0 if self._sealed else self._seal_wait()
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue
                async with self._log_lock:  # not in the middle of an append
                    self._seal()
            if not self._sealed:
                if self._closing and self._writer is not None and self._writer.done() \
                        and not self._wal.open_size:
                    return
                self._normalize_wakeup.clear()
                await self._normalize_wakeup.wait()
                continue
            batch = _take_segments(self._sealed, self.insert_bytes)
            started = time.perf_counter()
            try:
                await asyncio.to_thread(self._store_segments, batch)
                await asyncio.to_thread(self._remove, batch)
            except StoreUnavailable as exc:  # the log keeps them; the budget turns clients away meanwhile
                log.warning("store unavailable, %d segments kept for a retry: %s", len(batch), exc)
                self._sealed.extendleft(reversed(batch))
                if self._closing:
                    return  # they stay on disk and are replayed at the next start
                await asyncio.sleep(1)
                continue
            size, spans = sum(s.size for s in batch), sum(s.spans for s in batch)
            self._logged_bytes -= size
            self.stats.normalize_lag_bytes = self._logged_bytes
            self.stats.batches += 1
            self.stats.spans += spans
            self.stats.observe_insert(time.perf_counter() - started)
            log.debug("normalized %d segments, %d spans, %.1f MiB in %.3f s", len(batch), spans,
                      size / 2**20, self.stats.last_batch_seconds)

    def _sealed_bytes(self) -> int:
        return sum(segment.size for segment in self._sealed)

    def _seal_wait(self) -> float:
        """How long the idle normalizer lets the open segment grow first. Every insert pays ~150 ms of
        planning, so the first bytes of a burst wait up to `max_insert_wait` for more to arrive; a
        trickle pays that wait in latency, and a full batch is sealed at once."""
        if self._closing or self._wal.open_size >= self.min_insert_bytes:
            return 0.0
        return self._open_since + self.max_insert_wait - time.monotonic()

    def _remove(self, batch: list[Segment]) -> None:
        for segment in batch:
            self._wal.remove(segment)

    def _store_segments(self, batch: list[Segment]) -> None:
        """Insert segments in one go; if the store refuses, retry them one by one. A refused segment is
        retried re-encoded as upb read it (see otlp.reencoded), and within that the refused requests
        are found by halving and dropped (they were acknowledged: the fuzz test says none are)."""
        try:
            self._normalize_files([segment.path for segment in batch])
            return
        except Exception as exc:
            if not self._ping():
                raise StoreUnavailable(str(exc)) from exc
            log.warning("normalizing segments %s failed (%s); retrying them %s",
                        ", ".join(s.path.name for s in batch), exc,
                        "one by one" if len(batch) > 1 else "re-encoded")
        if len(batch) > 1:
            for segment in batch:
                self._store_segments([segment])
            return
        frames, _ = split_frames(batch[0].path.read_bytes())
        self._insert_bisect([frame(reencoded(unframe(f))) for f in frames], batch[0])

    def _insert_bisect(self, frames: list[bytes], segment: Segment) -> None:
        try:
            self._insert(b"".join(frames))
        except Exception as exc:
            if not self._ping():
                raise StoreUnavailable(str(exc)) from exc
            if len(frames) == 1:
                self.stats.failed_requests += 1
                log.error("dropping a logged request of segment %s: the store refuses it: %s",
                          segment.path.name, exc)
                return
            half = len(frames) // 2
            self._insert_bisect(frames[:half], segment)
            self._insert_bisect(frames[half:], segment)

    async def stop(self) -> None:
        """Log everything already accepted and normalize everything logged, then stop."""
        self._closing = True
        if self._wakeup is not None:
            self._wakeup.set()
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)
        if self._normalize_wakeup is not None and self._normalizer is not None:
            self._wake_normalizer()
            await asyncio.gather(self._normalizer, return_exceptions=True)


def _take_segments(segments: deque[Segment], limit: int) -> list[Segment]:
    """The oldest segments up to `limit` bytes (at least one)."""
    batch = [segments.popleft()]
    size = batch[0].size
    while segments and size + segments[0].size <= limit:
        size += segments[0].size
        batch.append(segments.popleft())
    return batch


def _settle(future: asyncio.Future, error: Exception | None) -> None:
    if future.done():  # the client went away; the data is logged regardless
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
