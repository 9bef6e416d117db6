"""The SQLite event log: one file in WAL mode, the embedded default."""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, ClassVar, Literal, TypeVar

from eventlog._connect import connect, set_durability
from eventlog._follow import POLL_INTERVAL, Consumer, Follower, Frontier
from eventlog._log import FOLLOW_CHUNK, EventLog, check_options, literal
from eventlog._schema import DEFAULT_SHARDS, ensure_schema, read_schema_version
from eventlog._types import (
    COLUMNS,
    Claim,
    Durability,
    Head,
    Lease,
    LogClosed,
    Member,
    Membership,
    RecordedEvent,
    SchemaError,
)
from eventlog._writer import Writer

_R = TypeVar("_R")
HEAD_SQL = (
    "SELECT (SELECT seq FROM sqlite_sequence WHERE name = 'events'), "
    "(SELECT value FROM meta WHERE key = 'deletions')"
)


def open_sqlite(path: str, *, durability: Durability = "normal", **options: Any) -> SqliteEventLog:
    """The SQLite log at ``path`` (see ``EventLog.open``); ``":memory:"`` for a throwaway one."""
    if path == ":memory:":
        tempdir = tempfile.mkdtemp(prefix="eventlog-")
        return SqliteEventLog(
            os.path.join(tempdir, "log.db"),
            durability=durability,
            _tempdir=tempdir,
            **options,
        )
    return SqliteEventLog(path, durability=durability, **options)


