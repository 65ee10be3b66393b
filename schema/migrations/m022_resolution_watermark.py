"""span_resolution.SeenInsertedAt: the newest InsertedAt of the trace's spans that its resolution read.

A full detection sweep (the first of `serve`, every `swarmscope detect`) resolved every trace of its
window again, resolved or not: 17 s of a 20 s full sweep on the 1M-span bench. With this, a trace is
resolved again only when a span newer than what its resolution read has arrived (exact, unlike
comparing with ResolvedAt: a span inserted while the pass read its trace is not yet visible to it).
"""

from __future__ import annotations

VERSION = 22

STATEMENTS = [
    "ALTER TABLE span_resolution ADD COLUMN IF NOT EXISTS SeenInsertedAt DateTime64(3) DEFAULT 0",
]
