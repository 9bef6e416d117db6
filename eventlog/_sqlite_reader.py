"""The SQLite LogReader: a read-only view of a log file, for tools that must never write."""

from __future__ import annotations

import contextlib
import logging
import marshal
import os
import pathlib
import sqlite3
import subprocess
import sys
from collections.abc import Collection, Generator, Iterator, Sequence
from typing import Any, ClassVar, Literal

from eventlog import _ahead
from eventlog._ahead import HEADER, NEXT_POSITION, chunk_ranges
from eventlog._connect import BUSY_TIMEOUT_MS
from eventlog._log import STREAMS_PER_READ
from eventlog._reader import COLUMN_NAMES, CorruptLog, LogReader
from eventlog._schema import MIN_READABLE_VERSION, refuse_newer
from eventlog._sqlite import HEAD_SQL, inspect_sqlite
from eventlog._types import COLUMNS, Head, RecordedEvent, SchemaError

_make = RecordedEvent._make
_logger = logging.getLogger(__name__)
# A scan this long or longer reads ahead in a helper process by default: below it,
# starting the helper (~20 ms) costs more than it saves.
AHEAD_MIN_ROWS = 100_000
# Rows per chunk read ahead: a chunk the caller is still working through stays in
# the CPU's cache (larger chunks measured slower).
AHEAD_CHUNK = 1000
# The helper's pipe: Linux's default ceiling for an unprivileged process.
_PIPE_SIZE = 1 << 20


def _spare_core() -> bool:
    """Whether this process may run on more than one core."""
    try:
        return len(os.sched_getaffinity(0)) > 1
    except AttributeError:  # not on Linux
        return (os.cpu_count() or 1) > 1


