"""Merges write with 256 KiB compression buffers, as segment inserts do (Store.SEGMENT_INSERT_SETTINGS).

A part writer keeps one buffer per column stream, ~90 for spans; at the 1 MiB default each of up to four
concurrent merges held ~180 MiB of them. Compressed bytes stay the same: blocks are cut at granule
boundaries once past min_compress_block_size either way.
"""

from __future__ import annotations

VERSION = 6

STATEMENTS = [
    "ALTER TABLE spans MODIFY SETTING min_compress_block_size = 65536, max_compress_block_size = 262144",
    "ALTER TABLE pending_spans MODIFY SETTING min_compress_block_size = 65536,"
    " max_compress_block_size = 262144",
]
