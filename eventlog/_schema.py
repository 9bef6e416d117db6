"""The log's SQLite schema: creation, version checks and migrations (via sqlite-utils)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from eventlog._connect import BUSY_TIMEOUT_MS
from eventlog._types import SchemaError

if TYPE_CHECKING:
    import sqlite_utils

FORMAT = "alo-eventlog"
SCHEMA_VERSION = 2
# The oldest schema whose events table is today's: a reader, which never migrates,
# can read logs from this version on.
MIN_READABLE_VERSION = 1
# Shards a new log is divided into (fixed for the life of the log: a stream's shard
# must never change). More than any group of processes will have members.
DEFAULT_SHARDS = 64


def _create_v1(db: sqlite_utils.Database) -> None:
    db.table("meta").create({"key": str, "value": str}, pk="key")
    # AUTOINCREMENT: positions are never reused, even after the newest events are purged,
    # so a reader tailing from a position never misses or re-reads an event.
    db.execute(
        """
        CREATE TABLE events (
            position INTEGER PRIMARY KEY AUTOINCREMENT,
            stream_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            type TEXT NOT NULL,
            data BLOB NOT NULL,
            recorded_at REAL NOT NULL
        )
        """
    )
    db.table("events").create_index(
        ["stream_id", "version"], unique=True, index_name="events_stream"
    )
    db.table("meta").insert_all(
        [
            {"key": "format", "value": FORMAT},
            # Version 1 as it was; ensure_schema records each migration after it runs.
            {"key": "schema_version", "value": "1"},
        ]
    )


def _leases_v2(db: sqlite_utils.Database) -> None:
    """Shards, leases and members: several processes sharing one log (semantics §8)."""
    db.execute(
        """
        CREATE TABLE leases (
            shard INTEGER PRIMARY KEY,
            owner TEXT,
            epoch INTEGER NOT NULL,
            expires_at REAL NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE members (
            member TEXT PRIMARY KEY,
            info TEXT NOT NULL,
            expires_at REAL NOT NULL
        )
        """
    )
    shards = int(db.execute("SELECT value FROM meta WHERE key = 'shards'").fetchone()[0])
    db.conn.executemany(
        "INSERT INTO leases (shard, owner, epoch, expires_at) VALUES (?, NULL, 0, 0)",
        [(shard,) for shard in range(shards)],
    )
    db.execute("INSERT INTO meta (key, value) VALUES ('deletions', '0')")


# Migration n takes a log at schema version n - 1 to version n.
MIGRATIONS: dict[int, Callable[[sqlite_utils.Database], None]] = {1: _create_v1, 2: _leases_v2}


def read_schema_version(conn: sqlite3.Connection) -> int | None:
    """The schema version of an opened file, ``None`` for an empty file.

    Raises ``SchemaError`` for a file that holds something other than an event log.
    """
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise SchemaError(f"not an event log (not a readable SQLite database: {exc})") from exc
    if not tables:
        return None
    if "meta" not in tables or "events" not in tables:
        raise SchemaError("not an event log: the file holds other SQLite tables")
    return version_in_meta(dict(conn.execute("SELECT key, value FROM meta").fetchall()))


def version_in_meta(meta: dict[str, str]) -> int:
    """The schema version that a log's ``meta`` table records (on either backend).

    Raises ``SchemaError`` for a ``meta`` of something other than an event log.
    """
    if meta.get("format") != FORMAT:
        raise SchemaError(f"not an event log: format is {meta.get('format')!r}")
    try:
        return int(meta["schema_version"])
    except (KeyError, ValueError) as exc:
        raise SchemaError("event log has no readable schema version") from exc


def ensure_schema(conn: sqlite3.Connection, shards: int = DEFAULT_SHARDS) -> None:
    """Create the schema in an empty file, or migrate an older one; refuse a newer one.

    ``shards`` is how many shards a log without any yet is divided into (a new log, or
    one older than leases); a log keeps the number it was given. A file that is
    refused is left exactly as it was.
    """
    # Checked before switching to WAL, which rewrites the header of a file not yet in WAL.
    refuse_newer(read_schema_version(conn) or 0)
    _use_wal(conn)
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Read again: another process may have created or migrated the file meanwhile.
        version = read_schema_version(conn) or 0
        refuse_newer(version)
        if version == SCHEMA_VERSION:
            conn.execute("COMMIT")
            return
        # Imported only to create or migrate: it costs a noticeable share of start-up.
        import sqlite_utils

        db = sqlite_utils.Database(conn)
        for target in range(version + 1, SCHEMA_VERSION + 1):
            if target == 2:  # the migration that divides the log reads how finely
                conn.execute("INSERT INTO meta (key, value) VALUES ('shards', ?)", (str(shards),))
            MIGRATIONS[target](db)
            conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(target),))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def refuse_newer(version: int) -> None:
    """Raises SchemaError for a log written by a newer alo-actor than this one."""
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"event log schema version {version} is newer than this program "
            f"understands ({SCHEMA_VERSION}); upgrade alo-actor"
        )


def _use_wal(conn: sqlite3.Connection) -> None:
    # Two processes switching one new file to WAL at once can deadlock on its locks;
    # SQLite then fails one at once instead of waiting, so wait here.
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
        time.sleep(0.005)
