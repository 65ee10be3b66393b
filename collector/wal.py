"""The ingest write-ahead log: acknowledged OTLP requests in segment files until the store has them.

A segment is a plain file of length-delimited ExportTraceServiceRequest messages (varint length, then
the message): exactly the stream ClickHouse's Protobuf input format reads. So a request's bytes are
written once, by the append that its 200 waits for, and read once, by ClickHouse itself when the
segment is normalized (see Store.insert_otlp_files). A segment is deleted once its spans are stored;
segments still on disk when the server starts are replayed first.

Appends are not fsynced: an acknowledged request survives the server being killed (the kernel's page
cache holds it), not a power cut, the same guarantee ClickHouse gives its own inserts by default
(`fsync_after_insert = 0`). `fsync=True` buys the stronger one at the cost of a flush per append.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from swarmscope.schema.framing import split_frames

SUFFIX = ".otlp"


@dataclass
class Segment:
    seq: int
    path: Path
    size: int = 0
    requests: int = 0
    spans: int = 0


class SegmentLog:
    """Append-only segments in one directory; one segment is open for appends at a time."""

    def __init__(self, directory: str | Path, fsync: bool = False) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self._next_seq = 1
        self._open: Segment | None = None
        self._fd: int | None = None

    @property
    def open_size(self) -> int:
        return self._open.size if self._open else 0

    def recover(self) -> list[Segment]:
        """Segments left by an earlier process, oldest first, each cut back to its complete frames.
        Call once, before the first append."""
        found = []
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            try:
                seq = int(path.stem)
            except ValueError:
                continue
            self._next_seq = max(self._next_seq, seq + 1)
            data = path.read_bytes()
            frames, complete = split_frames(data)
            if complete < len(data):  # a torn append: never acknowledged, so safe to cut
                os.truncate(path, complete)
            if not frames:
                path.unlink()
                continue
            found.append(Segment(seq, path, complete, len(frames)))
        return found

    def append(self, data: bytes, requests: int, spans: int) -> None:
        """Write framed requests to the open segment (opening one if needed); durable on return."""
        if self._open is None:
            path = self.directory / f"{self._next_seq:012d}{SUFFIX}"
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
            self._open = Segment(self._next_seq, path)
            self._next_seq += 1
        assert self._fd is not None
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
            if self.fsync:
                os.fdatasync(self._fd)
        except OSError:
            # A disk-full append may have written part of a frame: cut it off, or every frame after
            # it in this segment would be misread.
            os.ftruncate(self._fd, self._open.size)
            raise
        self._open.size += len(data)
        self._open.requests += requests
        self._open.spans += spans

    def seal(self) -> Segment | None:
        """Close the open segment for appends and return it (None when nothing is open)."""
        segment, self._open = self._open, None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        return segment

    @staticmethod
    def remove(segment: Segment) -> None:
        segment.path.unlink(missing_ok=True)
