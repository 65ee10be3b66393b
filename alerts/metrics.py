"""`GET /metrics`: the server's state in Prometheus text format, read at scrape time.

Names follow Prometheus conventions (`_total` counters, base units, `_seconds`, `_bytes`); labels are
small closed sets (reason, kind, severity, state, receiver), never trace, run or span ids.
"""

from __future__ import annotations

import platform
from collections.abc import Iterator
from importlib import metadata
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry
from swarmscope.detectors.model import KINDS, SEVERITIES
from swarmscope.schema.open_spans import unfinished
from swarmscope.schema.params import fill

from .state import ERROR, NODATA, OK, STATES

OPEN_FILTER = "LastSeen >= now64(3) - toIntervalDay(1)"
# Open spans and waits, runs with open spans, and runs held by a live condition: one query per scrape.
STORE_SQL = fill("""
SELECT
    (SELECT tuple(count(), countIf(Operation = 'wait'), uniqExact(if(RunId != '', RunId, TraceId)))
     FROM pending_spans FINAL WHERE {recent} AND {unfinished}) AS open,
    (SELECT uniqExact(if(RunId != '', RunId, TraceId)) FROM findings FINAL
     WHERE Status = 'open' AND Kind IN ('stalled_wait', 'deadlock', 'lost_heartbeat')) AS runs_stalled
""", recent=OPEN_FILTER, unfinished=unfinished(OPEN_FILTER))
FINDINGS_SQL = """
SELECT Kind, Severity, Status, count() AS n FROM findings FINAL GROUP BY Kind, Severity, Status
"""


def _version() -> str:
    try:
        return metadata.version("swarmscope")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


class ServerCollector(Collector):
    """Reads the committer's counters, the detection loop, the alert evaluator and the store."""

    def __init__(self, state: Any) -> None:
        self.state = state  # the FastAPI app.state: committer, store, detection, alerts

    def collect(self) -> Iterator[Metric]:
        info = InfoMetricFamily("swarmscope_build", "swarmscope version and Python")
        info.add_metric([], {"version": _version(), "python": platform.python_version()})
        yield info
        yield from self._ingest(getattr(self.state, "committer", None))
        yield from self._detection(getattr(self.state, "detection", None))
        yield from self._store(self.state.store)
        yield from self._alerts(getattr(self.state, "alerts", None))

    def _ingest(self, committer) -> Iterator[Metric]:
        if committer is None:
            return
        stats = committer.stats
        yield CounterMetricFamily("swarmscope_spans_received", "Spans in acknowledged OTLP requests",
                                  value=stats.spans_received)
        yield CounterMetricFamily("swarmscope_spans_stored", "Spans normalized into the store",
                                  value=stats.spans)
        yield CounterMetricFamily("swarmscope_ingest_requests", "OTLP requests acknowledged",
                                  value=stats.requests)
        rejected = CounterMetricFamily("swarmscope_ingest_requests_rejected",
                                       "OTLP requests refused, by reason", labels=["reason"])
        reasons = {"overload": stats.rejected_overload, "store_refused": stats.failed_requests,
                   **stats.rejected}
        for reason in ("invalid", "too_large", "unsupported_media_type", "commit_failed"):
            reasons.setdefault(reason, 0)
        for reason, count in sorted(reasons.items()):
            rejected.add_metric([reason], count)
        yield rejected
        yield GaugeMetricFamily("swarmscope_ingest_log_bytes", "Bytes in the ingest log not yet in the store",
                                value=stats.normalize_lag_bytes)
        yield GaugeMetricFamily("swarmscope_ingest_queue_bytes",
                                "Bytes waiting for the log or the store (the overload budget counts these)",
                                value=committer.pending_bytes)
        from swarmscope.collector.group_commit import INSERT_BUCKETS

        cumulative, buckets = 0, []
        for bound, count in zip((*INSERT_BUCKETS, float("inf")), stats.insert_seconds_buckets, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else str(bound), cumulative))
        yield HistogramMetricFamily("swarmscope_store_insert_duration_seconds",
                                    "Duration of one store insert of ingest log segments",
                                    buckets=buckets, sum_value=stats.insert_seconds_sum)

    def _detection(self, loop) -> Iterator[Metric]:
        if loop is None:
            return
        yield CounterMetricFamily("swarmscope_detector_sweeps", "Detection sweeps run", value=loop.sweeps)
        if loop.last_duration_s is not None:
            yield GaugeMetricFamily("swarmscope_detector_sweep_duration_seconds",
                                    "Duration of the last detection sweep", value=loop.last_duration_s)
        if loop.last_result is not None:
            per = GaugeMetricFamily("swarmscope_detector_duration_seconds",
                                    "Duration of each detector in the last sweep", labels=["detector"])
            for name, ms in sorted(loop.last_result.timings_ms.items()):
                per.add_metric([name], ms / 1000)
            yield per

    def _store(self, store) -> Iterator[Metric]:
        row = store.rows(STORE_SQL)[0]
        open_spans, open_waits, runs_active = row["open"]
        yield GaugeMetricFamily("swarmscope_open_spans", "Spans started and not ended (seen within a day)",
                                value=open_spans)
        yield GaugeMetricFamily("swarmscope_open_waits", "Open wait spans", value=open_waits)
        yield GaugeMetricFamily("swarmscope_runs_active", "Runs with open spans", value=runs_active)
        yield GaugeMetricFamily("swarmscope_runs_stalled",
                                "Runs with an open stalled wait, deadlock or lost heartbeat",
                                value=row["runs_stalled"])
        counts = {(r["Kind"], r["Severity"], r["Status"]): r["n"] for r in store.rows(FINDINGS_SQL)}
        findings = GaugeMetricFamily("swarmscope_findings", "Findings by kind, severity and status",
                                     labels=["kind", "severity", "status"])
        for kind in KINDS:
            for severity in SEVERITIES:
                for status in ("open", "resolved"):
                    findings.add_metric([kind, severity, status], counts.get((kind, severity, status), 0))
        yield findings

    def _alerts(self, evaluator) -> Iterator[Metric]:
        if evaluator is None:
            return
        states = evaluator.state_counts()
        alerts = GaugeMetricFamily("swarmscope_alerts", "Alert instances by state", labels=["state"])
        for state in STATES:
            alerts.add_metric([state], states.get(state, 0))
        yield alerts
        health = GaugeMetricFamily("swarmscope_alert_rules", "Alert rules by health", labels=["health"])
        by_health = [h.health for h in list(evaluator.health.values())]
        for name in (OK, NODATA, ERROR):
            health.add_metric([name], by_health.count(name))
        yield health
        notifier = evaluator.notifier
        if notifier is None:
            return
        sent = CounterMetricFamily("swarmscope_notifications", "Notification delivery attempts by result",
                                   labels=["receiver", "result"])
        for (receiver, result), count in sorted(notifier.results.items()):
            sent.add_metric([receiver, result], count)
        yield sent
        yield GaugeMetricFamily("swarmscope_notification_queue_depth", "Notifications waiting for delivery",
                                value=notifier.queue_depth)


def registry_for(state: Any) -> CollectorRegistry:
    """A registry of its own per app (no process-global metrics: several apps per test process)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServerCollector(state))
    return registry
