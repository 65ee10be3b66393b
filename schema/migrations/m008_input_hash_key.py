"""InputHash64: the input fingerprint as a number, computed on insert.

The detectors that compare inputs (loop, and phantom_completion's disagreement check) first find the
fingerprints given more than once (detectors/sweep.py REPEATED_INPUTS_SQL). Reading and hashing the
64-character InputHash strings of a busy hour was most of that query: on the 1M-span detection bench,
the hash of InputHash over the agent spans took 177 ms against 40 ms for the same rows without it.
A UInt64 per span is an eighth of the bytes. 0 when there is no fingerprint. Parts written before
this migration compute it on read.
"""

from __future__ import annotations

VERSION = 8

STATEMENTS = [
    "ALTER TABLE spans ADD COLUMN IF NOT EXISTS InputHash64 UInt64"
    " MATERIALIZED if(InputHash = '', 0, cityHash64(InputHash)) AFTER InputHash",
    "ALTER TABLE pending_spans ADD COLUMN IF NOT EXISTS InputHash64 UInt64"
    " MATERIALIZED if(InputHash = '', 0, cityHash64(InputHash)) AFTER InputHash",
]
