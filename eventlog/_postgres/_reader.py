"""The PostgreSQL LogReader: a log read on a read-only connection, never written."""

from __future__ import annotations

import os
from collections.abc import Collection, Generator, Iterator, Sequence
from typing import Any, ClassVar, Literal

import psycopg

from eventlog._location import shown
from eventlog._log import STREAMS_PER_READ
from eventlog._postgres._connect import READER_SETTINGS, connect
from eventlog._postgres._log import inspect_postgres
from eventlog._reader import COLUMN_NAMES, LogReader
from eventlog._schema import refuse_newer
from eventlog._types import COLUMNS, Head, RecordedEvent, Unreachable

_make = RecordedEvent._make


class PostgresLogReader(LogReader):
    """Reads a log in a PostgreSQL database on a connection whose every transaction is
    read-only (``default_transaction_read_only``): a statement that would write fails,
    so no tool can change a log it reads. Each read is a transaction of its own, and
    sees what was committed when it began. A connection lost raises ``Unreachable``.
    """

    dialect: ClassVar[Literal["postgresql"]] = "postgresql"

    def __init__(self, location: str | os.PathLike[str]) -> None:
        self.path = os.fspath(location)
        self.location = shown(self.path)
        version = inspect_postgres(self.path)
        refuse_newer(version)
        self._conn = connect(self.path, read_only=True, settings=READER_SETTINGS)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read-only statement (psycopg's ``%s`` parameters)."""
        try:
            return self._conn.execute(sql, params).fetchall()
        except psycopg.OperationalError as exc:
            raise Unreachable(f"lost the connection to {self.location}: {exc}") from exc

    def read_columns(
        self,
        columns: Sequence[str],
        from_position: int = 0,
        *,
        until_position: int | None = None,
        chunk: int = 10_000,
        ahead: bool | None = None,
    ) -> Generator[Iterator[tuple[Any, ...]], None, None]:
        unknown = set(columns) - COLUMN_NAMES
        if unknown:
            raise ValueError(f"no such column: {', '.join(sorted(unknown))}")
        sql = (
            f"SELECT {', '.join(('position', *columns))} FROM events "
            "WHERE position > %s AND position <= %s ORDER BY position LIMIT %s"
        )
        until = self.last_position() if until_position is None else until_position
        position = from_position
        while position < until:
            rows = self.query(sql, (position, until, chunk))
            if not rows:
                return
            yield iter(rows)
            position = rows[-1][0]

    def read_chunks(
        self,
        from_position: int = 0,
        *,
        until_position: int | None = None,
        chunk: int = 10_000,
    ) -> Iterator[list[RecordedEvent]]:
        position = from_position
        while True:
            rows = self.query(
                f"SELECT {COLUMNS} FROM events WHERE position > %s "
                "AND (%s::bigint IS NULL OR position <= %s) ORDER BY position LIMIT %s",
                (position, until_position, until_position, chunk),
            )
            if not rows:
                return
            yield list(map(_make, rows))
            if len(rows) < chunk:
                return
            position = rows[-1][0]

    def read_stream(
        self, stream_id: str, from_version: int = 1, *, until_position: int | None = None
    ) -> list[RecordedEvent]:
        rows = self.query(
            f"SELECT {COLUMNS} FROM events WHERE stream_id = %s AND version >= %s "
            "AND (%s::bigint IS NULL OR position <= %s) ORDER BY position",
            (stream_id, from_version, until_position, until_position),
        )
        return list(map(_make, rows))

    def read_last(self, count: int) -> list[RecordedEvent]:
        rows = self.query(f"SELECT {COLUMNS} FROM events ORDER BY position DESC LIMIT %s", (count,))
        return list(map(_make, reversed(rows)))

    def read_event(self, position: int) -> RecordedEvent | None:
        rows = self.query(f"SELECT {COLUMNS} FROM events WHERE position = %s", (position,))
        return _make(rows[0]) if rows else None

    def first_position(self) -> int:
        return int(self.query("SELECT min(position) FROM events")[0][0] or 0)

    def last_position(self) -> int:
        return int(self.query("SELECT max(position) FROM events")[0][0] or 0)

    def head(self) -> Head:
        position, deletions = self.query("SELECT position, deletions FROM head")[0]
        return Head(int(position), int(deletions))

    def event_count(self, *, until_position: int | None = None) -> int:
        rows = self.query(
            "SELECT count(*) FROM events WHERE %s::bigint IS NULL OR position <= %s",
            (until_position, until_position),
        )
        return int(rows[0][0])

    def has_stream(self, stream_id: str, *, until_position: int | None = None) -> bool:
        rows = self.query(
            "SELECT 1 FROM events WHERE stream_id = %s "
            "AND (%s::bigint IS NULL OR position <= %s) LIMIT 1",
            (stream_id, until_position, until_position),
        )
        return bool(rows)

    def last_positions(
        self, stream_ids: Collection[str], *, until_position: int | None = None
    ) -> dict[str, int]:
        ids = list(stream_ids)
        found: dict[str, int] = {}
        for start in range(0, len(ids), STREAMS_PER_READ):
            rows = self.query(
                "SELECT stream_id, max(position) FROM events WHERE stream_id = ANY(%s) "
                "AND (%s::bigint IS NULL OR position <= %s) GROUP BY stream_id",
                (ids[start : start + STREAMS_PER_READ], until_position, until_position),
            )
            found.update(rows)
        return found

    def duplicate_versions(self) -> list[RecordedEvent]:
        unique = self.query(
            "SELECT 1 FROM pg_index i JOIN pg_attribute a1 ON a1.attrelid = i.indrelid "
            "AND a1.attnum = i.indkey[0] JOIN pg_attribute a2 ON a2.attrelid = i.indrelid "
            "AND a2.attnum = i.indkey[1] WHERE i.indrelid = to_regclass('events') "
            "AND i.indisunique AND i.indnatts = 2 AND i.indpred IS NULL "
            "AND a1.attname = 'stream_id' AND a2.attname = 'version'"
        )
        if unique:
            return []  # PostgreSQL enforces it, so the scan below could only find nothing
        rows = self.query(
            f"SELECT {COLUMNS} FROM events AS e WHERE EXISTS (SELECT 1 FROM events AS f "
            "WHERE f.stream_id = e.stream_id AND f.version = e.version "
            "AND f.position < e.position) ORDER BY position"
        )
        return list(map(_make, rows))

    def close(self) -> None:
        self._conn.close()
