"""Detection sweeps: once (`swarmscope detect`) or continuously (DetectionLoop inside `swarmscope serve`).

A *full* sweep looks at every trace in the window (`lookback_s`, or `--since`). A continuous loop
does one full sweep, then incremental ones: the finished-span detectors only revisit traces (and for
run-wide kinds, runs) that received finished spans since the previous sweep (found through the
InsertedAt skip index), while the `every_trace` detectors (open spans: stalled waits, heartbeats, the
wait-for graph; and those with a window of their own) look at everything every time.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from swarmscope.schema.params import fill
from swarmscope.schema.resolve import Resolver, resolve_window
from swarmscope.schema.times import now_ms

from . import completion, context_bloat, drift, liveness, loops, persist, retries, waitgraph
from .config import DetectorConfig
from .model import LIVE_KINDS, Finding
from .sweep import IN_DIRTY_TRACES, Dirty, Sweep

log = logging.getLogger("swarmscope.detectors")


@dataclass(frozen=True)
class Detector:
    kind: str
    detect: Callable[[Sweep], list[Finding]]
    every_trace: bool = False  # looks at every trace (open spans, its own window), not only those that moved


DETECTORS = [
    Detector("lost_heartbeat", liveness.detect_lost_heartbeats, every_trace=True),
    Detector("stalled_wait", liveness.detect_stalled_waits, every_trace=True),
    Detector("deadlock", waitgraph.detect_deadlocks, every_trace=True),
    Detector("phantom_completion", completion.detect_phantom_completions),
    Detector("partial_failure", completion.detect_partial_failures),
    Detector("retry_storm", retries.detect_retry_storms, every_trace=True),  # its own recent window
    Detector("duplicate_execution", retries.detect_duplicate_executions),
    Detector("context_bloat", context_bloat.detect_context_bloat),
    Detector("loop", loops.detect_loops),
    Detector("drift", drift.detect_drift, every_trace=True),  # its own windows
]


# The detectors of one sweep run two at a time (each thread has its own store client; chDB runs their
# queries in parallel), heaviest first so the two threads finish together. Embedded, they share this
# machine's cores: each query gets its share (a server's own cores are its business).
# Measurements behind these choices: docs/detectors.md, "Cost".
SWEEP_THREADS = 2
EMBEDDED_QUERY_THREADS = max(1, (os.cpu_count() or 1) // SWEEP_THREADS)
# Heaviest first; drift before the light ones, so that no thread finishes long before the other.
SUBMIT_ORDER = [
    "partial_failure", "phantom_completion", "context_bloat", "drift", "duplicate_execution", "loop"
]
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    """One pool for the process, so its threads (and their store clients) outlive a sweep."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(SWEEP_THREADS, thread_name_prefix="swarmscope-detector")
        return _pool


@dataclass
class SweepResult:
    findings: list[Finding] = field(default_factory=list)  # conditions present now
    resolved: list[Finding] = field(default_factory=list)  # conditions that cleared in this sweep
    timings_ms: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    traces_in_scope: int | None = None  # None: every trace in the window


def run_sweep(
    store,
    config: DetectorConfig,
    *,
    now: int | None = None,
    since_ms: int | None = None,
    dirty: Dirty | None = None,
    kinds: set[str] | None = None,
    persist_findings: bool = True,
    resolve: bool = True,
) -> SweepResult:
    """One sweep of the enabled detectors (or `kinds`); stores the findings unless told not to.
    `resolve` False: the caller has resolved the traces already (DetectionLoop with a Resolver)."""
    now = now_ms() if now is None else now
    if since_ms is None:
        since_ms = now - int(config.get("sweep", "lookback_s") * 1000)
    # Framework traces first get what only their whole tree tells (agents, runs, retries; schema/resolve.py).
    started = time.perf_counter()
    if resolve and dirty is None:
        resolve_window(store, since_ms, now)
    elif resolve and dirty.traces:
        resolve_window(store, dirty.after_ms, dirty.upto_ms)
    resolve_ms = (time.perf_counter() - started) * 1000
    sweep = Sweep(store, config, now, since_ms, dirty)
    result = SweepResult(traces_in_scope=None if dirty is None else dirty.traces)
    result.timings_ms["resolve"] = resolve_ms
    selected = [
        d
        for d in DETECTORS
        if config.enabled(d.kind)
        and (kinds is None or d.kind in kinds)
        and not (sweep.empty_scope and not d.every_trace)
    ]

    def run(detector: Detector) -> tuple[list[Finding], float, str | None]:
        started = time.perf_counter()
        if getattr(store, "embedded", False):
            store.client.set_client_setting("max_threads", EMBEDDED_QUERY_THREADS)
        try:
            found, error = detector.detect(sweep), None
        except Exception as exc:  # one broken detector must not stop the others
            log.exception("detector %s failed", detector.kind)
            found, error = [], f"{type(exc).__name__}: {exc}"
        return found, (time.perf_counter() - started) * 1000, error

    order = sorted(selected, key=lambda d: SUBMIT_ORDER.index(d.kind) if d.kind in SUBMIT_ORDER else 99)
    futures = {d.kind: _executor().submit(run, d) for d in order}
    ran: list[str] = []
    for detector in selected:  # results in DETECTORS order, whatever order they finished in
        found, elapsed_ms, error = futures[detector.kind].result()
        result.timings_ms[detector.kind] = elapsed_ms
        if error is None:
            result.findings.extend(found)
            ran.append(detector.kind)
        else:
            result.errors[detector.kind] = error
    if persist_findings:
        started = time.perf_counter()
        resolvable = [k for k in ran if k in LIVE_KINDS]
        result.findings, result.resolved = persist.save(
            store, result.findings, resolvable, now, int(config.get("sweep", "touch_interval_s") * 1000)
        )
        result.timings_ms["persist"] = (time.perf_counter() - started) * 1000
    return result


