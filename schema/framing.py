"""Varint length-delimited framing: the stream ClickHouse's Protobuf input format reads, and the
format of the collector's ingest log segments."""

from __future__ import annotations


def frame(message: bytes) -> bytes:
    """Varint length prefix + message."""
    size = len(message)
    prefix = bytearray()
    while size >= 0x80:
        prefix.append((size & 0x7F) | 0x80)
        size >>= 7
    prefix.append(size)
    return bytes(prefix) + message


def _read_frame(data: bytes, pos: int) -> tuple[int, int] | None:
    """(start, end) of the message whose prefix starts at `pos`; None when it is cut short."""
    size, shift, cursor, end = 0, 0, pos, len(data)
    while cursor < end and shift < 64:
        byte = data[cursor]
        cursor += 1
        size |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return (cursor, cursor + size) if cursor + size <= end else None
    return None


def split_frames(data: bytes) -> tuple[list[bytes], int]:
    """The complete frames (prefix included) at the start of `data`, and how many bytes they cover.
    A frame cut short (a write torn by a crash) ends the list."""
    frames, pos = [], 0
    while pos < len(data) and (bounds := _read_frame(data, pos)) is not None:
        frames.append(data[pos:bounds[1]])
        pos = bounds[1]
    return frames, pos


def unframe(framed: bytes) -> bytes:
    """The message of one complete frame."""
    bounds = _read_frame(framed, 0)
    if bounds is None or bounds[1] != len(framed):
        raise ValueError("not exactly one complete frame")
    return framed[bounds[0]:bounds[1]]
