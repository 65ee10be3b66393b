"""Parsing of query parameters shared by the API and the pages: times, ids, limits."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from fastapi import HTTPException

_RELATIVE = re.compile(r"^(\d+)\s*(s|m|h|d|w)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")


def parse_time(value: str | None, name: str, now: datetime | None = None) -> datetime | None:
    """`15m`/`2h`/`7d` (ago), unix seconds, or ISO 8601; a clear 400 otherwise. Result is naive UTC."""
    if value is None or value == "":
        return None
    now = now or datetime.now(timezone.utc)
    text = value.strip()
    match = _RELATIVE.match(text)
    try:
        if match:
            moment = now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        elif re.fullmatch(r"\d+(\.\d+)?", text):
            moment = datetime.fromtimestamp(float(text), timezone.utc)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
    except (ValueError, OverflowError, OSError) as exc:
        raise HTTPException(400, f"invalid {name}: {value!r} (use 15m, 2h, 7d, unix seconds or ISO 8601)") \
            from exc
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def parse_trace_id(value: str) -> str:
    trace_id = value.strip().lower()
    if not _TRACE_ID.match(trace_id):
        raise HTTPException(400, f"invalid trace id {value!r}: expected 32 hex characters")
    return trace_id


def iso(moment: datetime | None) -> str | None:
    """Naive UTC datetimes from ClickHouse as ISO 8601 with a Z."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.isoformat() + "Z"
