"""The ``alos`` read model's tables: created, migrated and rebuilt from the log.

The projection is derived data: its only migration is to drop it and fold it again
from the events, which are the truth. ``ensure_projection`` does that when a system
opens a log whose projection is missing, older, or empty while the log is not.
"""

from __future__ import annotations

import os
import pathlib
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import msgspec

from alo_actor._events import CODEC, Started
from alo_actor._machine import AloState, evolve
from alo_actor.readmodel._projection import INSERT_PAIR, INSERT_ROW, pairs_of, row_of
from eventlog import SchemaError, inspect_schema

if TYPE_CHECKING:
    import sqlite_utils

PROJECTION_VERSION = 2
TABLES = ("alos", "alo_metadata", "alo_projection")

_BUSY_TIMEOUT_MS = 30_000
_CHUNK = 10_000


def _create(db: sqlite_utils.Database) -> None:
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


@contextmanager
def _writing(path: str) -> Iterator[sqlite3.Connection]:
    """A connection inside BEGIN IMMEDIATE: committed on success, rolled back on error.

    Immediate: no other writer (another process's log) may append while the
    projection is being rebuilt, or its rows would be missed.
    """
    if not os.path.exists(path):
        raise SchemaError(f"no such file: {path}")
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()


def projection_version(conn: sqlite3.Connection) -> int | None:
    """The projection's version in the file, ``None`` when it has none."""
    try:
        row = conn.execute("SELECT value FROM alo_projection WHERE key = 'version'").fetchone()
    except sqlite3.OperationalError:  # no such table
        return None
    return None if row is None else int(row[0])


def ensure_projection(path: str) -> None:
    """Create the projection in the log at ``path`` (a log, already created) if needed.

    A projection that is missing, of an older version, or empty beside a log that
    is not, is (re)built from the events. One written by a newer program is refused.
    """
    with _writing(path) as conn:
        _ensure_recovery_indexes(conn)
        version = projection_version(conn)
        if version is not None and version > PROJECTION_VERSION:
            raise SchemaError(
                f"the ALO projection's version {version} is newer than this program "
                f"understands ({PROJECTION_VERSION}); upgrade alo-actor"
            )
        if version == PROJECTION_VERSION and (
            conn.execute("SELECT EXISTS (SELECT 1 FROM alos)").fetchone()[0]
            or not conn.execute("SELECT EXISTS (SELECT 1 FROM events)").fetchone()[0]
        ):
            return
        _rebuild(conn)


# Partial: only the rare delivery records are indexed, so appends of everything else
# pay nothing, and a reopen finds the outcomes still owed without reading every event.
_RECOVERY_INDEXES = (
    "CREATE INDEX IF NOT EXISTS events_deliveries_due ON events (stream_id) "
    "WHERE type = 'DeliveriesDue'",
    "CREATE INDEX IF NOT EXISTS events_deliveries_finished ON events (stream_id) "
    "WHERE type = 'DeliveriesFinished'",
)


def _ensure_recovery_indexes(conn: sqlite3.Connection) -> None:
    for sql in _RECOVERY_INDEXES:
        conn.execute(sql)


OPEN_ALOS = "SELECT id FROM alos WHERE status IN ('running', 'paused') ORDER BY seq"


def rebuild_projection(path: str) -> int:
    """Drop the projection of the log at ``path`` and fold it again from the events.

    One transaction, holding the log's write lock: appends of other processes wait
    for it. Returns the number of ALOs.
    """
    with _writing(path) as conn:
        return _rebuild(conn)


def _rebuild(conn: sqlite3.Connection) -> int:
    import sqlite_utils  # only here: it costs a noticeable share of start-up

    for table in TABLES:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
    _create(sqlite_utils.Database(conn))
    rows: list[tuple[Any, ...]] = []
    pairs: list[tuple[Any, str, str]] = []
    count = 0
    for seq, state in _final_states(conn):
        rows.append((seq, *row_of(state)))
        pairs.extend(pairs_of(state, seq))
        count += 1
        if len(rows) >= _CHUNK:
            _insert(conn, rows, pairs)
    _insert(conn, rows, pairs)
    return count


def _insert(
    conn: sqlite3.Connection, rows: list[tuple[Any, ...]], pairs: list[tuple[Any, str, str]]
) -> None:
    conn.executemany(INSERT_ROW, rows)
    conn.executemany(INSERT_PAIR, pairs)
    rows.clear()
    pairs.clear()


def _final_states(conn: sqlite3.Connection) -> Iterator[tuple[int, AloState]]:
    """(seq, state) of every ALO, folded in log order.

    An ALO is yielded once it settles (nothing after its terminal event changes
    its row), the open ones at the end: memory holds only the open ones.
    """
    open_states: dict[str, tuple[int, AloState]] = {}
    decode = CODEC.decode
    cursor = conn.execute("SELECT position, stream_id, data FROM events ORDER BY position")
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
def reading(path: str) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the log at ``path``, whose projection must exist.

    For tools that must never write: nothing is created, migrated or rebuilt.
    Raises ``SchemaError`` for a missing file, a file that is not an event log, or
    a log without a projection of this version.
    """
    inspect_schema(path)
    uri = pathlib.Path(path).absolute().as_uri() + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        version = projection_version(conn)
        if version != PROJECTION_VERSION:
            have = "no ALO projection" if version is None else f"projection version {version}"
            raise SchemaError(
                f"{path} has {have} (this program reads version {PROJECTION_VERSION}): "
                "open it once with the engine, or run `alo projection rebuild`"
            )
        yield conn
    finally:
        conn.close()
