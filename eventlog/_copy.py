"""Copying a log into an empty one, position for position, on either backend.

The events keep their positions (gaps left by deleted streams included), versions,
types, payloads and times; the head (the last position given, the deletions seen)
and the shard count come along, so the copy continues where the original stopped.
Leases and members do not: a copy starts with every lease free. It is one
transaction of the destination's, so a copy that fails leaves the destination as
empty as it was.
"""

from __future__ import annotations

from typing import Any

from eventlog._log import EventLog
from eventlog._reader import LogReader
from eventlog._types import COLUMNS, EventLogError, Head

_CHUNK = 5000


class NotEmpty(EventLogError):
    """The destination of a copy already holds a log with events (or had some)."""


def shard_count(reader: LogReader) -> int | None:
    """The shard count a log was made with, ``None`` for one older than shards."""
    rows = reader.query("SELECT value FROM meta WHERE key = 'shards'")
    return int(rows[0][0]) if rows else None


def copy_events(reader: LogReader, log: EventLog) -> int:
    """Copy every event ``reader`` reads into ``log``, which must be empty; how many.

    Raises ``NotEmpty`` (and writes nothing) when ``log`` has ever held an event.
    """
    head = reader.head()
    if log.head() != Head(0, 0) or log.last_position():
        raise NotEmpty("the destination is not empty: copy into a new log")

    def copy(conn: Any) -> int:
        if log.dialect == "postgresql":
            # Appends of any process wait, and must find the head moved after.
            conn.execute("SELECT position FROM head FOR UPDATE")
            if conn.execute("SELECT EXISTS (SELECT 1 FROM events)").fetchone()[0]:
                raise NotEmpty("the destination is not empty: copy into a new log")
        count = 0
        for chunk in reader.read_chunks(0, until_position=head.position, chunk=_CHUNK):
            if log.dialect == "postgresql":
                with (
                    conn.cursor() as cursor,
                    cursor.copy(f"COPY events ({COLUMNS}) FROM STDIN") as copying,
                ):
                    for event in chunk:
                        copying.write_row(event)
            else:
                conn.executemany(f"INSERT INTO events ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", chunk)
            count += len(chunk)
        _set_head(conn, log, head)
        return count

    return log.transaction(copy)


def _set_head(conn: Any, log: EventLog, head: Head) -> None:
    if log.dialect == "postgresql":
        conn.execute("UPDATE head SET position = %s, deletions = %s", head)
        return
    # AUTOINCREMENT's counter: the position the last event was given, deleted or not.
    if not conn.execute(
        "UPDATE sqlite_sequence SET seq = ? WHERE name = 'events'", (head.position,)
    ).rowcount:
        conn.execute(
            "INSERT INTO sqlite_sequence (name, seq) VALUES ('events', ?)", (head.position,)
        )
    conn.execute("UPDATE meta SET value = ? WHERE key = 'deletions'", (str(head.deletions),))
