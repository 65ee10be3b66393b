"""Stores created before m001 was frozen get the shape a fresh store has.

m001 used to be edited in place, so a store keeps the m001 it was created with:
- before the RunId/AgentId bloom filters were dropped from `spans` (they cost ~20% of each insert
  and no query reads them), it still has `idx_run_id` and `idx_agent`;
- created while m003 also indexed `pending_spans`, it has `idx_inserted_at` there (nothing reads it);
- created before the flattening SELECT last changed, its `span_stream_mv` (the otlp_ingest path:
  a ClickHouse server, and the collector's retries) normalizes as it did then.
Dropping an index and recreating a view over Null tables are cheap and lose nothing; on a fresh store
they change nothing.
"""

from __future__ import annotations

from .m001_core import SPAN_STREAM_MV

VERSION = 10

STATEMENTS = [
    "ALTER TABLE spans DROP INDEX IF EXISTS idx_run_id",
    "ALTER TABLE spans DROP INDEX IF EXISTS idx_agent",
    "ALTER TABLE pending_spans DROP INDEX IF EXISTS idx_inserted_at",
    "DROP VIEW IF EXISTS span_stream_mv",
    SPAN_STREAM_MV,
]