# How many traces received finished spans since the last sweep, up to which insert. Heartbeats do not
# make a trace dirty: open spans are looked at on every sweep anyway, and a span that ends arrives as a
# finished span.
DIRTY_SQL = """
SELECT toUnixTimestamp64Milli(max(InsertedAt)) AS upto_ms, uniqExact(TraceId) AS traces
FROM spans
WHERE InsertedAt > fromUnixTimestamp64Milli({after_ms:Int64})
"""
WATERMARK_SQL = "SELECT toUnixTimestamp64Milli(max(InsertedAt)) FROM spans"
DIRTY_START_SQL = fill(
    "SELECT toUnixTimestamp64Milli(min(Start)) FROM traces WHERE {in_dirty}", in_dirty=IN_DIRTY_TRACES
)


class DetectionLoop:
    """Sweeps every `interval_s` seconds on a daemon thread: a full sweep first, then incremental ones."""

    def __init__(
        self,
        store,
        config: DetectorConfig | None = None,
        interval_s: float = 5.0,
        clock: Callable[[], int] = now_ms,
        resolver: Resolver | None = None,
    ) -> None:
        """`clock` (epoch ms) is the sweeps' "now"; tests pass their own and call run_once().
        `resolver`: resolution shared with a ResolutionLoop (serve); each sweep steps it first."""
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.store = store
        self.config = config or DetectorConfig()
        self.interval_s = interval_s
        self.clock = clock
        self.resolver = resolver
        self.sweeps = 0
        self.last_result: SweepResult | None = None
        self.last_error: str | None = None
        self.last_duration_s: float | None = None
        self._watermark_ms: int | None = None  # latest InsertedAt already looked at
        self._last_run_ms: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # ---- one sweep --------------------------------------------------------------------------

    def run_once(self) -> list[Finding]:
        """One sweep as of the clock's now: the first a full one, then incremental ones."""
        with self._lock:
            started = time.perf_counter()
            if self.resolver is not None:  # before the scope is read: what it resolves is in scope
                self.resolver.step()
            resolved_ms = (time.perf_counter() - started) * 1000
            now = self.clock()
            overlap = int(self.config.get("sweep", "overlap_s") * 1000)
            if self._watermark_ms is None:
                dirty = None
                since = now - int(self.config.get("sweep", "lookback_s") * 1000)
                watermark = self.store.scalar(WATERMARK_SQL)
            else:
                after = self._watermark_ms - overlap
                moved = self.store.rows(DIRTY_SQL, {"after_ms": after})[0]
                upto = moved["upto_ms"] if moved["traces"] else after
                dirty = Dirty(after, upto, moved["traces"])
                watermark = max(self._watermark_ms, upto)
                horizon = now - int(self.config.get("sweep", "open_horizon_s") * 1000)
                start = self.store.scalar(DIRTY_START_SQL, dirty.params()) if dirty.traces else None
                since = max(
                    horizon, min(start or now, now - int(self.config.get("sweep", "lookback_s") * 1000))
                )
            kinds = self._due_kinds(now)
            result = run_sweep(self.store, self.config, now=now, since_ms=since, dirty=dirty, kinds=kinds,
                               resolve=self.resolver is None)
            if self.resolver is not None:
                result.timings_ms["resolve"] = resolved_ms
            for kind in kinds:
                self._last_run_ms[kind] = now
            self._watermark_ms = watermark or 0
            self.sweeps += 1
            self.last_result = result
            self.last_duration_s = time.perf_counter() - started
            return result.findings

    def _due_kinds(self, now: int) -> set[str]:
        kinds = set()
        for detector in DETECTORS:
            every = self.config.sections[detector.kind].get("every_s", 0)
            last = self._last_run_ms.get(detector.kind)
            if not every or last is None or now - last >= every * 1000:
                kinds.add(detector.kind)
        return kinds

    # ---- the thread -------------------------------------------------------------------------

    def start(self) -> DetectionLoop:
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="swarmscope-detect", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.run_once()
                self.last_error = None
            except Exception as exc:  # keep sweeping; the store may be back next time
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("detection sweep failed")
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
