"""The log's PostgreSQL schema: created in the connection's current schema, checked on open.

The tables are those of the SQLite log (schema version 2), with one more: ``head``, a
single row holding the last position given and the deletions seen. Every write
transaction updates it first, so writers take turns on that row: positions are given
in commit order, a batch's positions are contiguous, and a reader that sees the head
at ``h`` sees every event up to ``h`` (the commit before it was visible before the
next writer could take the row).
"""

from __future__ import annotations

from typing import Any

import psycopg

from eventlog._schema import FORMAT, SCHEMA_VERSION, refuse_newer, version_in_meta
from eventlog._types import SchemaError

TABLES = ("meta", "events", "head", "leases", "members")

_CREATE = (
    "CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL)",
    """
    CREATE TABLE events (
        position bigint PRIMARY KEY,
        stream_id text NOT NULL,
        version bigint NOT NULL,
        type text NOT NULL,
        data bytea NOT NULL,
        recorded_at double precision NOT NULL
    )
    """,
    "CREATE UNIQUE INDEX events_stream ON events (stream_id, version)",
    """
    CREATE TABLE head (
        one smallint PRIMARY KEY DEFAULT 1 CHECK (one = 1),
        position bigint NOT NULL,
        deletions bigint NOT NULL
    )
    """,
    "INSERT INTO head (position, deletions) VALUES (0, 0)",
    """
    CREATE TABLE leases (
        shard integer PRIMARY KEY,
        owner text,
        epoch bigint NOT NULL,
        expires_at double precision NOT NULL
    )
    """,
    """
    CREATE TABLE members (
        member text PRIMARY KEY,
        info text NOT NULL,
        expires_at double precision NOT NULL
    )
    """,
)
# Taken by whoever creates a log, so that two processes opening a new database at
# once do not both create it (a transaction-level advisory lock: released at COMMIT).
_CREATE_LOCK = 0x616C6F  # "alo"


def read_schema_version(conn: psycopg.Connection[Any]) -> int | None:
    """The schema version of the log in the connection's current schema, ``None`` when
    that schema holds none of its tables.

    Raises ``SchemaError`` for a schema that holds some of them but not a log.
    """
    found = _tables(conn)
    if not found:
        return None
    if "meta" not in found or "events" not in found:
        raise SchemaError(
            "not an event log: the schema holds tables named like the log's "
            f"({', '.join(sorted(found))}) but no log"
        )
    return version_in_meta(dict(conn.execute("SELECT key, value FROM meta").fetchall()))


def _tables(conn: psycopg.Connection[Any]) -> set[str]:
    schema = current_schema(conn)
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = %s AND table_name = ANY(%s)",
        (schema, list(TABLES)),
    ).fetchall()
    return {row[0] for row in rows}


def current_schema(conn: psycopg.Connection[Any]) -> str:
    """The schema the log lives in (the first of the search path that exists)."""
    schema = conn.execute("SELECT current_schema()").fetchone()
    if schema is None or schema[0] is None:
        raise SchemaError("no schema to keep the log in: none of the search path's schemas exists")
    return str(schema[0])


def ensure_schema(conn: psycopg.Connection[Any], shards: int) -> None:
    """Create the log in an empty schema, or check the one there; refuse a newer one.

    A schema that is refused is left exactly as it was. ``conn`` is in autocommit.
    """
    encoding = conn.execute("SHOW server_encoding").fetchone()
    if encoding is None or encoding[0] != "UTF8":
        raise SchemaError(
            f"the database's encoding is {encoding and encoding[0]!r}: the log needs UTF8 "
            "(CREATE DATABASE … ENCODING 'UTF8')"
        )
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_CREATE_LOCK,))
        version = read_schema_version(conn)
        if version is None:
            for sql in _CREATE:
                conn.execute(sql)
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('format', %s), "
                "('schema_version', %s), ('shards', %s)",
                (FORMAT, str(SCHEMA_VERSION), str(shards)),
            )
            conn.execute(
                "INSERT INTO leases (shard, owner, epoch, expires_at) "
                "SELECT shard, NULL, 0, 0 FROM generate_series(0, %s - 1) AS shard",
                (shards,),
            )
            return
        refuse_newer(version)
        if version < SCHEMA_VERSION:  # PostgreSQL logs began at version 2
            raise SchemaError(f"event log schema version {version} is not one PostgreSQL has")
