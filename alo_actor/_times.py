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
# What is read, whole; the OpenAPI document gives clients the same patterns.
DURATION_PATTERN = r"[ \t]*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)[ \t]*(ms|s|m|h|d|w)?[ \t]*"
AGE_PATTERN = r"[ \t]*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)[ \t]*(ms|s|m|h|d|w)[ \t]*"
UNIX_TIME_PATTERN = r"-?[0-9]+(?:\.[0-9]*)?"
_DURATION = re.compile(DURATION_PATTERN)
_AGE = re.compile(AGE_PATTERN)
_UNIX_TIME = re.compile(UNIX_TIME_PATTERN)
# RFC 3339's date-time, which is what JSON Schema's "date-time" format means.
_RFC3339 = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt]([0-9]{2}:[0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)

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

    Anything longer than a hundred years counts as a hundred years (as good as never:
    a bound no pattern in the OpenAPI document could state). Raises InvalidArgument,
    naming ``what``, for anything else, or a negative or non-finite value.
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
    return min(seconds, MAX_DURATION)


def _rfc3339(value: str, what: str) -> float:
    match = _RFC3339.fullmatch(value)
    if match is None:
        if _RFC3339.fullmatch(f"{value}Z"):
            raise InvalidArgument(f"{what} needs a time zone offset (Z or +hh:mm): {value!r}")
        raise InvalidArgument(f"{what} must be a time: {TIME_HELP}; not {value!r}")
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
    return moment.timestamp() + leap


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
    if isinstance(value, int | float) or _UNIX_TIME.fullmatch(value):
        seconds = float(value)
    elif (age := _AGE.fullmatch(value)) is not None:
        ago = min(float(age.group(1)) * UNITS[age.group(2)], MAX_DURATION)
        seconds = (time.time() if now is None else now) - ago
    else:
        seconds = _rfc3339(value.strip(), what) - slack
    if not math.isfinite(seconds):
        raise InvalidArgument(f"{what} must be a finite time, not {value!r}")
    return seconds
