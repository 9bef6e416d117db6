"""Value types and errors of the event log contract."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

Durability = Literal["normal", "full"]


class NewEvent(NamedTuple):
    """An event to append: its type name and its encoded payload."""

    type: str
    data: bytes


class RecordedEvent(NamedTuple):
    """An event as stored: its global position and its version within its stream."""

    position: int
    stream_id: str
    version: int
    type: str
    data: bytes
    recorded_at: float


class EventLogError(Exception):
    """Base class of every error the event log raises."""


class ConcurrencyError(EventLogError):
    """The stream was not at the expected version: someone else appended first."""

    def __init__(self, stream_id: str, expected_version: int) -> None:
        super().__init__(
            f"stream {stream_id!r} is not at version {expected_version}: "
            "another writer appended to it first"
        )
        self.stream_id = stream_id
        self.expected_version = expected_version


class LogClosed(EventLogError):
    """The log was closed; nothing more can be appended."""


class SchemaError(EventLogError):
    """The file is not an event log this version can open."""


@dataclass(slots=True, eq=False)
class Append:
    """One atomic append to one stream, queued to the writer.

    The writer fills in ``positions`` (or ``error``) after COMMIT, then hands the
    append to ``sink`` together with every other append of the same batch that
    names the same sink, in one call.
    """

    stream_id: str
    expected_version: int
    events: Sequence[NewEvent]
    sink: Callable[[list[Append]], None]
    token: object = None
    positions: list[int] = field(default_factory=list)
    error: Exception | None = None
