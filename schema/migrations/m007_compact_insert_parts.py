"""Parts under 128 MiB are written compact (all columns in one file) instead of wide (a file per column
stream, ~200 for spans).

A wide part costs a file create per stream: on ext4 that was ~0.4 CPU-s of kernel time per 100k spans
ingested (inode allocation scanning for recently deleted inodes, page faults on ~90 fresh column
buffers): a third of what a segment insert cost. Compact parts hold the same compressed blocks with
marks per column, so reads still skip the columns they do not need; merges that grow a part past
128 MiB write it wide.
"""

from __future__ import annotations

VERSION = 7

STATEMENTS = [
    "ALTER TABLE spans MODIFY SETTING min_bytes_for_wide_part = 134217728",
    "ALTER TABLE pending_spans MODIFY SETTING min_bytes_for_wide_part = 134217728",
]
