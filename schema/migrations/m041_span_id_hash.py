"""IdHash: a span's (TraceId, SpanId) as one number, computed on insert.

"Which pending spans are still open" (schema/open_spans.py) compares the ids of the pending records
with those of every finished span since the oldest open one started: on the 1M-span UI bench that read
and hashed a million TraceId/SpanId string pairs on every live-page request (~75 ms of CPU of the
page's ~180). A UInt64 column is a sixth of the bytes and needs no hashing at read time (~40 ms).
The same cityHash64 as before, so the set of open spans does not change. Parts written before this
migration compute it on read until the MATERIALIZE mutation (in the background) has rewritten them.
"""

from __future__ import annotations

VERSION = 41

STATEMENTS = [
    "ALTER TABLE spans ADD COLUMN IF NOT EXISTS IdHash UInt64 MATERIALIZED cityHash64(TraceId, SpanId)",
    "ALTER TABLE pending_spans ADD COLUMN IF NOT EXISTS IdHash UInt64"
    " MATERIALIZED cityHash64(TraceId, SpanId)",
    "ALTER TABLE spans MATERIALIZE COLUMN IdHash",
    "ALTER TABLE pending_spans MATERIALIZE COLUMN IdHash",
]
