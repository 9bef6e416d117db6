"""Nested values for the nesting-limit tests (Python API and HTTP)."""

from __future__ import annotations

from typing import Any


def nested(depth: int) -> Any:
    """Lists within lists, ``depth`` deep, around a string (``nested(2) == [["x"]]``)."""
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


def depth_of(value: Any) -> int:
    """How deep the first arrays or objects of ``value`` nest."""
    depth = 0
    while isinstance(value, list | dict):
        value = value[0] if isinstance(value, list) else next(iter(value.values()))
        depth += 1
    return depth
