"""The PostgreSQL event log: the same contract as SQLite's, over a database server that
processes on several hosts share."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, ClassVar, Literal, TypeVar

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolClosed

from eventlog._follow import Consumer, Follower, Frontier
from eventlog._location import shown
from eventlog._log import FOLLOW_CHUNK, EventLog, check_options, literal
from eventlog._postgres._connect import READER_SETTINGS, connect, writer_settings
from eventlog._postgres._listen import Listener
from eventlog._postgres._schema import ensure_schema, read_schema_version
from eventlog._postgres._writer import Connection, PostgresWriter
from eventlog._schema import DEFAULT_SHARDS
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

_R = TypeVar("_R")
_HEAD = "SELECT position, deletions FROM head"
_LEASES = "SELECT shard, owner, epoch, expires_at FROM leases ORDER BY shard"
_NOW = "SELECT extract(epoch FROM clock_timestamp())::double precision"
# With notifications waking the follower, the head is polled only in case one is
# missed (the listening connection dropped): often enough to bound that delay.
POLL_FALLBACK = 0.1
# Reading connections a log keeps at most (its threads share them).
POOL_SIZE = 8


def open_postgres(
    url: str, *, durability: Durability = "normal", **options: Any
) -> PostgresEventLog:
    """The PostgreSQL log at ``url`` (see ``EventLog.open``)."""
    return PostgresEventLog(url, durability=durability, **options)


class PostgresEventLog(EventLog):
    """An append-only log of versioned streams in a PostgreSQL database.

    The tables live in the connection's current schema (the first of its
    ``search_path``: ``?options=-csearch_path%3Dname`` in the URL puts a log in a
    schema of its own). One writer connection per log commits the batches; reads
    share a small pool of read-only connections (``pool_size``, default 8), each
    statement its own transaction; a follower is woken by LISTEN/NOTIFY. Every
    commit is durable when acknowledged (``synchronous_commit = on``; ``"full"``
    also waits for synchronous standbys to apply it). Leases and heartbeats are
    timed by the database's clock, so hosts whose clocks disagree still agree.
    """

    dialect: ClassVar[Literal["postgresql"]] = "postgresql"
    _writer: PostgresWriter

    def __init__(
        self,
        url: str,
        *,
        durability: Durability = "normal",
        batch_size: int = 2000,
        linger: float = 0.0,
        shards: int = DEFAULT_SHARDS,
        pool_size: int = POOL_SIZE,
    ) -> None:
        check_options(durability, shards)
        if not isinstance(pool_size, int) or pool_size < 1:
            raise ValueError(f"pool_size must be a positive int, not {pool_size!r}")
        self.path = url
        self.location = shown(url)
        self.durability = durability
        settings = writer_settings(durability)
        conn = connect(url, settings=settings)
        try:
            ensure_schema(conn, shards)
            # The schema's name comes with the shard count: one round trip, not two
            # (ensure_schema found the log in it, so there is one).
            row = conn.execute(
                "SELECT value, current_schema() FROM meta WHERE key = 'shards'"
            ).fetchone()
            assert row is not None and row[1] is not None
            self.shard_count: int = int(row[0])
            channel = sql.Identifier(f"alo_eventlog:{row[1]}"[:63])
            self._listen = sql.SQL("LISTEN {}").format(channel).as_string(conn)
            notify = sql.SQL("NOTIFY {}").format(channel).as_string(conn)
            head = _head(conn)
        except BaseException:
            conn.close()
            raise
        self._pool: ConnectionPool[Connection] = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True, "client_encoding": "utf8"},
            configure=_configure_reader,
            name=f"eventlog-{self.location}",
            open=False,
        )
        try:
            self._pool.open(wait=True, timeout=30)
        except BaseException:
            conn.close()
            self._pool.close()
            raise
        self.frontier = Frontier(head)
        self._writer = PostgresWriter(
            conn,
            reconnect=lambda: connect(url, settings=settings),
            notify=notify,
            batch_size=batch_size,
            linger=linger,
            frontier=self.frontier,
        )
        self._follower: Follower | None = None
        self._listener: Listener | None = None
        self._closed = False

    # -- writing ---------------------------------------------------------------

    def transaction(self, work: Callable[[Connection], _R]) -> _R:
        """``work(conn)`` on the writer's connection between BEGIN and COMMIT (see
        ``EventLog.transaction``); it holds the head row first if it needs appends of
        every process to wait (``SELECT position FROM head FOR UPDATE``)."""
        return self._writer.run(work)

    # -- reading ---------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read-only statement (psycopg's ``%s`` parameters), on a pooled
        connection; see ``EventLog.query``. Raises ``LogClosed`` once the log is."""
        if self._closed:
            raise LogClosed("the event log is closed")
        rows = self._query_once(sql, params, again=True)
        if rows is None:
            # The pooled connection was dead (the server restarted, or ended idle
            # sessions): so, likely, are the others. A read is safe to run again.
            self._pool.check()
            rows = self._query_once(sql, params, again=False)
            assert rows is not None
        return rows

    def _query_once(
        self, sql: str, params: Sequence[Any], *, again: bool
    ) -> list[tuple[Any, ...]] | None:
        """The rows; None if the connection was dead and ``again`` allows another go."""
        try:
            with self._pool.connection() as conn:
                try:
                    return conn.execute(sql, params).fetchall()
                except psycopg.OperationalError:
                    if again and conn.broken:
                        return None
                    raise
        except PoolClosed:
            raise LogClosed("the event log is closed") from None

    def read_stream(self, stream_id: str, from_version: int = 1) -> list[RecordedEvent]:
        rows = self.query(
            f"SELECT {COLUMNS} FROM events WHERE stream_id = %s AND version >= %s ORDER BY version",
            (stream_id, from_version),
        )
        return [RecordedEvent(*row) for row in rows]

    def _events_of(self, stream_ids: list[str]) -> list[RecordedEvent]:
        rows = self.query(
            f"SELECT {COLUMNS} FROM events WHERE stream_id = ANY(%s) ORDER BY stream_id, version",
            (stream_ids,),
        )
        return [RecordedEvent(*row) for row in rows]

    def stream_version(self, stream_id: str) -> int:
        rows = self.query("SELECT max(version) FROM events WHERE stream_id = %s", (stream_id,))
        return int(rows[0][0] or 0)

    def read_all(
        self, from_position: int = 0, *, limit: int | None = None, chunk: int = 10_000
    ) -> Iterator[RecordedEvent]:
        remaining = limit
        position = from_position
        while remaining is None or remaining > 0:
            n = chunk if remaining is None else min(chunk, remaining)
            rows = self.query(
                f"SELECT {COLUMNS} FROM events WHERE position > %s ORDER BY position LIMIT %s",
                (position, n),
            )
            for row in rows:
                yield RecordedEvent(*row)
            if len(rows) < n:
                return
            position = rows[-1][0]
            if remaining is not None:
                remaining -= len(rows)

    def last_position(self) -> int:
        return int(self.query("SELECT max(position) FROM events")[0][0] or 0)

    def head(self) -> Head:
        position, deletions = self.query(_HEAD)[0]
        return Head(int(position), int(deletions))

    def _between(self, after: int, upto: int) -> list[RecordedEvent]:
        rows = self.query(
            f"SELECT {COLUMNS} FROM events WHERE position > %s AND position <= %s "
            "ORDER BY position",
            (after, upto),
        )
        return [RecordedEvent(*row) for row in rows]

    def follow(self, consumer: Consumer, *, poll_interval: float = POLL_FALLBACK) -> Follower:
        """See ``EventLog.follow``: woken by LISTEN/NOTIFY as soon as another process
        commits, and polling the head every ``poll_interval`` s in case a notification
        is missed."""
        if self._closed:
            raise LogClosed("the event log is closed")
        if self._follower is not None:
            raise RuntimeError("the log already has a follower")
        url = self.path
        listener: list[Listener] = []
        self._follower = follower = Follower(
            self.head,
            self._between,
            self.frontier,
            consumer,
            poll_interval=poll_interval,
            chunk=FOLLOW_CHUNK,
            on_stop=lambda: listener[0].stop() if listener else None,
        )
        self._listener = Listener(
            lambda: connect(url),
            self._listen,
            follower.poke,
            lambda: self._writer.backend_pid,
        )
        listener.append(self._listener)
        return follower

    @property
    def listening(self) -> threading.Event:
        """Set while the follower's listener is connected (for tests and health checks)."""
        if self._listener is None:
            raise RuntimeError("the log has no follower")
        return self._listener.connected

    def stream_ids(self, where_type_not_in: Sequence[str] = ()) -> list[str]:
        if not where_type_not_in:
            rows = self.query("SELECT stream_id FROM events WHERE version = 1 ORDER BY position")
        else:
            rows = self.query(
                "SELECT stream_id FROM events WHERE version = 1 AND stream_id NOT IN "
                "(SELECT stream_id FROM events WHERE type = ANY(%s)) ORDER BY position",
                (list(where_type_not_in),),
            )
        return [row[0] for row in rows]

    def streams_having(self, event_type: str, lacking: Sequence[str] = ()) -> list[str]:
        having = literal(event_type)
        lacking_sql = " OR ".join(f"type = {literal(t)}" for t in lacking) or "FALSE"
        rows = self.query(
            f"SELECT stream_id FROM events WHERE type = {having} AND stream_id NOT IN "
            f"(SELECT stream_id FROM events WHERE {lacking_sql})"
        )
        return [row[0] for row in rows]

    # -- shards and leases ---------------------------------------------------------

    def heartbeat(self, member: str, info: str, ttl: float) -> Membership:
        def beat(conn: Connection) -> Membership:
            now = _now(conn)
            expires = now + ttl
            conn.execute(
                "INSERT INTO members (member, info, expires_at) VALUES (%s, %s, %s) "
                "ON CONFLICT (member) DO UPDATE SET info = excluded.info, "
                "expires_at = excluded.expires_at",
                (member, info, expires),
            )
            conn.execute(
                "UPDATE leases SET expires_at = %s WHERE shard IN "
                "(SELECT shard FROM leases WHERE owner = %s ORDER BY shard FOR UPDATE)",
                (expires, member),
            )
            conn.execute("DELETE FROM members WHERE expires_at <= %s", (now,))
            rows = conn.execute("SELECT member, info, expires_at FROM members ORDER BY member")
            members = tuple([Member(*row) for row in rows])  # a list first: see _leases
            return Membership(now, members, _leases(conn))

        return self._writer.run(beat)

    def claim(self, member: str, epochs: dict[int, int], ttl: float) -> list[Claim]:
        def take(conn: Connection) -> list[Claim]:
            expires = _now(conn) + ttl
            claims = []
            for shard, epoch in sorted(epochs.items()):
                taken = conn.execute(
                    "UPDATE leases SET owner = %s, epoch = epoch + 1, expires_at = %s "
                    "WHERE shard = %s AND epoch = %s",
                    (member, expires, shard, epoch),
                ).rowcount
                if taken:
                    claims.append(Lease(shard, member, epoch + 1, expires))
            # After the updates: an append fenced with one of these shards that held
            # it first has committed by now, and its events are at or before this head.
            head = _head(conn).position
            return [Claim(lease, head) for lease in claims]

        return self._writer.run(take)

    def release(self, member: str, shards: Iterable[int] | None = None) -> None:
        chosen = None if shards is None else sorted(set(shards))

        def give_up(conn: Connection) -> None:
            conn.execute(
                "UPDATE leases SET owner = NULL, epoch = epoch + 1, expires_at = 0 "
                "WHERE shard IN (SELECT shard FROM leases WHERE owner = %s "
                "AND (%s::integer[] IS NULL OR shard = ANY(%s::integer[])) "
                "ORDER BY shard FOR UPDATE)",
                (member, chosen, chosen),
            )

        self._writer.run(give_up)

    def leave(self, member: str) -> None:
        def go(conn: Connection) -> None:
            conn.execute(
                "UPDATE leases SET owner = NULL, epoch = epoch + 1, expires_at = 0 "
                "WHERE shard IN (SELECT shard FROM leases WHERE owner = %s "
                "ORDER BY shard FOR UPDATE)",
                (member,),
            )
            conn.execute("DELETE FROM members WHERE member = %s", (member,))

        self._writer.run(go)

    def leases(self) -> tuple[Lease, ...]:
        return tuple([Lease(*row) for row in self.query(_LEASES)])  # see _leases

    # -- lifetime --------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._follower is not None:
            self._follower.stop()
        if self._listener is not None:
            self._listener.stop()
        self._writer.close()
        self._pool.close()


