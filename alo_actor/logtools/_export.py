"""Events as plain records: exported as JSON Lines, or followed as they are appended."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import IO, Any

import msgspec

from alo_actor._events import CODEC
from alo_actor.logtools._decode import event_fields, record_json, to_json
from alo_actor.logtools._source import LogSource, opened
from eventlog import RecordedEvent


def event_record(stored: RecordedEvent) -> dict[str, Any]:
    """One stored event as a plain record: where it is, and its decoded ``data``.

    An event that does not decode keeps its bytes in ``raw`` and says why in
    ``error``, so an export of a damaged log loses nothing.
    """
    record: dict[str, Any] = {
        "position": stored.position,
        "stream_id": stored.stream_id,
        "version": stored.version,
        "type": stored.type,
        "recorded_at": stored.recorded_at,
    }
    try:
        record["data"] = event_fields(CODEC.decode(stored.data))
    except msgspec.DecodeError as exc:
        record["data"] = None
        record["error"] = f"does not decode: {exc}"
        record["raw"] = stored.data
    return record


def export(
    source: LogSource, from_position: int = 0, until_position: int | None = None
) -> Iterator[dict[str, Any]]:
    """Every event after ``from_position`` (up to ``until_position``) as a record
    (``event_record``); raises SchemaError or CorruptLog for an unreadable source."""
    with opened(source) as reader:
        for chunk in reader.read_chunks(from_position, until_position=until_position):
            for stored in chunk:
                yield event_record(stored)


class ExportCount(msgspec.Struct, frozen=True):
    """What ``write_jsonl`` wrote: events, and how many of them did not decode."""

    events: int
    undecodable: int


def write_jsonl(
    source: LogSource,
    out: IO[bytes],
    from_position: int = 0,
    until_position: int | None = None,
) -> ExportCount:
    """Write the events to ``out`` as JSON Lines, one record (``event_record``) a line,
    times in RFC 3339; returns the counts. Raises SchemaError or CorruptLog for an
    unreadable source."""
    events = undecodable = 0
    for record in export(source, from_position, until_position):
        out.write(to_json(record_json(record)) + b"\n")
        events += 1
        undecodable += "error" in record
    return ExportCount(events, undecodable)


def follow(
    source: LogSource,
    from_position: int = 0,
    *,
    poll_interval: float = 0.1,
    stop: threading.Event | None = None,
) -> Iterator[dict[str, Any]]:
    """Records of the events after ``from_position``, then of each event appended later,
    by this or any other process, until ``stop`` is set (polling the file). Raises
    SchemaError or CorruptLog for an unreadable source."""
    with opened(source) as reader:
        for stored in reader.tail(from_position, poll_interval=poll_interval, stop=stop):
            yield event_record(stored)
