"""LogReader: a read-only view of a log, for tools that must never write to it.

``LogReader.open(location)`` (or ``LogReader(location)``) reads a SQLite file or a
PostgreSQL database, chosen as ``EventLog.open`` chooses; both readers keep the
same promises.
"""

from __future__ import annotations

import abc
import os
import threading
import time
from collections.abc import Collection, Generator, Iterator, Sequence
from types import TracebackType
from typing import Any, ClassVar

from eventlog._location import Backend, backend_of
from eventlog._types import EventLogError, Head, RecordedEvent

COLUMN_NAMES = frozenset(RecordedEvent._fields)


class CorruptLog(EventLogError):
    """The store is an event log, but part of it cannot be read."""


class LogReader(abc.ABC):
    """Reads a log without ever writing to it, migrating it or creating it.

    The log is checked first: a missing one, one that is not an event log, or one
    of another schema version raises ``SchemaError`` (``Unreachable`` for a server
    that cannot be reached). Every read sees what was committed when it began,
    including events other processes append while the reader is open. A log that
    cannot be read (a damaged file) raises ``CorruptLog``, from every read; a server
    that can no longer be reached, ``Unreachable``.
    """

    dialect: ClassVar[Backend]
    # The log as messages name it: a path, or a URL without its password.
    location: str
    # The path of a SQLite log, the URL of a PostgreSQL one.
    path: str

    def __new__(cls, location: str | os.PathLike[str]) -> LogReader:
        # ``LogReader(location)`` opens the reader of the backend that keeps it.
        chosen = _reader_class(location) if cls is LogReader else cls
        return super().__new__(chosen)

    @abc.abstractmethod
    def __init__(self, location: str | os.PathLike[str]) -> None: ...

    @classmethod
    def open(cls, location: str | os.PathLike[str]) -> LogReader:
        """The reader of the log at ``location``, opened read-only; raises SchemaError,
        CorruptLog or Unreachable (see the class)."""
        return cls(location)  # __new__ picks the backend's reader

    @abc.abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read-only statement in the reader's ``dialect`` (a statement that
        would write fails)."""

    @abc.abstractmethod
    def read_columns(
        self,
        columns: Sequence[str],
        from_position: int = 0,
        *,
        until_position: int | None = None,
        chunk: int = 10_000,
        ahead: bool | None = None,
    ) -> Generator[Iterator[tuple[Any, ...]], None, None]:
        """Rows ``(position, *columns)`` with ``from_position < position <= until_position``
        (by default, the last position when called), in order, a row iterator per chunk.

        For loops over millions of events: only the columns asked for, memory bounded
        by a chunk. ``ahead`` asks for the rows to be read on another core (SQLite: a
        helper process; ``None`` decides by the scan's length); PostgreSQL's server
        reads on a core of its own anyway.

        Raises ValueError for an unknown column, CorruptLog if the log cannot be read
        (here or in the helper).
        """

    @abc.abstractmethod
    def read_chunks(
        self,
        from_position: int = 0,
        *,
        until_position: int | None = None,
        chunk: int = 10_000,
    ) -> Iterator[list[RecordedEvent]]:
        """Events with ``from_position < position <= until_position``, a list per chunk.

        Without ``until_position`` it reads on until no more events come, so it
        also returns events appended while it reads. Raises CorruptLog.
        """

    def read_all(
        self,
        from_position: int = 0,
        *,
        until_position: int | None = None,
        chunk: int = 10_000,
    ) -> Iterator[RecordedEvent]:
        """Events after ``from_position`` (up to ``until_position``) in global order;
        raises CorruptLog."""
        for events in self.read_chunks(from_position, until_position=until_position, chunk=chunk):
            yield from events

    @abc.abstractmethod
    def read_stream(
        self, stream_id: str, from_version: int = 1, *, until_position: int | None = None
    ) -> list[RecordedEvent]:
        """One stream's events from ``from_version`` (up to ``until_position``), in log
        order; raises CorruptLog (as every read does) if the log cannot be read."""

    @abc.abstractmethod
    def read_last(self, count: int) -> list[RecordedEvent]:
        """The last ``count`` events, oldest first; raises CorruptLog."""

    @abc.abstractmethod
    def read_event(self, position: int) -> RecordedEvent | None:
        """The event at ``position``, ``None`` when there is none; raises CorruptLog."""

    @abc.abstractmethod
    def first_position(self) -> int:
        """The position of the oldest event, 0 for an empty log; raises CorruptLog."""

    @abc.abstractmethod
    def last_position(self) -> int:
        """The position of the newest event, 0 for an empty log; raises CorruptLog."""

    @abc.abstractmethod
    def head(self) -> Head:
        """The last position given to an event (even if deleted since), and how many
        deletions the log has seen (see ``EventLog.head``)."""

    @abc.abstractmethod
    def event_count(self, *, until_position: int | None = None) -> int:
        """How many events the log holds (up to ``until_position``); raises CorruptLog."""

    @abc.abstractmethod
    def has_stream(self, stream_id: str, *, until_position: int | None = None) -> bool:
        """Whether the stream has any event (up to ``until_position``); raises CorruptLog."""

    @abc.abstractmethod
    def last_positions(
        self, stream_ids: Collection[str], *, until_position: int | None = None
    ) -> dict[str, int]:
        """The position of each stream's newest event (up to ``until_position``).

        Streams with no such event are left out. One indexed query per few hundred
        streams, so a scan can learn which streams it will meet again. Raises
        CorruptLog.
        """

    @abc.abstractmethod
    def duplicate_versions(self) -> list[RecordedEvent]:
        """Every event whose (stream, version) an earlier event already holds.

        Always empty for a log written by ``EventLog``, whose unique index forbids
        it; only a store edited by other means can hold duplicates. Raises CorruptLog.
        """

    def tail(
        self,
        from_position: int = 0,
        *,
        poll_interval: float = 0.1,
        stop: threading.Event | None = None,
    ) -> Iterator[RecordedEvent]:
        """Events after ``from_position``, then new ones as any process appends them.

        Polls every ``poll_interval`` seconds; runs until ``stop`` is set, or for ever.
        Raises CorruptLog if a read fails.
        """
        position = from_position
        while stop is None or not stop.is_set():
            got = False
            for events in self.read_chunks(position):
                position = events[-1].position
                got = True
                yield from events
            if not got:
                time.sleep(poll_interval)

    @abc.abstractmethod
    def close(self) -> None:
        """Close the connection. Idempotent."""

    def __enter__(self) -> LogReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _reader_class(location: str | os.PathLike[str]) -> type[LogReader]:
    if backend_of(location) == "postgresql":
        from eventlog._postgres import PostgresLogReader

        return PostgresLogReader
    from eventlog._sqlite_reader import SqliteLogReader

    return SqliteLogReader
