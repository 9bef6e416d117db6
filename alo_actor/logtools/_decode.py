"""Stored events and folded states as plain values, for display and export."""

from __future__ import annotations

import base64
import datetime
import enum
import functools
import itertools
import operator
from collections.abc import Callable
from typing import Any

import msgspec
from msgspec.structs import astuple

from alo_actor._events import EVENT_TYPES, AloEvent
from alo_actor._machine import AloState
from alo_actor._times import rfc3339

SHORT_TEXT = 120
SHORT_ITEMS = 20
SHORT_DEPTH = 4

# The union CODEC decodes, as a bare msgspec decoder: loops over millions of events
# save the Python call that ``CODEC.decode`` wraps around it (8% of a replay).
decode_event: Callable[[bytes], AloEvent] = msgspec.msgpack.Decoder(
    functools.reduce(operator.or_, EVENT_TYPES)
).decode


def decode_payload(raw: msgspec.Raw | None) -> Any:
    """An input or result as the value it encodes (``None`` stays ``None``)."""
    if raw is None:
        return None
    try:
        return msgspec.msgpack.decode(raw)
    except (msgspec.DecodeError, TypeError) as exc:
        # Shown, not raised: one bad payload must not hide the rest of a timeline.
        return {"undecodable_msgpack": f"{len(raw)} bytes: {exc}"}


# Values that ``plain`` and ``shorten`` return as they are, tested before any call:
# most fields of a state or an event are one of these, and a replay may print
# hundreds of thousands of states.
_ATOMS = frozenset({type(None), bool, int, float})
_PLAIN = _ATOMS | {str}


def plain(value: Any) -> Any:
    """``value`` with every msgpack payload decoded, Structs as dicts, enums as values."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, msgspec.Raw):
        return decode_payload(value)
    if isinstance(value, msgspec.Struct):
        return {
            name: v if type(v) in _PLAIN else plain(v)
            for name, v in zip(value.__struct_fields__, astuple(value), strict=True)
        }
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {k: v if type(v) in _PLAIN else plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [v if type(v) in _PLAIN else plain(v) for v in value]
    return value


def event_type(event: AloEvent) -> str:
    """The event's type name as stored in the log (``Started``, ``Completed``, …)."""
    return type(event).__name__


def event_fields(event: AloEvent) -> dict[str, Any]:
    """The event's fields as plain values, ``at`` first."""
    fields: dict[str, Any] = plain(event)
    return fields


def state_fields(state: AloState) -> dict[str, Any]:
    """The folded state as plain values: status as its word, payloads decoded."""
    fields: dict[str, Any] = plain(state)
    return fields


def shorten(value: Any, limit: int = SHORT_TEXT, depth: int = SHORT_DEPTH) -> Any:
    """``value`` cut down for a terminal: long strings, bytes, lists and dicts shortened.

    What is cut says so (``… (5000 chars)``), so a reader never mistakes a shortened
    value for the stored one.
    """
    if type(value) in _ATOMS:
        return value
    if isinstance(value, str):
        return value if len(value) <= limit else f"{value[:limit]}… ({len(value)} chars)"
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        if len(data) <= limit // 2:
            return data
        return f"<{len(data)} bytes: {data[: limit // 4].hex()}…>"
    if isinstance(value, dict):
        if depth <= 0:
            return f"{{… {len(value)} keys}}"
        out = {
            k: v if type(v) in _ATOMS else shorten(v, limit, depth - 1)
            for k, v in itertools.islice(value.items(), SHORT_ITEMS)
        }
        if len(value) > SHORT_ITEMS:
            out["…"] = f"{len(value) - SHORT_ITEMS} more keys"
        return out
    if isinstance(value, list | tuple):
        if depth <= 0:
            return f"[… {len(value)} items]"
        items = [
            v if type(v) in _ATOMS else shorten(v, limit, depth - 1) for v in value[:SHORT_ITEMS]
        ]
        if len(value) > SHORT_ITEMS:
            items.append(f"… {len(value) - SHORT_ITEMS} more items")
        return items
    return value


def _enc_hook(obj: Any) -> Any:
    if isinstance(obj, msgspec.msgpack.Ext):
        return {"msgpack_ext": obj.code, "data": base64.b64encode(obj.data).decode()}
    return repr(obj)


_json = msgspec.json.Encoder(enc_hook=_enc_hook)


def _json_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k if isinstance(k, str | int | float) else repr(k): _json_keys(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_json_keys(v) for v in value]
    return value


def to_json(value: Any) -> bytes:
    """``value`` as JSON: bytes as base64, msgpack extensions spelled out, odd keys as text."""
    try:
        return _json.encode(value)
    except (TypeError, msgspec.EncodeError):
        # msgpack allows map keys JSON has no word for (arrays, bytes, None).
        return _json.encode(_json_keys(value))


def format_time(at: float | None) -> str:
    """A clock time as RFC 3339 UTC with milliseconds, or the bare number if it is none."""
    if at is None:
        return "-"
    try:
        moment = datetime.datetime.fromtimestamp(at, datetime.UTC)
    except (OverflowError, OSError, ValueError):
        return repr(at)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# Fields of events, states, records and summaries that hold a clock reading.
TIME_FIELDS = frozenset(
    {
        "at",
        "recorded_at",
        "created_at",
        "settled_at",
        "deadline",
        "retry_at",
        "first_at",
        "last_at",
        "first_recorded_at",
        "last_recorded_at",
    }
)


def json_times(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` with its clock readings as RFC 3339 text, for JSON output (the time
    rule of ``alo_actor._times``). Only this level's keys, by name: what a payload
    (``input``, ``result``) holds is the user's and is left as it is."""
    return {
        name: rfc3339(value)
        if name in TIME_FIELDS and (type(value) is float or type(value) is int)
        else value
        for name, value in fields.items()
    }


def record_json(record: dict[str, Any]) -> dict[str, Any]:
    """An event record (``event_record``) as JSON output shows it: times in RFC 3339."""
    shown = json_times(record)
    data = record.get("data")
    if isinstance(data, dict):
        shown["data"] = json_times(data)
    return shown
