"""EventLog: the public face of the log (append, read a stream, read all, tail), and the
factory that opens one on SQLite or on PostgreSQL."""

from __future__ import annotations

import abc
import itertools
import os
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any, ClassVar, TypeVar

from eventlog._batches import BatchWriter
from eventlog._follow import POLL_INTERVAL, Consumer, Follower, Frontier
from eventlog._location import Backend, backend_of
from eventlog._stats import CommitStats
from eventlog._types import (
    Append,
    Claim,
    Durability,
    Head,
    Lease,
    LogUnwritable,
    Membership,
    NewEvent,
    RecordedEvent,
    Statement,
)

_R = TypeVar("_R")
# The follower hands on at most this many events at a time, so that catching up on a
# long stretch of the others' writes holds bounded memory.
FOLLOW_CHUNK = 5000
# Streams per query of ``read_streams``: a round trip on a server is paid once for
# this many, and the query stays within SQLite's limit on parameters.
STREAMS_PER_READ = 500


class EventLog(abc.ABC):
    """An append-only log of versioned streams: in one SQLite file (WAL), the embedded
    default, or in a PostgreSQL database that processes on several hosts share.

    ``EventLog.open(location)`` picks the backend: a ``postgresql://`` (or
    ``postgres://``) URL opens PostgreSQL, anything else is a SQLite path. Both keep
    the same contract (``tests/eventlog/contract.py``): positions gapless and in commit
    order; appends go to one writer thread per log that commits them in batches, each
    acknowledged only after its batch is committed; reads see only committed events (a
    failure while reading raises the backend's error: ``sqlite3.Error``,
    ``psycopg.Error``).

    ``dialect`` names the SQL that ``query``, ``Append.extra`` and ``transaction``
    speak: ``"sqlite"`` (``?`` parameters) or ``"postgresql"`` (psycopg's ``%s``).
    """

    dialect: ClassVar[Backend]
    # The path of a SQLite log, the URL of a PostgreSQL one (as ``LogReader.open`` and
    # the log tools take it).
    path: str
    # The log as messages name it: a path, or a URL without its password.
    location: str
    durability: Durability
    # Shards the log is divided into, fixed when it was made (see ``shard_of``).
    shard_count: int
    # What this process knows of the log: everything up to the head at open, then its
    # own commits (the writer tells it) and what a follower reads of the others'.
    frontier: Frontier
    # The log's one writer thread in this process (both backends share its shape).
    _writer: BatchWriter[Any]
    _closed: bool

    @classmethod
    def open(
        cls, location: str | os.PathLike[str], *, durability: Durability = "normal", **options: Any
    ) -> EventLog:
        """Open (creating if needed) the log at ``location``: a SQLite path (``":memory:"``
        for a throwaway one) or a ``postgresql://`` URL (libpq's URL or its parameters).

        Options: ``batch_size`` (appends per commit at most), ``linger`` (seconds a
        batch waits for more), ``shards`` (how many shards a new log is divided into).
        Raises ``SchemaError`` for a store that is not an event log this version can
        open, ``ValueError`` for a bad option, and the backend's own error
        (``sqlite3.Error``, ``psycopg.Error``) when it cannot be reached at all.
        """
        if backend_of(location) == "postgresql":
            from eventlog._postgres import open_postgres

            return open_postgres(os.fspath(location), durability=durability, **options)
        from eventlog._sqlite import open_sqlite

        return open_sqlite(os.fspath(location), durability=durability, **options)

    # -- writing ---------------------------------------------------------------

    def submit(self, append: Append) -> None:
        """Queue an append and return at once; ``append.sink`` is called on the writer
        thread after COMMIT, with ``append.positions`` or ``append.error`` (a
        ConcurrencyError, say) filled in.

        Raises TypeError for an append the log cannot store (nothing is queued),
        LogClosed once closed.
        """
        self._writer.submit(append)

    def submit_many(self, appends: Sequence[Append]) -> None:
        """Queue appends in order, as ``submit`` does each, but without its checks: for a
        caller that builds them well-formed itself (NewEvent(str, bytes) events, extra
        statements of (str, tuple), text PostgreSQL can store), where one malformed
        append would fail its whole batch. One lock for them all. Raises LogClosed once
        the log is closed (then none is queued)."""
        self._writer.submit_many(appends)

    def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        extra: Sequence[Statement] = (),
    ) -> list[int]:
        """Append and wait until committed; returns the events' global positions.

        Raises ``ConcurrencyError`` when the stream is not at ``expected_version``,
        LogClosed once the log is closed, and the commit's error if it failed
        (``LogUnwritable`` when the store refuses writes).
        ``extra``: SQL statements committed with the events (see ``Append``).
        """
        done = threading.Event()

        def sink(_: list[Append]) -> None:
            done.set()

        append = Append(stream_id, expected_version, list(events), sink, extra=extra)
        self.submit(append)
        done.wait()
        if append.error is not None:
            raise append.error
        return list(append.positions)

    @property
    def unwritable(self) -> LogUnwritable | None:
        """Why the last write failed, while the log cannot be written (a full disk, a
        read-only file or database, an I/O error, a lost WAL file, a server that
        cannot be reached); None once a write succeeds."""
        return self._writer.unwritable

    def probe(self) -> LogUnwritable | None:
        """Commit a write that means nothing (on the writer thread, in turn); returns
        why the log cannot be written, or None. Clears ``unwritable`` if it succeeds."""
        return self._writer.probe()

    @property
    def commit_stats(self) -> CommitStats:
        """What this process's writer has committed so far (for metrics)."""
        return self._writer.stats

    def delete_streams(self, stream_ids: Iterable[str], extra: Sequence[Statement] = ()) -> int:
        """Delete every event of the streams; returns how many of them had events.

        Runs on the writer thread in a transaction of its own, after the appends
        submitted before it and before those submitted after, so it never races an
        append. ``extra`` statements run first in the same transaction (they may still
        refer to the events). Positions are never reused; a deleted stream can be
        started again from version 1. The head counts it (``Head.deletions``).
        Raises TypeError for an id that is not a string, LogClosed once the log is
        closed, and the transaction's error if it failed (then nothing is deleted).
        """
        ids = list(stream_ids)
        if not all(isinstance(stream_id, str) for stream_id in ids):
            raise TypeError("stream ids must be strings")
        return self._writer.delete_streams(ids, extra)

    @abc.abstractmethod
    def transaction(self, work: Callable[[Any], _R]) -> _R:
        """``work(conn)`` on the writer thread, in a transaction of its own ordered with
        the appends (after those submitted before, before those after), with the
        backend's own connection (``sqlite3.Connection``, ``psycopg.Connection``); its
        result. For a read model's schema: creating, migrating, rebuilding it.

        Raises what ``work`` raised (the transaction is then rolled back), LogClosed.
        """

    # -- reading ---------------------------------------------------------------

    @abc.abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read-only statement (in the log's ``dialect``).

        One statement is one read transaction: it sees only committed data, as of
        when it began. For read models kept in the log's store (see ``Append.extra``).
        Raises the backend's error for a bad statement (or one that would write).
        """

    @abc.abstractmethod
    def read_stream(self, stream_id: str, from_version: int = 1) -> list[RecordedEvent]:
        """Every event of one stream from ``from_version``, in version order (an empty
        list for a stream with none)."""

    def read_streams(self, stream_ids: Iterable[str]) -> Iterator[tuple[str, list[RecordedEvent]]]:
        """``read_stream`` for many streams: each id given with every event of its
        stream in version order (an empty list for a stream with none), in the order
        given, read ``STREAMS_PER_READ`` streams a query (one round trip on a server,
        where a ``read_stream`` each is one apiece). Lazy: each query runs when the
        iteration reaches its streams, so memory holds one query's events."""
        ids = iter(stream_ids)
        while batch := list(itertools.islice(ids, STREAMS_PER_READ)):
            found: dict[str, list[RecordedEvent]] = {}
            for event in self._events_of(batch):
                found.setdefault(event.stream_id, []).append(event)
            for stream_id in batch:
                yield stream_id, found.get(stream_id, [])

    @abc.abstractmethod
    def _events_of(self, stream_ids: list[str]) -> list[RecordedEvent]:
        """Every event of the streams (a few hundred at most), each stream's in version
        order; one query."""

    @abc.abstractmethod
    def stream_version(self, stream_id: str) -> int:
        """The stream's current version, 0 for a stream with no events."""

    @abc.abstractmethod
    def read_all(
        self, from_position: int = 0, *, limit: int | None = None, chunk: int = 10_000
    ) -> Iterator[RecordedEvent]:
        """Events after ``from_position`` in global order, read in chunks (bounded memory)."""

    @abc.abstractmethod
    def last_position(self) -> int:
        """The position of the newest event stored, 0 when there is none."""

    @abc.abstractmethod
    def head(self) -> Head:
        """The last position given to an event by any process (even if that event was
        deleted since), and how many deletions the log has seen; one small query."""

    @abc.abstractmethod
    def follow(self, consumer: Consumer, *, poll_interval: float = POLL_INTERVAL) -> Follower:
        """Start the log's follower: ``consumer(events, head)`` is called (on its thread)
        with the events other processes commit, in position order, in batches; once it
        has applied them it must call ``log.frontier.applied(head)``. One per log.

        ``poll_interval``: how often it looks at the head when nothing wakes it sooner.
        Raises RuntimeError if the log already has a follower, LogClosed once closed.
        """

    @abc.abstractmethod
    def stream_ids(self, where_type_not_in: Sequence[str] = ()) -> list[str]:
        """Ids of the streams none of whose events has a type in ``where_type_not_in``
        (for recovery), in the order the streams began."""

    @abc.abstractmethod
    def streams_having(self, event_type: str, lacking: Sequence[str] = ()) -> list[str]:
        """Streams with an event of ``event_type`` and none of the types in ``lacking``,
        in no particular order.

        The types are written into the SQL as literals, not bound: only then can the
        database use a partial index ``WHERE type = '…'`` that a user of the log made
        for a rare type, instead of reading every event.
        """

    def tail(
        self,
        from_position: int = 0,
        *,
        poll_interval: float = 0.05,
        stop: threading.Event | None = None,
    ) -> Iterator[RecordedEvent]:
        """Events after ``from_position``, then new ones as any process appends them.

        Runs until ``stop`` is set (checked every ``poll_interval``), or for ever.
        """
        position = from_position
        while stop is None or not stop.is_set():
            got = False
            for event in self.read_all(position):
                position = event.position
                got = True
                yield event
            if not got:
                time.sleep(poll_interval)

    # -- shards and leases (several processes over one log) -----------------------------

    def shard_of(self, stream_id: str) -> int:
        """The shard of a stream: fixed for the life of the log, the same in every process
        (and on every backend)."""
        return zlib.crc32(stream_id.encode("utf-8", "surrogatepass")) % self.shard_count

    @abc.abstractmethod
    def heartbeat(self, member: str, info: str, ttl: float) -> Membership:
        """Renew ``member``'s heartbeat and every lease it holds for ``ttl`` seconds.

        Returns the log's time, the members whose heartbeat has not lapsed, and every
        shard's lease, as of that renewal. Raises LogClosed, or what the store raises.
        """

    @abc.abstractmethod
    def claim(self, member: str, epochs: dict[int, int], ttl: float) -> list[Claim]:
        """Claim each shard of ``epochs`` whose lease is still at the epoch given (as a
        heartbeat saw it): it becomes ``member``'s for ``ttl`` seconds, one epoch on.

        Whether a lease may be taken (free, lapsed, or its owner known dead) is the
        caller's judgement; the epoch makes the claim safe against any other claim made
        since. Returns the claims that succeeded, each with the log's head at the claim.
        """

    @abc.abstractmethod
    def release(self, member: str, shards: Iterable[int] | None = None) -> None:
        """Give up ``member``'s leases of ``shards`` (all of them when None) at once, so
        that another member may claim them now. Its appends fenced with them fail."""

    @abc.abstractmethod
    def leave(self, member: str) -> None:
        """Release every lease of ``member`` and remove it from the members."""

    @abc.abstractmethod
    def leases(self) -> tuple[Lease, ...]:
        """Every shard's lease as committed now (a read: renews nothing)."""

    # -- lifetime --------------------------------------------------------------

    @abc.abstractmethod
    def close(self) -> None:
        """Commit what was submitted, stop the writer, close every connection. Idempotent;
        afterwards ``submit`` and ``append`` raise LogClosed."""

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called."""
        return self._closed

    def __enter__(self) -> EventLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def check_options(durability: object, shards: object) -> None:
    """Refuse (``ValueError``) a durability or a shard count no backend knows."""
    if durability not in ("normal", "full"):
        raise ValueError(f"durability must be 'normal' or 'full', not {durability!r}")
    if not isinstance(shards, int) or not 1 <= shards <= 4096:
        raise ValueError(f"shards must be an int from 1 to 4096, not {shards!r}")


def inspect_schema(location: str | os.PathLike[str]) -> int:
    """The schema version of the log at ``location``, opened read-only (never writes).

    Raises ``SchemaError`` when it is missing or is not an event log.
    """
    if backend_of(location) == "postgresql":
        from eventlog._postgres import inspect_postgres

        return inspect_postgres(os.fspath(location))
    from eventlog._sqlite import inspect_sqlite

    return inspect_sqlite(os.fspath(location))


def literal(text: str) -> str:
    """``text`` as an SQL string literal (both dialects: standard quoting)."""
    return "'" + text.replace("'", "''") + "'"
