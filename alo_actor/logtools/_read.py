"""Reading a log for people: one ALO's timeline, and a summary of the whole log."""

from __future__ import annotations

from collections import Counter
from typing import Any

import msgspec

from alo_actor._events import CODEC
from alo_actor._machine import AloState, evolve
from alo_actor.logtools._decode import event_fields
from alo_actor.logtools._errors import UnknownAlo
from alo_actor.logtools._replay import replay
from alo_actor.logtools._source import LogSource, opened
from eventlog import LogReader, RecordedEvent


class TimelineEntry(msgspec.Struct, frozen=True):
    """One event of an ALO as stored, decoded (``fields`` is ``None`` if it does not decode)."""

    position: int
    version: int
    type: str
    recorded_at: float
    at: float | None
    fields: dict[str, Any] | None
    error: str | None = None


class Timeline(msgspec.Struct, frozen=True):
    """An ALO's events in log order, and the state they fold to.

    ``state`` is ``None`` with ``error`` set when the events do not fold (an event
    that does not decode, or one before ``Started``).
    """

    id: str
    entries: list[TimelineEntry]
    state: AloState | None
    error: str | None = None


def timeline(source: LogSource, alo_id: str) -> Timeline:
    """Every event of one ALO, decoded, with its folded state.

    Raises ``UnknownAlo`` when the log holds no event of ``alo_id``, SchemaError or
    CorruptLog for an unreadable source.
    """
    with opened(source) as reader:
        recorded = reader.read_stream(alo_id)
    if not recorded:
        raise UnknownAlo(f"the log holds no ALO with id {alo_id!r}")
    entries: list[TimelineEntry] = []
    state: AloState | None = None
    error: str | None = None
    for stored in recorded:
        try:
            event = CODEC.decode(stored.data)
        except msgspec.DecodeError as exc:
            entries.append(_entry(stored, None, None, f"does not decode: {exc}"))
            error = error or f"position {stored.position} does not decode"
            continue
        fields = event_fields(event)
        del fields["at"]
        entries.append(_entry(stored, event.at, fields, None))
        if error is None:
            try:
                state = evolve(state, event)
            except ValueError as exc:
                error = f"position {stored.position}: {exc}"
    return Timeline(alo_id, entries, None if error else state, error)


def _entry(
    stored: RecordedEvent, at: float | None, fields: dict[str, Any] | None, error: str | None
) -> TimelineEntry:
    return TimelineEntry(
        stored.position, stored.version, stored.type, stored.recorded_at, at, fields, error
    )


class OperationCount(msgspec.Struct, frozen=True):
    """How many ALOs run one operation (``None``: external promises), by status."""

    operation: str | None
    total: int
    by_status: dict[str, int]


class LogSummary(msgspec.Struct, frozen=True):
    """What a log holds: its span, and its ALOs counted by status and by operation.

    ``first_at``/``last_at`` are the clock times of the first and last events,
    ``first_recorded_at``/``last_recorded_at`` the wall-clock times they were stored.
    """

    path: str
    events: int
    alos: int
    first_position: int
    last_position: int
    first_at: float | None
    last_at: float | None
    first_recorded_at: float | None
    last_recorded_at: float | None
    by_status: dict[str, int]
    operations: list[OperationCount]


def summarize(source: LogSource) -> LogSummary:
    """Counts by status and operation, and the log's span, from one replay of the log;
    raises what ``replay`` raises."""
    with opened(source) as reader:
        last = reader.last_position()
        first = reader.first_position()
        pairs: Counter[tuple[str | None, str]] = Counter()
        for state in replay(reader, last):
            pairs[state.operation, state.status.value] += 1
        first_event = reader.read_event(first)
        last_event = reader.read_event(last)
        events = reader.event_count(until_position=last)
    by_status: Counter[str] = Counter()
    by_operation: dict[str | None, Counter[str]] = {}
    for (operation, status), n in pairs.items():
        by_status[status] += n
        by_operation.setdefault(operation, Counter())[status] += n
    operations = [
        OperationCount(operation, counts.total(), dict(counts.most_common()))
        for operation, counts in sorted(
            by_operation.items(), key=lambda item: (-item[1].total(), item[0] or "")
        )
    ]
    return LogSummary(
        path=reader.location,
        events=events,
        alos=by_status.total(),
        first_position=first,
        last_position=last,
        first_at=_at(first_event),
        last_at=_at(last_event),
        first_recorded_at=first_event.recorded_at if first_event else None,
        last_recorded_at=last_event.recorded_at if last_event else None,
        by_status=dict(by_status.most_common()),
        operations=operations,
    )


def _at(stored: RecordedEvent | None) -> float | None:
    if stored is None:
        return None
    try:
        return CODEC.decode(stored.data).at
    except msgspec.DecodeError:
        return None


def log_end(reader: LogReader) -> float | None:
    """The clock time of the log's last event, ``None`` for an empty log."""
    return _at(reader.read_event(reader.last_position()))
