"""EventLog: the public face of the log (append, read a stream, read all, tail)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any

from eventlog._connect import connect, set_durability
from eventlog._schema import ensure_schema, read_schema_version
from eventlog._types import Append, Durability, NewEvent, RecordedEvent, SchemaError, Statement
from eventlog._writer import Writer

_COLUMNS = "position, stream_id, version, type, data, recorded_at"


class EventLog:
    """An append-only log of versioned streams in one SQLite file (WAL).

    Appends go to one writer thread that commits them in batches; each append is
    acknowledged only after its batch is committed. Reads use a connection per
    calling thread and see only committed events; an SQLite failure while reading
    raises the ``sqlite3.Error`` it is.
    """

    def __init__(
        self,
        path: str,
        *,
        durability: Durability = "normal",
        batch_size: int = 2000,
        linger: float = 0.0,
        _tempdir: str | None = None,
    ) -> None:
        """Open (creating or migrating if needed) the log file at ``path``.

        ``batch_size`` bounds the appends one commit carries, ``linger`` is how long
        (s) the writer waits for more before it commits. Raises ValueError for an
        unknown durability, SchemaError for a file that is not a log this version
        can open, ``sqlite3.Error`` if SQLite cannot open it.
        """
        if durability not in ("normal", "full"):
            raise ValueError(f"durability must be 'normal' or 'full', not {durability!r}")
        self.path = path
        self.durability = durability
        self._tempdir = _tempdir
        conn = connect(path)
        try:
            ensure_schema(conn)
            set_durability(conn, durability)
        except BaseException:
            conn.close()
            raise
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._writer = Writer(conn, batch_size=batch_size, linger=linger)
        self._closed = False

    @classmethod
    def open(cls, path: str, *, durability: Durability = "normal", **options: float) -> EventLog:
        """Open (creating if needed) the log at ``path``; ``":memory:"`` for a throwaway one
        (a file in a temporary directory, removed on close). Returns the open log;
        raises what ``EventLog(...)`` raises."""
        if path == ":memory:":
            tempdir = tempfile.mkdtemp(prefix="eventlog-")
            return cls(
                os.path.join(tempdir, "log.db"),
                durability=durability,
                _tempdir=tempdir,
                **options,  # type: ignore[arg-type]
            )
        return cls(path, durability=durability, **options)  # type: ignore[arg-type]

    # -- writing ---------------------------------------------------------------

    def submit(self, append: Append) -> None:
        """Queue an append and return at once; ``append.sink`` is called on the writer
        thread after COMMIT, with ``append.positions`` or ``append.error`` (a
        ConcurrencyError, say) filled in. Raises LogClosed once the log is closed,
        TypeError for a malformed append."""
        self._writer.submit(append)

    def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        extra: Sequence[Statement] = (),
    ) -> list[int]:
        """Append and wait until committed; returns the events' global positions.

        Raises ``ConcurrencyError`` when the stream is not at ``expected_version``,
        LogClosed once the log is closed, and the commit's error if it failed.
        ``extra``: SQL statements committed with the events (see ``Append``).
        """
        done = threading.Event()

        def sink(_: list[Append]) -> None:
            done.set()

        append = Append(stream_id, expected_version, list(events), sink, extra=extra)
        self._writer.submit(append)
        done.wait()
        if append.error is not None:
            raise append.error
        return list(append.positions)

    def delete_streams(self, stream_ids: Iterable[str], extra: Sequence[Statement] = ()) -> int:
        """Delete every event of the streams; returns how many of them had events.

        Runs on the writer thread in a transaction of its own, after the appends
        submitted before it and before those submitted after, so it never races an
        append. ``extra`` statements run first in the same transaction (they may still
        refer to the events). Positions are never reused; a deleted stream can be
        started again from version 1. Raises TypeError for an id that is not a
        string, LogClosed once the log is closed, and the transaction's error if it
        failed (then nothing is deleted).
        """
        ids = list(stream_ids)
        if not all(isinstance(stream_id, str) for stream_id in ids):
            raise TypeError("stream ids must be strings")
        return self._writer.delete_streams(ids, extra)

    # -- reading ---------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            # Only the writer writes: a stray write here would race its transactions.
            conn.execute("PRAGMA query_only = ON")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read-only statement on this thread's reader connection.

        One statement is one read transaction: it sees only committed data, as of
        when it began. For read models kept in the log's file (see ``Append.extra``).
        Raises ``sqlite3.Error`` for a bad statement (or one that would write).
        """
        return self._reader().execute(sql, params).fetchall()

    def read_stream(self, stream_id: str, from_version: int = 1) -> list[RecordedEvent]:
        """Every event of one stream from ``from_version``, in version order (an empty
        list for a stream with none)."""
        rows = self._reader().execute(
            f"SELECT {_COLUMNS} FROM events WHERE stream_id = ? AND version >= ? ORDER BY version",
            (stream_id, from_version),
        )
        return [RecordedEvent(*row) for row in rows]

    def stream_version(self, stream_id: str) -> int:
        """The stream's current version, 0 for a stream with no events."""
        row = (
            self._reader()
            .execute("SELECT MAX(version) FROM events WHERE stream_id = ?", (stream_id,))
            .fetchone()
        )
        return int(row[0] or 0)

    def read_all(
        self, from_position: int = 0, *, limit: int | None = None, chunk: int = 10_000
    ) -> Iterator[RecordedEvent]:
        """Events after ``from_position`` in global order, read in chunks (bounded memory)."""
        conn = self._reader()
        remaining = limit
        position = from_position
        while remaining is None or remaining > 0:
            n = chunk if remaining is None else min(chunk, remaining)
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?",
                (position, n),
            ).fetchall()
            for row in rows:
                yield RecordedEvent(*row)
            if len(rows) < n:
                return
            position = rows[-1][0]
            if remaining is not None:
                remaining -= len(rows)

    def last_position(self) -> int:
        """The position of the newest event, 0 for an empty log."""
        row = self._reader().execute("SELECT MAX(position) FROM events").fetchone()
        return int(row[0] or 0)

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

    def stream_ids(self, where_type_not_in: Sequence[str] = ()) -> list[str]:
        """Ids of the streams none of whose events has a type in ``where_type_not_in``
        (for recovery), in the order the streams began."""
        conn = self._reader()
        if not where_type_not_in:
            rows = conn.execute("SELECT stream_id FROM events WHERE version = 1 ORDER BY position")
        else:
            marks = ",".join("?" * len(where_type_not_in))
            rows = conn.execute(
                "SELECT stream_id FROM events WHERE version = 1 AND stream_id NOT IN "
                f"(SELECT stream_id FROM events WHERE type IN ({marks})) ORDER BY position",
                tuple(where_type_not_in),
            )
        return [row[0] for row in rows]

    def streams_having(self, event_type: str, lacking: Sequence[str] = ()) -> list[str]:
        """Streams with an event of ``event_type`` and none of the types in ``lacking``,
        in no particular order (an order would forbid the index below).

        The types are written into the SQL as literals, not bound: only then can
        SQLite use a partial index ``WHERE type = '…'`` that a user of the log made
        for a rare type, instead of reading every event.
        """
        conn = self._reader()
        having = _literal(event_type)
        lacking_sql = " OR ".join(f"type = {_literal(t)}" for t in lacking) or "0"
        rows = conn.execute(
            f"SELECT stream_id FROM events WHERE type = {having} AND stream_id NOT IN "
            f"(SELECT stream_id FROM events WHERE {lacking_sql})"
        )
        return [row[0] for row in rows]

    # -- lifetime --------------------------------------------------------------

    def close(self) -> None:
        """Commit what was submitted, stop the writer, close every connection. Idempotent;
        afterwards ``submit`` and ``append`` raise LogClosed."""
        if self._closed:
            return
        self._closed = True
        self._writer.close()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)

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


def _literal(text: str) -> str:
    """``text`` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def inspect_schema(path: str) -> int:
    """The schema version of the log at ``path``, opened read-only (never writes).

    Raises ``SchemaError`` when the file is missing or is not an event log.
    """
    if not os.path.exists(path):
        raise SchemaError(f"no such file: {path}")
    try:
        conn = connect(path, readonly=True)
    except sqlite3.Error as exc:
        raise SchemaError(f"cannot open {path}: {exc}") from exc
    try:
        version = read_schema_version(conn)
    finally:
        conn.close()
    if version is None:
        raise SchemaError(f"not an event log: {path} is empty")
    return version
