"""Durations and times as clients write them (the rule of ``alo_actor._times``)."""

from __future__ import annotations

from alo_actor._times import (
    AGE_PATTERN,
    DURATION_PATTERN,
    MAX_DURATION,
    UNIX_TIME_PATTERN,
    parse_duration,
)
from alo_actor._times import parse_time as _parse_time

__all__ = [
    "AGE_PATTERN",
    "DURATION_PATTERN",
    "MAX_DURATION",
    "UNIX_TIME_PATTERN",
    "parse_duration",
    "parse_time",
]


def parse_time(value: str | None, what: str) -> float | None:
    """A point in time (clock seconds): RFC 3339 with its offset, Unix seconds, or an
    age such as ``7d`` (that long before now)."""
    if value is None:
        return None
    return _parse_time(value, what)
