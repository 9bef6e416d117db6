"""An ALO's stored events as JSON bodies (``GET /v1/alos/{id}/events``)."""

from __future__ import annotations

from typing import Any

import msgspec

from alo_actor._events import CODEC
from alo_actor._model import Failure
from alo_actor._times import utc
from alo_actor._wire import failure_body
from alo_actor.http._schemas import EventBody
from eventlog import RecordedEvent

# Event fields that hold a clock reading, shown in RFC 3339 like every other time.
_TIME_FIELDS = frozenset({"deadline", "retry_at"})


def event_bodies(records: list[RecordedEvent], stack_traces: bool) -> list[EventBody]:
    """The events as answered; failures without their stack traces unless asked."""
    return [_event_body(record, stack_traces) for record in records]


def _event_body(record: RecordedEvent, stack_traces: bool) -> EventBody:
    try:
        event = CODEC.decode_recorded(record)
    except msgspec.MsgspecError:
        # A type this version does not know (written by a newer one): show that it is
        # there rather than failing the whole history.
        return EventBody(
            version=record.version,
            type=record.type,
            at=None,
            recorded_at=utc(record.recorded_at),
            data={},
        )
    data = {
        name: _json_value(name, getattr(event, name), stack_traces)
        for name in event.__struct_fields__
        if name != "at"
    }
    return EventBody(
        version=record.version,
        type=record.type,
        at=utc(event.at),
        recorded_at=utc(record.recorded_at),
        data=data,
    )


def _json_value(name: str, value: Any, stack_traces: bool) -> Any:
    if isinstance(value, msgspec.Raw):
        return msgspec.msgpack.decode(value)
    if isinstance(value, Failure):
        return failure_body(value, stack_traces)
    if name in _TIME_FIELDS and isinstance(value, float):
        return utc(value)
    return value
