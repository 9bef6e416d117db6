"""Durations and times as clients write them: ``"30s"``, ``"500ms"``, ``"5m"``; RFC 3339."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta

from alo_actor._errors import InvalidArgument

# Longer than any sensible deadline, short enough that now + it stays a valid date.
MAX_DURATION = 100 * 365 * 24 * 3600.0

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
# What the server reads, whole: the OpenAPI document gives clients the same patterns.
DURATION_PATTERN = r"[ \t]*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)[ \t]*(ms|s|m|h)?[ \t]*"
UNIX_TIME_PATTERN = r"-?[0-9]+(?:\.[0-9]*)?"
_DURATION = re.compile(DURATION_PATTERN)
_UNIX_TIME = re.compile(UNIX_TIME_PATTERN)
# RFC 3339's date-time, which is what JSON Schema's "date-time" format means.
_RFC3339 = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt]([0-9]{2}:[0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def parse_duration(value: str | float | int, what: str = "timeout") -> float:
    """Seconds from ``"30s"``, ``"500ms"``, ``"5m"``, ``"1h"``, a bare number or numeric string;
    anything longer than a hundred years counts as a hundred years (as good as never).

    Raises InvalidArgument, naming ``what``, for anything else, or a negative or
    non-finite value.
    """
    if isinstance(value, bool):
        raise InvalidArgument(f'{what} must be a duration such as "30s" or seconds, not {value}')
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.fullmatch(value)
        if match is None:
            raise InvalidArgument(
                f'{what} must be a duration such as "30s", "500ms", "5m" or seconds, not {value!r}'
            )
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidArgument(f"{what} must be a finite, non-negative duration, not {value!r}")
    return min(seconds, MAX_DURATION)


# Times are shown rounded to the microsecond; a time read back from a response stands
# for every instant that rounds to it, so a bound compares half a microsecond early.
# Then ``created_after=<an ALO's created_at>`` includes that ALO, and ``created_before``
# with it excludes it, as they should.
_HALF_MICROSECOND = 0.5e-6


def parse_time(value: str | None, what: str) -> float | None:
    """A point in time (clock seconds) from an RFC 3339 date-time (its offset required)
    or from Unix seconds (``1700000000.5``); InvalidArgument, naming ``what``, else."""
    if value is None:
        return None
    if _UNIX_TIME.fullmatch(value):
        return float(value)
    match = _RFC3339.fullmatch(value)
    if match is None:
        if _RFC3339.fullmatch(f"{value}Z"):
            raise InvalidArgument(f"{what} needs a time zone offset (Z or +hh:mm): {value!r}")
        raise InvalidArgument(
            f"{what} must be an RFC 3339 time (2026-01-31T12:00:00Z) or Unix seconds, not {value!r}"
        )
    day, minutes, seconds, fraction, offset = match.groups()
    # RFC 3339 has leap seconds (:60); datetime has not: one second past :59.
    leap = seconds == "60"
    offset = "+00:00" if offset in ("Z", "z") else offset
    try:
        moment = datetime.fromisoformat(
            f"{day}T{minutes}:{'59' if leap else seconds}{fraction or ''}{offset}"
        )
    except ValueError as exc:
        raise InvalidArgument(f"{what} is not a valid time ({exc}): {value!r}") from None
    return (moment + timedelta(seconds=leap)).timestamp() - _HALF_MICROSECOND
