"""Durations and times as clients write them: ``"30s"``, ``"500ms"``, ``"5m"``; RFC 3339."""

from __future__ import annotations

import math
import re
from datetime import datetime

from alo_actor._errors import InvalidArgument

# Longer than any sensible deadline, short enough that now + it stays a valid date.
MAX_DURATION = 100 * 365 * 24 * 3600.0

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PATTERN = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?\s*")


def parse_duration(value: str | float | int, what: str = "timeout") -> float:
    """Seconds from ``"30s"``, ``"500ms"``, ``"5m"``, ``"1h"``, a bare number or numeric string.

    Raises InvalidArgument, naming ``what``, for anything else, a negative or
    non-finite value, or more than a hundred years.
    """
    if isinstance(value, bool):
        raise InvalidArgument(f'{what} must be a duration such as "30s" or seconds, not {value}')
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _PATTERN.fullmatch(value)
        if match is None:
            raise InvalidArgument(
                f'{what} must be a duration such as "30s", "500ms", "5m" or seconds, not {value!r}'
            )
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidArgument(f"{what} must be a finite, non-negative duration, not {value!r}")
    if seconds > MAX_DURATION:
        raise InvalidArgument(f"{what} must be at most {MAX_DURATION:.0f} s, not {value!r}")
    return seconds


# Times are shown rounded to the microsecond; a time read back from a response stands
# for every instant that rounds to it, so a bound compares half a microsecond early.
# Then ``created_after=<an ALO's created_at>`` includes that ALO, and ``created_before``
# with it excludes it, as they should.
_HALF_MICROSECOND = 0.5e-6


def parse_time(value: str | None, what: str) -> float | None:
    """A point in time (clock seconds) from RFC 3339 with its offset, or from Unix seconds."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(
            f"{what} must be an RFC 3339 time (2026-01-31T12:00:00Z) or Unix seconds, not {value!r}"
        ) from None
    if moment.tzinfo is None:
        raise InvalidArgument(f"{what} needs a time zone offset (Z or +hh:mm): {value!r}")
    return moment.timestamp() - _HALF_MICROSECOND