class SqliteLogReader(LogReader):
    """Reads a log file without ever writing to it, migrating it or creating it.

    The file is checked first (``inspect_schema``): a missing file, a file that is
    not an event log, or one of another schema version raises ``SchemaError``.
    Every read runs on a ``mode=ro`` connection in autocommit, so each query sees
    what was committed when it began, including events other processes append
    while the reader is open. SQLite errors during reads (a truncated or damaged
    file) raise ``CorruptLog``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Open the log at ``path`` read-only (raises SchemaError or CorruptLog)."""
        self.path = os.fspath(path)
        self.location = self.path
        try:
            version = inspect_sqlite(self.path)
        except SchemaError as exc:
            cause = exc.__cause__
            if (
                isinstance(cause, sqlite3.Error)
                and cause.sqlite_errorcode == sqlite3.SQLITE_CORRUPT
            ):
                # A damaged log, not a foreign file: say so.
                raise CorruptLog(f"cannot read {self.path}: {cause}") from exc
            raise
        except sqlite3.Error as exc:
            raise CorruptLog(f"cannot read {self.path}: {exc}") from exc
        refuse_newer(version)
        if version < MIN_READABLE_VERSION:
            # Reading an old schema would need a migration, and a reader never writes.
            raise SchemaError(
                f"event log schema version {version} is older than {MIN_READABLE_VERSION}; "
                "open it once with the engine to migrate it"
            )
        # A URI built by pathlib escapes '?', '#' and '%' in the path, which
        # f"file:{path}" would misread as URI syntax.
        self._uri = pathlib.Path(self.path).absolute().as_uri() + "?mode=ro"
        try:
            self._conn = sqlite3.connect(
                self._uri, uri=True, isolation_level=None, check_same_thread=False
            )
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        except sqlite3.Error as exc:
            raise CorruptLog(f"cannot read {self.path}: {exc}") from exc

    dialect: ClassVar[Literal["sqlite"]] = "sqlite"

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read-only statement (SQLite's ``?`` parameters)."""
        return self._query(sql, tuple(params))

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise CorruptLog(f"cannot read {self.path}: {exc}") from exc

    def read_columns(
        self,
        columns: Sequence[str],
        from_position: int = 0,
        *,
        until_position: int | None = None,
        chunk: int = 10_000,
        ahead: bool | None = None,
    ) -> Generator[Iterator[tuple[Any, ...]], None, None]:
        """Rows ``(position, *columns)`` with ``from_position < position <= until_position``
        (by default, the last position when called), in order, a row iterator per chunk.

        For loops over millions of events: only the columns asked for, and rows
        streamed from SQLite one at a time. A list of a chunk's rows would cost a
        quarter more, mostly in the garbage collector, which tracks every row
        tuple that lives long enough to be promoted. Each chunk is its own query,
        so no read transaction outlives a chunk to hold back the writer's
        checkpoints. Memory is bounded by what one row holds.

        ``ahead`` reads in a helper process (``eventlog._ahead``), so that SQLite
        steps the rows on another core while the caller works on the chunk before;
        the rows are the same, in chunks of at most ``AHEAD_CHUNK`` rows and about a
        MiB (memory is bounded by that). ``None`` (the default) reads ahead for a
        scan of at least ``AHEAD_MIN_ROWS`` positions on a machine with more than
        one core. Should the helper stop early (killed, say), the rest is read here.

        Raises ValueError for an unknown column, CorruptLog if the file cannot be
        read (here or in the helper).
        """
        unknown = set(columns) - COLUMN_NAMES
        if unknown:
            raise ValueError(f"no such column: {', '.join(sorted(unknown))}")
        sql = (
            f"SELECT {', '.join(('position', *columns))} FROM events "
            "WHERE position > ? AND position <= ? ORDER BY position"
        )
        until = self.last_position() if until_position is None else until_position
        if ahead is None:
            ahead = until - from_position >= AHEAD_MIN_ROWS and _spare_core()
        helper = (
            self._start_helper(sql, from_position, until, min(chunk, AHEAD_CHUNK))
            if ahead
            else None
        )
        if helper is not None:
            stopped_after = yield from self._rows_ahead(helper, from_position)
            if stopped_after is None:
                return
            # The helper stopped, not for the log's sake (that is a CorruptLog): go
            # on from the last chunk it sent, in this process.
            from_position = stopped_after

        def next_position(position: int) -> int | None:
            found: int | None = self._query(NEXT_POSITION, (position,))[0][0]
            return found

        for after, last in chunk_ranges(next_position, from_position, until, chunk):
            yield self._rows(sql, (after, last))

    def _rows(self, sql: str, params: tuple[object, ...]) -> Iterator[tuple[Any, ...]]:
        try:
            # Not ``yield from``: that would close the cursor when the consumer drops
            # this generator, which fails once the connection is closed.
            for row in self._conn.execute(sql, params):  # noqa: UP028
                yield row
        except sqlite3.Error as exc:
            raise CorruptLog(f"cannot read {self.path}: {exc}") from exc

    def _start_helper(
        self, sql: str, first: int, until: int, chunk: int
    ) -> subprocess.Popen[bytes] | None:
        """An ``eventlog._ahead`` process reading ``sql``'s chunks, or ``None`` if none
        can start here (no interpreter to run, or no process allowed): the caller
        then reads in this process, as it would without a helper."""
        args = (self._uri, sql, first, until, chunk, BUSY_TIMEOUT_MS)
        try:
            helper = subprocess.Popen(
                [sys.executable, "-I", "-S", _ahead.__file__, *map(str, args)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            _logger.debug("reading %s without a helper: %s", self.path, exc)
            return None
        assert helper.stdout is not None
        with contextlib.suppress(ImportError, AttributeError, OSError):  # Linux only
            import fcntl

            # A pipe that holds whole chunks, so neither side waits on the other for
            # each 64 KiB.
            fcntl.fcntl(helper.stdout.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
        return helper

    def _rows_ahead(
        self, helper: subprocess.Popen[bytes], first: int
    ) -> Generator[Iterator[tuple[Any, ...]], None, int | None]:
        """``read_columns``'s chunks after ``first``, as ``helper`` sends them; returns
        ``None`` once they are all sent, or the last position sent (``first`` if none)
        if the helper stopped early (killed, or unable to run here). An SQLite error it reports is a
        ``CorruptLog``, as it would be in this process."""
        assert helper.stdout is not None and helper.stderr is not None
        read = helper.stdout.read
        loads = marshal.loads
        sent = first
        try:
            while True:
                head = read(HEADER)
                payload = read(int.from_bytes(head, "little")) if len(head) == HEADER else b""
                try:
                    columns = loads(payload)
                except (EOFError, ValueError, TypeError):
                    break  # cut short, or not a helper's frame at all
                if columns is None:
                    return None  # the end
                if type(columns) is str:
                    raise CorruptLog(f"cannot read {self.path}: {columns}")
                if type(columns) is not tuple:
                    break
                if columns:
                    sent = columns[0][-1]
                yield zip(*columns, strict=True)
            helper.kill()
            problem = helper.stderr.read().decode(errors="replace").strip()
            _logger.warning(
                "the read-ahead helper for %s stopped (exit status %s)%s; reading on here",
                self.path,
                helper.wait(),
                f": {problem}" if problem else "",
            )
            return sent
        finally:
            if helper.poll() is None:
                helper.kill()
            helper.wait()
            helper.stdout.close()
            helper.stderr.close()

    def read_chunks(
        self,
        from_position: int = 0,
        *,
        until_position: int | None = None,
        chunk: int = 10_000,
    ) -> Iterator[list[RecordedEvent]]:
        until = -1 if until_position is None else until_position
        position = from_position
        while True:
            rows = self._query(
                f"SELECT {COLUMNS} FROM events WHERE position > ?1 "
                "AND (?2 < 0 OR position <= ?2) ORDER BY position LIMIT ?3",
                (position, until, chunk),
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
        until = -1 if until_position is None else until_position
        rows = self._query(
            f"SELECT {COLUMNS} FROM events WHERE stream_id = ?1 AND version >= ?2 "
            "AND (?3 < 0 OR position <= ?3) ORDER BY position",
            (stream_id, from_version, until),
        )
        return list(map(_make, rows))

    def read_last(self, count: int) -> list[RecordedEvent]:
        rows = self._query(f"SELECT {COLUMNS} FROM events ORDER BY position DESC LIMIT ?", (count,))
        return list(map(_make, reversed(rows)))

    def read_event(self, position: int) -> RecordedEvent | None:
        rows = self._query(f"SELECT {COLUMNS} FROM events WHERE position = ?", (position,))
        return _make(rows[0]) if rows else None

    def first_position(self) -> int:
        return int(self._query("SELECT MIN(position) FROM events")[0][0] or 0)

    def last_position(self) -> int:
        return int(self._query("SELECT MAX(position) FROM events")[0][0] or 0)

    def head(self) -> Head:
        position, deletions = self._query(HEAD_SQL)[0]
        return Head(int(position or 0), int(deletions or 0))

    def event_count(self, *, until_position: int | None = None) -> int:
        if until_position is None:
            # Without a WHERE, SQLite counts from the smallest index instead of the table.
            return int(self._query("SELECT COUNT(*) FROM events")[0][0])
        rows = self._query("SELECT COUNT(*) FROM events WHERE position <= ?", (until_position,))
        return int(rows[0][0])

    def has_stream(self, stream_id: str, *, until_position: int | None = None) -> bool:
        until = -1 if until_position is None else until_position
        rows = self._query(
            "SELECT 1 FROM events WHERE stream_id = ?1 AND (?2 < 0 OR position <= ?2) LIMIT 1",
            (stream_id, until),
        )
        return bool(rows)

    def last_positions(
        self, stream_ids: Collection[str], *, until_position: int | None = None
    ) -> dict[str, int]:
        until = -1 if until_position is None else until_position
        ids = list(stream_ids)
        found: dict[str, int] = {}
        for start in range(0, len(ids), STREAMS_PER_READ):
            batch = ids[start : start + STREAMS_PER_READ]
            rows = self._query(
                f"SELECT stream_id, MAX(position) FROM events WHERE stream_id IN "
                f"({','.join('?' * len(batch))}) AND (?{len(batch) + 1} < 0 "
                f"OR position <= ?{len(batch) + 1}) GROUP BY stream_id",
                (*batch, until),
            )
            found.update(rows)
        return found

    def duplicate_versions(self) -> list[RecordedEvent]:
        """Every event whose (stream, version) an earlier event already holds.

        Always empty for a log written by ``EventLog``, whose unique index forbids
        it; only a file edited by other means can hold duplicates. Raises CorruptLog.
        """
        unique = self._query("SELECT name FROM pragma_index_list('events') WHERE \"unique\" = 1")
        for (name,) in unique:
            columns = [
                r[0]
                for r in self._query(
                    "SELECT name FROM pragma_index_info(?) ORDER BY seqno", (name,)
                )
            ]
            if columns == ["stream_id", "version"]:
                # SQLite enforces it, so the scan below could only find nothing.
                return []
        rows = self._query(
            f"SELECT {COLUMNS} FROM events AS e WHERE EXISTS (SELECT 1 FROM events AS f "
            "WHERE f.stream_id = e.stream_id AND f.version = e.version "
            "AND f.position < e.position) ORDER BY position"
        )
        return list(map(_make, rows))

    def close(self) -> None:
        self._conn.close()