class SqliteEventLog(EventLog):
    """An append-only log of versioned streams in one SQLite file (WAL).

    Appends go to one writer thread that commits them in batches; each append is
    acknowledged only after its batch is committed. Reads use a connection per
    calling thread and see only committed events; an SQLite failure while reading
    raises the ``sqlite3.Error`` it is.
    """

    dialect: ClassVar[Literal["sqlite"]] = "sqlite"
    _writer: Writer

    def __init__(
        self,
        path: str,
        *,
        durability: Durability = "normal",
        batch_size: int = 2000,
        linger: float = 0.0,
        shards: int = DEFAULT_SHARDS,
        _tempdir: str | None = None,
    ) -> None:
        """Open (creating or migrating if needed) the log file at ``path``.

        ``batch_size`` bounds the appends one commit carries, ``linger`` is how long
        (s) the writer waits for more before it commits. Raises ValueError for an
        unknown durability, SchemaError for a file that is not a log this version
        can open, ``sqlite3.Error`` if SQLite cannot open it.
        """
        check_options(durability, shards)
        self.path = self.location = path
        self.durability = durability
        self._tempdir = _tempdir
        conn = connect(path)
        try:
            ensure_schema(conn, shards)
            set_durability(conn, durability)
            self.shard_count: int = int(
                conn.execute("SELECT value FROM meta WHERE key = 'shards'").fetchone()[0]
            )
            head = _head(conn)
        except BaseException:
            conn.close()
            raise
        self._local = threading.local()
        # Each thread's reader and the thread (close may close only those of threads
        # that are gone, or its own: another's may be in the middle of a query).
        self._readers: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._readers_lock = threading.Lock()
        # What this process knows of the log: everything up to the head at open, then
        # its own commits (the writer tells it) and what a follower reads of the others'.
        self.frontier = Frontier(head)
        self._writer = Writer(conn, batch_size=batch_size, linger=linger, frontier=self.frontier)
        self._follower: Follower | None = None
        self._closed = False

    # -- writing ---------------------------------------------------------------

    def transaction(self, work: Callable[[sqlite3.Connection], _R]) -> _R:
        """``work(conn)`` on the writer's connection inside BEGIN IMMEDIATE (see
        ``EventLog.transaction``): no other process writes the file meanwhile."""
        return self._writer.run(work)

    # -- reading ---------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        """This thread's read-only connection; raises ``LogClosed`` once the log is."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if self._closed:
            if conn is not None:
                self._local.conn = None
                conn.close()
            raise LogClosed("the event log is closed")
        if conn is None:
            conn = connect(self.path)
            # Only the writer writes: a stray write here would race its transactions.
            conn.execute("PRAGMA query_only = ON")
            with self._readers_lock:
                if self._closed:
                    conn.close()
                    raise LogClosed("the event log is closed")
                self._local.conn = conn
                self._readers.append((threading.current_thread(), conn))
        return conn

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read-only statement on this thread's reader connection (see
        ``EventLog.query``); raises ``sqlite3.Error`` for a bad statement (or one that
        would write)."""
        return self._reader().execute(sql, params).fetchall()

    def read_stream(self, stream_id: str, from_version: int = 1) -> list[RecordedEvent]:
        rows = self._reader().execute(
            f"SELECT {COLUMNS} FROM events WHERE stream_id = ? AND version >= ? ORDER BY version",
            (stream_id, from_version),
        )
        return [RecordedEvent(*row) for row in rows]

    def _events_of(self, stream_ids: list[str]) -> list[RecordedEvent]:
        # In (stream_id, version) order: the unique index's, so SQLite sorts nothing.
        rows = self._reader().execute(
            f"SELECT {COLUMNS} FROM events WHERE stream_id IN "
            f"({','.join('?' * len(stream_ids))}) ORDER BY stream_id, version",
            stream_ids,
        )
        return [RecordedEvent(*row) for row in rows]

    def stream_version(self, stream_id: str) -> int:
        row = (
            self._reader()
            .execute("SELECT MAX(version) FROM events WHERE stream_id = ?", (stream_id,))
            .fetchone()
        )
        return int(row[0] or 0)

    def read_all(
        self, from_position: int = 0, *, limit: int | None = None, chunk: int = 10_000
    ) -> Iterator[RecordedEvent]:
        conn = self._reader()
        remaining = limit
        position = from_position
        while remaining is None or remaining > 0:
            n = chunk if remaining is None else min(chunk, remaining)
            rows = conn.execute(
                f"SELECT {COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?",
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
        row = self._reader().execute("SELECT MAX(position) FROM events").fetchone()
        return int(row[0] or 0)

    def head(self) -> Head:
        return _head(self._reader())

    def _between(self, after: int, upto: int) -> list[RecordedEvent]:
        rows = self._reader().execute(
            f"SELECT {COLUMNS} FROM events WHERE position > ? AND position <= ? ORDER BY position",
            (after, upto),
        )
        return [RecordedEvent(*row) for row in rows]

    def follow(self, consumer: Consumer, *, poll_interval: float = POLL_INTERVAL) -> Follower:
        if self._closed:
            raise LogClosed("the event log is closed")
        if self._follower is not None:
            raise RuntimeError("the log already has a follower")

        self._follower = Follower(
            self.head,
            self._between,
            self.frontier,
            consumer,
            poll_interval=poll_interval,
            chunk=FOLLOW_CHUNK,
        )
        return self._follower

    # -- shards and leases (several processes over one log) -----------------------------

    def heartbeat(self, member: str, info: str, ttl: float) -> Membership:
        def beat(conn: sqlite3.Connection) -> Membership:
            now = time.time()
            expires = now + ttl
            conn.execute(
                "INSERT INTO members (member, info, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (member) DO UPDATE SET info = excluded.info, "
                "expires_at = excluded.expires_at",
                (member, info, expires),
            )
            conn.execute("UPDATE leases SET expires_at = ? WHERE owner = ?", (expires, member))
            conn.execute("DELETE FROM members WHERE expires_at <= ?", (now,))
            rows = conn.execute("SELECT member, info, expires_at FROM members ORDER BY member")
            members = tuple([Member(*row) for row in rows])  # a list first: see _leases
            return Membership(now, members, _leases(conn))

        return self._writer.run(beat)

    def claim(self, member: str, epochs: dict[int, int], ttl: float) -> list[Claim]:
        def take(conn: sqlite3.Connection) -> list[Claim]:
            expires = time.time() + ttl
            head = _head(conn).position
            claims = []
            for shard, epoch in sorted(epochs.items()):
                taken = conn.execute(
                    "UPDATE leases SET owner = ?, epoch = epoch + 1, expires_at = ? "
                    "WHERE shard = ? AND epoch = ?",
                    (member, expires, shard, epoch),
                ).rowcount
                if taken:
                    claims.append(Claim(Lease(shard, member, epoch + 1, expires), head))
            return claims

        return self._writer.run(take)

    def release(self, member: str, shards: Iterable[int] | None = None) -> None:
        chosen = None if shards is None else sorted(set(shards))

        def give_up(conn: sqlite3.Connection) -> None:
            sql = (
                "UPDATE leases SET owner = NULL, epoch = epoch + 1, expires_at = 0 WHERE owner = ?"
            )
            if chosen is None:
                conn.execute(sql, (member,))
            else:
                conn.executemany(sql + " AND shard = ?", [(member, shard) for shard in chosen])

        self._writer.run(give_up)

    def leave(self, member: str) -> None:
        def go(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE leases SET owner = NULL, epoch = epoch + 1, expires_at = 0 WHERE owner = ?",
                (member,),
            )
            conn.execute("DELETE FROM members WHERE member = ?", (member,))

        self._writer.run(go)

    def leases(self) -> tuple[Lease, ...]:
        return _leases(self._reader())

    def stream_ids(self, where_type_not_in: Sequence[str] = ()) -> list[str]:
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
        having = literal(event_type)
        lacking_sql = " OR ".join(f"type = {literal(t)}" for t in lacking) or "0"
        rows = conn.execute(
            f"SELECT stream_id FROM events WHERE type = {having} AND stream_id NOT IN "
            f"(SELECT stream_id FROM events WHERE {lacking_sql})"
        )
        return [row[0] for row in rows]

    # -- lifetime --------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._follower is not None:
            self._follower.stop()
        self._writer.close()
        # Closing a connection another thread is reading on can crash the interpreter
        # (the module's connections are shared across threads): this thread's and
        # those of ended threads close now; a live thread's closes on its next read
        # (LogClosed), or when the thread ends and its thread-local goes.
        me = threading.current_thread()
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for thread, conn in readers:
            if thread is me or not thread.is_alive():
                conn.close()
        if getattr(self._local, "conn", None) is not None:
            self._local.conn = None
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)


def _head(conn: sqlite3.Connection) -> Head:
    position, deletions = conn.execute(HEAD_SQL).fetchone()
    return Head(int(position or 0), int(deletions or 0))


def _leases(conn: sqlite3.Connection) -> tuple[Lease, ...]:
    rows = conn.execute("SELECT shard, owner, epoch, expires_at FROM leases ORDER BY shard")
    # From a list, not a generator: a tuple built from a generator is resized as it
    # grows, which fails ("bad argument to internal function") if another thread's
    # gc.get_objects() holds a reference to it meanwhile.
    return tuple([Lease(*row) for row in rows])


def inspect_sqlite(path: str) -> int:
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
