"""Skip index for incremental detection: each sweep asks which traces received spans since the last.

Parts are written in ingest order, so a minmax index on InsertedAt lets that question skip almost
every granule of a large table (applies to parts written from now on).
"""

from __future__ import annotations

VERSION = 3

STATEMENTS = [
    "ALTER TABLE spans ADD INDEX IF NOT EXISTS idx_inserted_at InsertedAt TYPE minmax GRANULARITY 1",
]
