"""Query parameters of the API and the pages: times (schema/times.py parses them), ids, limits."""

from __future__ import annotations

import re

from fastapi import HTTPException
from swarmscope.schema import times

_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")


def parse_time_ms(value: str | None, name: str, now: int | None = None) -> int | None:
    """A time parameter as epoch milliseconds (None if absent); 400 naming the accepted forms."""
    if value is None or value == "":
        return None
    try:
        return times.parse_time(value, now)
    except ValueError as exc:
        raise HTTPException(400, f"invalid {name}: {value!r} (use {times.ACCEPTED_FORMS})") from exc


def parse_trace_id(value: str) -> str:
    trace_id = value.strip().lower()
    if not _TRACE_ID.match(trace_id):
        raise HTTPException(400, f"invalid trace id {value!r}: expected 32 hex characters")
    return trace_id
