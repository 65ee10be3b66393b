"""The ingest write-ahead log moved out of ClickHouse into segment files (collector/wal.py).

Appending each acknowledged batch to a MergeTree table cost a part per append (and merges of those
parts), and every byte went through ClickHouse twice; a segment file is written once and read once.
Data dirs created before this drop the old log tables (a fresh m001 no longer creates them).
"""

from __future__ import annotations

VERSION = 5

STATEMENTS = [
    "DROP TABLE IF EXISTS otlp_wal",
    "DROP TABLE IF EXISTS otlp_wal_normalized",
]