def _configure_reader(conn: Connection) -> None:
    # Only the writer writes: a stray write here would race its transactions.
    for name, value in {"default_transaction_read_only": "on", **READER_SETTINGS}.items():
        conn.execute("SELECT set_config(%s, %s, false)", (name, value))


def _head(conn: Connection) -> Head:
    row = conn.execute(_HEAD).fetchone()
    assert row is not None, "the log's head row is missing"
    return Head(int(row[0]), int(row[1]))


def _now(conn: Connection) -> float:
    row = conn.execute(_NOW).fetchone()
    assert row is not None
    return float(row[0])


def _leases(conn: Connection) -> tuple[Lease, ...]:
    rows = conn.execute(_LEASES)
    # From a list, not a generator: a tuple built from a generator is resized as it
    # grows, which fails ("bad argument to internal function") if another thread's
    # gc.get_objects() holds a reference to it meanwhile.
    return tuple([Lease(*row) for row in rows])


def inspect_postgres(url: str) -> int:
    """The schema version of the log at ``url``, read on a read-only connection.

    Raises ``SchemaError`` when the database holds no log, ``Unreachable`` when the
    server cannot be reached.
    """
    conn = connect(url, read_only=True)
    try:
        version = read_schema_version(conn)
    finally:
        conn.close()
    if version is None:
        raise SchemaError(f"not an event log: {shown(url)} holds no log")
    return version
