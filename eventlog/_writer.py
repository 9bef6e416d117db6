"""The SQLite writer thread: group-commits queued appends, acknowledges after COMMIT,
and watches the WAL file (see ``_faults``)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from eventlog._batches import (
    BatchWriter,
    add_bound,
    bound,
    detach,
)
from eventlog._faults import WalWatch, probe_statement, rollback, unwritable
from eventlog._multirow import execute_grouped, execute_groups, insert_events
from eventlog._types import Append, ConcurrencyError, Fenced, Groups, LogUnwritable, Statement

if TYPE_CHECKING:
    from eventlog._follow import Frontier

# A row is inserted only if it continues its stream without a gap: version 1, or the
# version before it is already stored. Together with UNIQUE(stream_id, version) this is
# the optimistic-concurrency check, and it holds across processes sharing the file.
# One row at a time, for a batch retried append by append; a batch as a whole goes in
# with ``insert_events``, the same check over many rows per statement.
_INSERT = """
INSERT INTO events (stream_id, version, type, data, recorded_at)
SELECT ?1, ?2, ?3, ?4, ?5
WHERE ?2 = 1 OR EXISTS (SELECT 1 FROM events WHERE stream_id = ?1 AND version = ?2 - 1)
"""

_DELETE = "DELETE FROM events WHERE stream_id = ?"
_COUNT_DELETION = "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'deletions'"
_EPOCHS = "SELECT shard, epoch FROM leases"

# Errors of one append's extra statements (a constraint, a bad parameter): they fail
# that append alone. Others (disk full, I/O) fail the batch, as they would anyway.
_OWN_FAULT = (
    sqlite3.IntegrityError,
    sqlite3.ProgrammingError,
    sqlite3.InterfaceError,
    sqlite3.DataError,
)

_R = TypeVar("_R")


class Writer(BatchWriter[sqlite3.Connection]):
    """The SQLite writer: one transaction (BEGIN IMMEDIATE) per batch; a batch with a
    conflicting append is retried append by append, so one conflict fails only its
    own append. Before and after each transaction, and every second while idle, it
    checks that the WAL file is still the one it opened (``WalWatch``)."""

    # While idle, the writer looks at its WAL file this often: a WAL deleted while nothing
    # is written is noticed (and what it held saved) before the process can be killed.
    idle_interval = 1.0

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        batch_size: int,
        linger: float,
        frontier: Frontier,
    ) -> None:
        super().__init__(batch_size=batch_size, linger=linger, frontier=frontier)
        self._conn = conn
        self._wal = WalWatch(conn)
        self._start()

    def _delete(
        self, conn: sqlite3.Connection, stream_ids: list[str], extra: Sequence[Statement]
    ) -> int:
        execute_grouped(conn, extra)
        streams = 0
        for stream_id in stream_ids:
            streams += conn.execute(_DELETE, (stream_id,)).rowcount > 0
        if streams:
            conn.execute(_COUNT_DELETION)
        return streams

    def _finish(self) -> None:
        self._conn.close()

    def _send_commit(self) -> None:
        self._conn.execute("COMMIT")

    def _check(self) -> None:
        self._wal.check()

    def _idle(self) -> None:
        try:
            self._wal.check()
        except LogUnwritable as exc:
            self.unwritable = exc

    def _fault(self, error: Exception) -> LogUnwritable | None:
        return unwritable(error)

    def _probe(self, conn: sqlite3.Connection) -> None:
        conn.execute(*probe_statement())

    def _store(self, batch: list[Append]) -> None:
        try:
            self._commit_together(batch)
        except _Conflict:
            self._commit_one_by_one(batch)

    def _rows(self, append: Append, now: float) -> list[tuple[str, int, str, bytes, float]]:
        base = append.expected_version
        return [
            (append.stream_id, base + i, event.type, event.data, now)
            for i, event in enumerate(append.events, start=1)
        ]

    def _commit_together(self, batch: list[Append]) -> None:
        conn = self._conn
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Inside the transaction: no claim can move an epoch until it ends.
            stored = _unfenced(conn, batch)
            # Each row ends with its place in the batch, which orders the insert. The
            # rows go flat into one list: no tuple per row for the collector to count.
            flat: list[object] = []
            row = flat.extend
            place = 0
            for append in stored:
                stream_id, version = append.stream_id, append.expected_version
                for event in append.events:
                    version += 1
                    row((stream_id, version, event.type, event.data, now, place))
                    place += 1
            if insert_events(conn, flat) != place:
                raise _Conflict
            last = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
            position = first = last - place
            groups: Groups = {}
            for append in stored:
                n = len(append.events)
                append.positions = range(position + 1, position + n + 1)
                if append.extra:
                    add_bound(groups, append.extra, position + 1 if n else None)
                position += n
            if groups:
                try:
                    execute_groups(conn, groups)
                except _OWN_FAULT as exc:
                    raise _Conflict from exc  # find the append it belongs to, one by one
            self._commit_positions(first + 1, last, self._send_commit)
        except BaseException as exc:
            rollback(conn)
            for append in batch:
                append.positions = ()
                append.error = None
            if isinstance(exc, sqlite3.IntegrityError):
                raise _Conflict from exc
            raise

    def _commit_one_by_one(self, batch: list[Append]) -> None:
        conn = self._conn
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        try:
            stored: list[int] = []
            for append in _unfenced(conn, batch):
                conn.execute("SAVEPOINT one")
                rows = self._rows(append, now)
                positions: list[int] = []
                conflict = False
                for row in rows:
                    try:
                        cursor = conn.execute(_INSERT, row)
                    except sqlite3.IntegrityError:
                        conflict = True
                        break
                    if cursor.rowcount != 1:
                        conflict = True
                        break
                    positions.append(cursor.lastrowid or 0)
                if conflict:
                    conn.execute("ROLLBACK TO one")
                    append.error = ConcurrencyError(append.stream_id, append.expected_version)
                else:
                    try:
                        first = positions[0] if positions else None
                        for sql, params in bound(append.extra, first):
                            conn.execute(sql, params)
                    except _OWN_FAULT as exc:
                        conn.execute("ROLLBACK TO one")
                        append.error = detach(exc)
                    else:
                        append.positions = positions
                        stored.extend(positions)
                conn.execute("RELEASE one")
            # Rows of one transaction take consecutive positions (one writer at a time),
            # a row rolled back to its savepoint gives its position back.
            self._commit_positions(
                min(stored, default=1), max(stored, default=0), self._send_commit
            )
        except BaseException:
            rollback(conn)
            for append in batch:
                append.positions = ()
                append.error = None
            raise

    def _transact(self, work: Callable[[sqlite3.Connection], _R]) -> _R:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = work(conn)
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)
            raise
        return result


class _Conflict(Exception):
    pass


def _unfenced(conn: sqlite3.Connection, batch: list[Append]) -> list[Append]:
    """The appends of ``batch`` that may be stored: every one without a fence, and those
    whose shard's lease is still at their epoch. The rest fail with ``Fenced``."""
    if all(append.fence is None for append in batch):
        return batch
    epochs = dict(conn.execute(_EPOCHS).fetchall())
    stored = []
    for append in batch:
        fence = append.fence
        if fence is not None and epochs.get(fence[0]) != fence[1]:
            append.error = Fenced(*fence)
        else:
            stored.append(append)
    return stored
