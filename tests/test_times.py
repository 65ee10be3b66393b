"""The one parser of user-given times (API, pages, `swarmscope detect`): forms accepted and refused."""

from __future__ import annotations

import pytest
from fastapi import HTTPException
from swarmscope.schema.times import ACCEPTED_FORMS, iso_ms, ms_to_datetime, parse_time
from swarmscope.ui.params import parse_time_ms

NOW = 1_800_000_000_000  # 2027-01-15T08:00:00Z


@pytest.mark.parametrize(("text", "expected"), [
    ("15m", NOW - 15 * 60_000),
    ("2h", NOW - 7_200_000),
    ("7d", NOW - 7 * 86_400_000),
    ("1w", NOW - 604_800_000),
    ("30s", NOW - 30_000),
    ("250ms", NOW - 250),
    ("1.5h", NOW - 5_400_000),
    (" 15 m ", NOW - 15 * 60_000),
    ("1700000000", 1_700_000_000_000),
    ("1700000000.25", 1_700_000_000_250),
    ("2023-11-14T22:13:20Z", 1_700_000_000_000),
    ("2023-11-14T22:13:20.5Z", 1_700_000_000_500),
    ("2023-11-14T23:13:20+01:00", 1_700_000_000_000),
    ("2023-11-14T22:13:20", 1_700_000_000_000),  # no zone: UTC
    ("2023-11-14", 1_699_920_000_000),
    ("100000w", 0),  # further back than 1970: from the beginning
])
def test_accepted_forms(text, expected):
    assert parse_time(text, NOW) == expected


@pytest.mark.parametrize("text", [
    "", "yesterday", "15 minutes", "-5m", "5y", "1e9", "0x10", "2023-13-01", "2023-11-14T25:00:00Z",
    "99999999999999", "10000-01-01",
])
def test_refused_forms_name_the_accepted_ones(text):
    with pytest.raises(ValueError, match="invalid time") as refused:
        parse_time(text, NOW)
    assert ACCEPTED_FORMS in str(refused.value)


def test_the_api_parameter_is_none_when_absent_and_400_when_bad():
    assert parse_time_ms(None, "since") is None and parse_time_ms("", "since") is None
    assert parse_time_ms("15m", "since", NOW) == NOW - 900_000
    with pytest.raises(HTTPException) as bad:
        parse_time_ms("soon", "until")
    assert bad.value.status_code == 400
    assert bad.value.detail == f"invalid until: 'soon' (use {ACCEPTED_FORMS})"


def test_formatting_round_trips():
    assert iso_ms(1_700_000_000_123) == "2023-11-14T22:13:20.123Z"
    assert iso_ms(None) is None
    assert ms_to_datetime(1_700_000_000_123).isoformat() == "2023-11-14T22:13:20.123000"
