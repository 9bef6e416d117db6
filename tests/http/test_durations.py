"""How the service reads durations (``timeout``, ``wait``) and times (listing bounds)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from alo_actor import InvalidArgument
from alo_actor.http import parse_duration
from alo_actor.http._durations import MAX_DURATION, parse_time


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("500ms", 0.5),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1.5s", 1.5),
        (".25s", 0.25),
        ("42", 42.0),
        (" 2s ", 2.0),
        (7, 7.0),
        (0.75, 0.75),
        ("0", 0.0),
        ("1d", 86400.0),
        ("2w", 1209600.0),
    ],
)
def test_durations(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    ["", "s", "30 sec", "1y", "-1s", -1, "1e3s", "nan", float("inf"), True, "\u0663s", "30S"],
)
def test_bad_durations_name_the_field(text: object) -> None:
    with pytest.raises(InvalidArgument, match="wait"):
        parse_duration(text, "wait")  # type: ignore[arg-type]


def test_a_duration_is_at_most_a_hundred_years() -> None:
    assert parse_duration(MAX_DURATION) == MAX_DURATION
    # Longer means never, as far as anyone will see: what the OpenAPI pattern allows is
    # taken, and the deadline stays a valid date.
    assert parse_duration(MAX_DURATION * 2) == MAX_DURATION
    assert parse_duration("99999999999999999999h") == MAX_DURATION


def test_times() -> None:
    assert parse_time(None, "created_after") is None
    assert parse_time("1700000000.5", "created_after") == 1700000000.5
    moment = datetime(2026, 1, 31, 12, 0, 0, 250000, tzinfo=UTC)
    parsed = parse_time("2026-01-31T12:00:00.25Z", "created_after")
    assert parsed is not None and abs(parsed - moment.timestamp()) < 1e-6
    with pytest.raises(InvalidArgument, match="created_before"):
        parse_time("2026-01-31T12:00:00", "created_before")
    for bad in ("last tuesday", "", "inf", "nan", "1e9", " 5", "2026-01-31 12:00:00Z"):
        with pytest.raises(InvalidArgument, match="created_after"):
            parse_time(bad, "created_after")
    with pytest.raises(InvalidArgument, match="created_after"):
        parse_time("2026-02-30T00:00:00Z", "created_after")  # no such day
    # RFC 3339 as written: lower-case t and z, a leap second, any offset.
    lower = parse_time("2026-01-31t12:00:00.25z", "created_after")
    assert lower is not None and abs(lower - moment.timestamp()) < 1e-6
    leap = parse_time("2016-12-31T23:59:60Z", "created_after")
    assert leap is not None and abs(leap - datetime(2017, 1, 1, tzinfo=UTC).timestamp()) < 1e-6
    shifted = parse_time("2026-01-31T13:00:00.25+01:00", "created_after")
    assert shifted is not None and abs(shifted - moment.timestamp()) < 1e-6


@pytest.mark.parametrize(("age", "seconds"), [("7d", 7 * 86400), ("15m", 900), ("90s", 90)])
def test_an_age_counts_back_from_now_as_on_the_command_line(age: str, seconds: float) -> None:
    before = time.time()
    parsed = parse_time(age, "created_after")
    after = time.time()
    assert parsed is not None
    # Half a microsecond of slack is for RFC 3339 bounds only.
    assert before - seconds <= parsed <= after - seconds
