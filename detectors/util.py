"""Small helpers: times as integer milliseconds since the epoch (no time zones between Python and SQL)."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def iso_ms(ms: int | None) -> str | None:
    if ms is None:
        return None
    moment = datetime(1970, 1, 1) + timedelta(milliseconds=int(ms))
    return moment.isoformat(timespec="milliseconds") + "Z"


def parse_since(value: str, now: int | None = None) -> int:
    """`15m`, `2h`, `7d` (ago), unix seconds or ISO 8601 -> epoch milliseconds. ValueError otherwise."""
    now = now_ms() if now is None else now
    text = value.strip()
    match = _RELATIVE.match(text)
    if match:
        return now - int(float(match.group(1)) * _UNIT_S[match.group(2)] * 1000)
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return int(float(text) * 1000)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"invalid time {value!r}: use 15m, 2h, 7d, unix seconds or ISO 8601") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)
