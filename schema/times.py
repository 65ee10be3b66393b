"""Time in swarmscope: integer milliseconds since the epoch, UTC.

Windows, thresholds, findings and query filters are all epoch milliseconds, bound to SQL as
`fromUnixTimestamp64Milli({x:Int64})`; no time zone ever travels between Python and ClickHouse.
The one parser of user-given times (`parse_time`) serves the API, the pages and `swarmscope detect`.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

ACCEPTED_FORMS = "15m, 2h, 7d (ago; also ms, s, w), unix seconds or ISO 8601"

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_UNIX_SECONDS = re.compile(r"^\d+(\.\d+)?$")
_EPOCH = datetime(1970, 1, 1)
_LATEST_MS = int((datetime(9999, 12, 31, 23, 59, 59) - _EPOCH).total_seconds() * 1000)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def parse_time(value: str, now: int | None = None) -> int:
    """`15m`, `2h`, `7d` (that long before `now`), unix seconds or ISO 8601 (no zone: UTC) -> epoch
    milliseconds. ValueError naming the accepted forms otherwise."""
    text = value.strip()
    relative = _RELATIVE.match(text)
    if relative:
        ago = float(relative.group(1)) * _UNIT_MS[relative.group(2)]
        return max(0, (now_ms() if now is None else now) - int(min(ago, _LATEST_MS)))
    try:
        if _UNIX_SECONDS.match(text):
            ms = int(float(text) * 1000)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            ms = int(moment.timestamp() * 1000)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"invalid time {value!r}: use {ACCEPTED_FORMS}") from exc
    if not 0 <= ms <= _LATEST_MS:
        raise ValueError(f"invalid time {value!r}: out of range (1970 to 9999); use {ACCEPTED_FORMS}")
    return ms


def ms_to_datetime(ms: int) -> datetime:
    """Naive UTC, as ClickHouse DateTime64 values come back."""
    return _EPOCH + timedelta(milliseconds=ms)


def iso_ms(ms: int | None) -> str | None:
    return None if ms is None else ms_to_datetime(int(ms)).isoformat(timespec="milliseconds") + "Z"


def iso(moment: datetime | None) -> str | None:
    """A datetime from ClickHouse (naive UTC) as ISO 8601 with a Z."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.isoformat() + "Z"
