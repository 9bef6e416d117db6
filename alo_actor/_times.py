"""One convention for time, on every face (HTTP, the ``alo`` command, its JSON files).

Out: a time in JSON is RFC 3339 in UTC (``2026-01-31T12:00:00.25Z``: a ``Z``, and
microseconds when they are not zero, as msgspec writes an aware datetime). In: a
time is RFC 3339 with its offset, Unix seconds (``1769860800``), or an age such as
``90s``, ``15m``, ``12h``, ``7d``, ``2w`` (that long before now); a duration is
``500ms``, ``30s``, ``5m``, ``1h``, ``7d``, ``2w`` or bare seconds. The Python API
keeps floats (seconds on the system's clock).
"""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime

import msgspec

from alo_actor._errors import InvalidArgument

# Longer than any sensible deadline, short enough that now + it stays a valid date.
MAX_DURATION = 100 * 365 * 24 * 3600.0

UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|d|w)?\s*")
_AGE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|d|w)\s*")
_NUMBER = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*")

DURATION_HELP = '"500ms", "30s", "5m", "1h", "7d", "2w" or seconds'
TIME_HELP = (
    "RFC 3339 (2026-01-31T12:00:00Z), Unix seconds (1769860800), "
    "or an age such as 90s, 15m, 12h, 7d, 2w (that long before now)"
)

HALF_MICROSECOND = 0.5e-6
_encoder = msgspec.json.Encoder()
_LATEST = datetime.max.replace(tzinfo=UTC)
_EARLIEST = datetime.min.replace(tzinfo=UTC)


def utc(seconds: float) -> datetime:
    """A clock reading as an aware UTC datetime; one beyond the calendar (a deadline set
    from Python can lie past year 9999) as the first or last representable instant."""
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return _LATEST if seconds > 0 else _EARLIEST


def rfc3339(seconds: float) -> str:
    """``seconds`` as the HTTP API writes a time: RFC 3339, UTC, ``Z``."""
    return _encoder.encode(utc(seconds))[1:-1].decode()


def parse_duration(value: str | float | int, what: str = "timeout") -> float:
    """Seconds from a duration (see the module's docstring).

    Raises InvalidArgument, naming ``what``, for anything else, a negative or
    non-finite value, or more than a hundred years.
    """
    if isinstance(value, bool):
        raise InvalidArgument(f"{what} must be a duration such as {DURATION_HELP}, not {value}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.fullmatch(value)
        if match is None:
            raise InvalidArgument(
                f"{what} must be a duration such as {DURATION_HELP}, not {value!r}"
            )
        seconds = float(match.group(1)) * UNITS[match.group(2) or "s"]
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidArgument(f"{what} must be a finite, non-negative duration, not {value!r}")
    if seconds > MAX_DURATION:
        raise InvalidArgument(f"{what} must be at most {MAX_DURATION:.0f} s, not {value!r}")
    return seconds


def parse_time(
    value: str | float | int,
    what: str,
    *,
    now: float | None = None,
    slack: float = HALF_MICROSECOND,
) -> float:
    """Clock seconds from a time (see the module's docstring); an age counts back from
    ``now`` (default: ``time.time()``). Raises InvalidArgument, naming ``what``.

    Times are shown rounded to the microsecond, so an RFC 3339 time stands for every
    instant that rounds to it and comes back ``slack`` (half a microsecond) early: a
    listing bound copied from an output then includes that ALO as ``created_after``
    and excludes it as ``created_before``, as it should.
    """
    if isinstance(value, bool):
        raise InvalidArgument(f"{what} must be a time: {TIME_HELP}; not {value}")
    if isinstance(value, int | float) or _NUMBER.fullmatch(value):
        seconds = float(value)
    elif (age := _AGE.fullmatch(value)) is not None:
        ago = float(age.group(1)) * UNITS[age.group(2)]
        if ago > MAX_DURATION:
            raise InvalidArgument(f"{what} {value!r} is more than a hundred years ago")
        seconds = (time.time() if now is None else now) - ago
    else:
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidArgument(f"{what} must be a time: {TIME_HELP}; not {value!r}") from None
        if moment.tzinfo is None:
            raise InvalidArgument(f"{what} needs a time zone offset (Z or +hh:mm): {value!r}")
        seconds = moment.timestamp() - slack
    if not math.isfinite(seconds):
        raise InvalidArgument(f"{what} must be a finite time, not {value!r}")
    return seconds
