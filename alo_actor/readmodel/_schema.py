"""The ``alos`` read model's tables: created, migrated and rebuilt from the log.

The projection is derived data: its only migration is to drop it and fold it again
from the events, which are the truth. ``ensure_projection`` does that when a system
opens a log whose projection is missing, older, or empty while the log is not. It
works through the log (``EventLog.transaction``), in the log's dialect, so the same
code serves a SQLite file and a PostgreSQL database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import msgspec

from alo_actor._events import CODEC, Started
from alo_actor._machine import AloState, evolve
from alo_actor.readmodel._dialect import Dialect, dialect_of
from alo_actor.readmodel._projection import COLUMNS, STATEMENTS, pairs_of, row_of
from eventlog import EventLog, LogReader, SchemaError

if TYPE_CHECKING:
    import os

    import sqlite_utils

PROJECTION_VERSION = 2
TABLES = ("alos", "alo_metadata", "alo_projection")

_CHUNK = 10_000
# Runs one statement, returns its rows.
_Rows = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]


def _create_sqlite(db: sqlite_utils.Database) -> None:
    db.table("alos").create(
        {
            "seq": int,
            "id": str,
            "operation": str,
            "status": str,
            "attempt": int,
            "created_at": float,
            "settled_at": float,
            "deadline": float,
            "metadata": str,
            "result_urls": str,
            "result_metadata": str,
            "failure": bytes,
        },
        pk="seq",
        not_null={"id", "status", "attempt", "created_at", "metadata", "result_urls"},
    )
    # Every index ends in seq (the rowid, implied), so each filter reads in creation
    # order, and each grows at its end, never at a random place.
    db.table("alos").create_index(["status"], index_name="alos_status")
    db.table("alos").create_index(["operation"], index_name="alos_operation")
    # Not in seq order by time: a listing uses it to bound a time range that is short.
    db.table("alos").create_index(["created_at"], index_name="alos_created")
    # Partial and raw SQL (sqlite-utils has no WHERE for indexes): only settled ALOs,
    # for retention to find what settled before a time.
    db.execute("CREATE INDEX alos_settled ON alos (settled_at) WHERE settled_at IS NOT NULL")
    # WITHOUT ROWID (sqlite-utils cannot say it): the key is the whole row, stored once.
    db.execute(
        """
        CREATE TABLE alo_metadata (
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            seq INTEGER NOT NULL,
            PRIMARY KEY (key, value, seq)
        ) WITHOUT ROWID
        """
    )
    db.table("alo_projection").create({"key": str, "value": str}, pk="key")
    db.table("alo_projection").insert({"key": "version", "value": str(PROJECTION_VERSION)})


# The same tables on PostgreSQL. Its indexes do not end in the row's key by
# themselves, so each names seq last: a filter still reads in creation order.
_CREATE_POSTGRES = (
    """
    CREATE TABLE alos (
        seq bigint PRIMARY KEY,
        id text NOT NULL,
        operation text,
        status text NOT NULL,
        attempt bigint NOT NULL,
        created_at double precision NOT NULL,
        settled_at double precision,
        deadline double precision,
        metadata text NOT NULL,
        result_urls text NOT NULL,
        result_metadata text,
        failure bytea
    )
    """,
    "CREATE INDEX alos_status ON alos (status, seq)",
    "CREATE INDEX alos_operation ON alos (operation, seq)",
    "CREATE INDEX alos_created ON alos (created_at, seq)",
    "CREATE INDEX alos_settled ON alos (settled_at, seq) WHERE settled_at IS NOT NULL",
    """
    CREATE TABLE alo_metadata (
        key text NOT NULL,
        value text NOT NULL,
        seq bigint NOT NULL,
        PRIMARY KEY (key, value, seq)
    )
    """,
    "CREATE TABLE alo_projection (key text PRIMARY KEY, value text)",
    f"INSERT INTO alo_projection (key, value) VALUES ('version', '{PROJECTION_VERSION}')",
)

# Partial: only the rare delivery records are indexed, so appends of everything else
# pay nothing, and a reopen finds the outcomes still owed without reading every event.
_RECOVERY_INDEXES = {
    "events_deliveries_due": "CREATE INDEX events_deliveries_due ON events (stream_id) "
    "WHERE type = 'DeliveriesDue'",
    "events_deliveries_finished": "CREATE INDEX events_deliveries_finished ON events "
    "(stream_id) WHERE type = 'DeliveriesFinished'",
}

OPEN_ALOS = "SELECT id FROM alos WHERE status IN ('running', 'paused') ORDER BY seq"


def _exists(rows: _Rows, dialect: Dialect, name: str) -> bool:
    """Whether the table or index ``name`` exists (where the log's tables are)."""
    if dialect.name == "sqlite":
        return bool(rows("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)))
    return bool(rows("SELECT to_regclass(%s) IS NOT NULL", (name,))[0][0])


def _version(rows: _Rows, dialect: Dialect) -> int | None:
    """The projection's version, ``None`` when it has none."""
    if not _exists(rows, dialect, "alo_projection"):
        return None
    found = rows("SELECT value FROM alo_projection WHERE key = 'version'", ())
    return None if not found else int(found[0][0])


def _connection_rows(conn: Any) -> _Rows:
    def rows(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        result: list[tuple[Any, ...]] = conn.execute(sql, params).fetchall()
        return result

    return rows


def _holding_the_log(conn: Any, dialect: Dialect) -> None:
    """Make every process's appends wait until this transaction ends (SQLite's
    BEGIN IMMEDIATE already does), so that a rebuild misses none of their rows."""
    if dialect.name == "postgresql":
        conn.execute("SELECT position FROM head FOR UPDATE")


def ensure_projection(log: EventLog) -> None:
    """Create the projection in ``log`` if needed, in one transaction of the log's.

    A projection that is missing, of an older version, or empty beside a log that
    is not, is (re)built from the events. One written by a newer program is refused
    (``SchemaError``).
    """
    dialect = dialect_of(log)

    def ensure(conn: Any) -> None:
        _holding_the_log(conn, dialect)
        rows = _connection_rows(conn)
        for name, sql in _RECOVERY_INDEXES.items():
            if not _exists(rows, dialect, name):
                conn.execute(sql)
        version = _version(rows, dialect)
        if version is not None and version > PROJECTION_VERSION:
            raise SchemaError(
                f"the ALO projection's version {version} is newer than this program "
                f"understands ({PROJECTION_VERSION}); upgrade alo-actor"
            )
        if version == PROJECTION_VERSION and (
            rows("SELECT EXISTS (SELECT 1 FROM alos)", ())[0][0]
            or not rows("SELECT EXISTS (SELECT 1 FROM events)", ())[0][0]
        ):
            return
        _rebuild(conn, dialect)

    log.transaction(ensure)


def rebuild_projection(log: EventLog) -> int:
    """Drop the projection of ``log`` and fold it again from the events.

    One transaction, holding the log's write lock: appends of other processes wait
    for it. Returns the number of ALOs.
    """
    dialect = dialect_of(log)

    def rebuild(conn: Any) -> int:
        _holding_the_log(conn, dialect)
        return _rebuild(conn, dialect)

    return log.transaction(rebuild)


def _rebuild(conn: Any, dialect: Dialect) -> int:
    for table in TABLES:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
    if dialect.name == "sqlite":
        import sqlite_utils  # only here: it costs a noticeable share of start-up

        _create_sqlite(sqlite_utils.Database(conn))
        cursor = conn.execute("SELECT position, stream_id, data FROM events ORDER BY position")
        insert = _insert_sqlite
    else:
        for sql in _CREATE_POSTGRES:
            conn.execute(sql)
        # A server-side cursor: the events stream in chunks, not all at once.
        cursor = conn.cursor(name="alo_rebuild")
        cursor.execute("SELECT position, stream_id, data FROM events ORDER BY position")
        insert = _insert_postgres
    rows: list[tuple[Any, ...]] = []
    pairs: list[tuple[Any, str, str]] = []
    count = 0
    for seq, state in _final_states(cursor):
        rows.append((seq, *row_of(state)))
        pairs.extend(pairs_of(state, seq))
        count += 1
        if len(rows) >= _CHUNK:
            insert(conn, rows, pairs)
    insert(conn, rows, pairs)
    cursor.close()
    return count


def _insert_sqlite(
    conn: Any, rows: list[tuple[Any, ...]], pairs: list[tuple[Any, str, str]]
) -> None:
    sql = STATEMENTS["sqlite"]
    conn.executemany(sql.insert_row, rows)
    conn.executemany(sql.insert_pair, pairs)
    rows.clear()
    pairs.clear()


def _insert_postgres(
    conn: Any, rows: list[tuple[Any, ...]], pairs: list[tuple[Any, str, str]]
) -> None:
    # COPY: several times quicker than INSERTs for a whole table.
    with conn.cursor() as cursor:
        with cursor.copy(f"COPY alos (seq, {', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        with cursor.copy("COPY alo_metadata (seq, key, value) FROM STDIN") as copy:
            for pair in pairs:
                copy.write_row(pair)
    rows.clear()
    pairs.clear()


def _final_states(cursor: Any) -> Iterator[tuple[int, AloState]]:
    """(seq, state) of every ALO, folded in log order, from ``cursor``'s rows of
    ``(position, stream_id, data)``.

    An ALO is yielded once it settles (nothing after its terminal event changes
    its row), the open ones at the end: memory holds only the open ones.
    """
    open_states: dict[str, tuple[int, AloState]] = {}
    decode = CODEC.decode
    while chunk := cursor.fetchmany(_CHUNK):
        for position, stream_id, data in chunk:
            try:
                event = decode(data)
            except msgspec.DecodeError:
                continue  # `alo log verify` reports it; the rest still projects
            entry = open_states.get(stream_id)
            if entry is None:
                if type(event) is not Started:
                    continue  # a delivery record after the outcome, or a broken stream
                entry = (position, evolve(None, event))
            else:
                try:
                    entry = (entry[0], evolve(entry[1], event))
                except (ValueError, TypeError):
                    continue
            if entry[1].terminal:
                open_states.pop(stream_id, None)
                yield entry
            else:
                open_states[stream_id] = entry
    yield from open_states.values()


@contextmanager
def reading(location: str | os.PathLike[str]) -> Iterator[LogReader]:
    """A read-only reader of the log at ``location``, whose projection must exist:
    a ``Source`` for ``list_alos``.

    For tools that must never write: nothing is created, migrated or rebuilt.
    Raises ``SchemaError`` for a missing log, one that is not an event log, or a log
    without a projection of this version.
    """
    with LogReader.open(location) as reader:
        version = _version(reader.query, dialect_of(reader))
        if version != PROJECTION_VERSION:
            have = "no ALO projection" if version is None else f"projection version {version}"
            raise SchemaError(
                f"{reader.location} has {have} (this program reads version "
                f"{PROJECTION_VERSION}): open it once with the engine, or run "
                "`alo projection rebuild`"
            )
        yield reader
