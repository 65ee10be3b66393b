"""Which pending records are still open: the one definition the detectors and the API share.

A span is open while it has a pending record (latest heartbeat wins) and no finished record with the
same (TraceId, SpanId). The finished side is narrowed to the time range and the ids of the pending side:
a pending record starts when its span does, so finished spans are read from the oldest pending start
on (the primary key's time prefix skips older data), and the set stays as small as the pending records
themselves. The time bound is an `indexHint`: it picks the parts and granules by the primary key's
time prefix but is not evaluated row by row (a finished span a little older than the bound that shares
a granule can only match its own pending record, so the superset changes nothing; the row filter cost
~15 ms of CPU on 1M spans of the last hour, all inside the bound). With no pending records the bound
is NULL and no granule is read (`min` would give 1970 and scan every span). Ids are compared as one
64-bit hash of the pair, `IdHash`, stored with every row (m041): the finished side reads one UInt64
column instead of hashing two strings per span, and a false match needs a 64-bit collision between
two spans. Measurements: docs/detectors.md, "Cost", and docs/ui-bench.md.
"""

from __future__ import annotations

from .params import fill

UNFINISHED = """IdHash NOT IN (
    SELECT IdHash FROM spans
    WHERE indexHint(Timestamp >= (SELECT minOrNull(StartTime) FROM pending_spans WHERE {pending}))
      AND IdHash IN (SELECT IdHash FROM pending_spans WHERE {pending}))"""


def unfinished(pending_filter: str = "1") -> str:
    """SQL condition on `pending_spans` rows: no finished span has their ids. `pending_filter` is the
    condition those pending rows were selected with (it bounds the finished side)."""
    return fill(UNFINISHED, pending=pending_filter)
