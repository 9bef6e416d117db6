"""The PostgreSQL writer: one transaction per batch, its statements pipelined.

A batch is two round trips. The first takes the head row (``FOR UPDATE``: writers of
every process take turns on it), reads the current version of every stream the batch
appends to, and the epochs of the leases it is fenced with (``FOR SHARE``: a claim of
one of them waits until this transaction ends, and one made before it is seen). With
the head held no other writer can append, so the per-stream check is decided here,
append by append, and a conflict fails only its own append. The second round trip
inserts the events (one statement, the rows as arrays), runs the extra statements,
moves the head, NOTIFYs the followers and COMMITs.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
from psycopg.pq import TransactionStatus

from eventlog._batches import (
    BatchWriter,
    add_bound,
    bound,
    check,
    detach,
)
from eventlog._multirow import grouped
from eventlog._postgres._faults import PROBE, unwritable
from eventlog._types import Append, ConcurrencyError, Fenced, Groups, LogUnwritable, Statement

if TYPE_CHECKING:
    from eventlog._follow import Frontier

Connection = psycopg.Connection[Any]
_T = TypeVar("_T")

_LOCK_HEAD = "SELECT position FROM head FOR UPDATE"
# Each stream's newest version: one backward index probe per stream.
_VERSIONS = (
    "SELECT s.id, (SELECT max(version) FROM events WHERE stream_id = s.id) "
    "FROM unnest(%b::text[]) AS s(id)"
)
# In shard order, as every claim and renewal takes them: no two lockers wait in a ring.
_FENCES = (
    "SELECT shard, epoch FROM leases WHERE shard = ANY(%b::integer[]) ORDER BY shard FOR SHARE"
)
_INSERT = (
    "INSERT INTO events (position, stream_id, version, type, data, recorded_at) "
    "SELECT * FROM unnest(%b::bigint[], %b::text[], %b::bigint[], %b::text[], %b::bytea[], "
    "%b::double precision[])"
)
_MOVE_HEAD = "UPDATE head SET position = %b"
_DELETE = (
    "WITH gone AS (DELETE FROM events WHERE stream_id = ANY(%b::text[]) RETURNING stream_id) "
    "SELECT count(DISTINCT stream_id) FROM gone"
)
_COUNT_DELETION = "UPDATE head SET deletions = deletions + 1"

# Errors of one append's extra statements (a constraint, a bad parameter, a statement
# that does not parse): they fail that append alone. Others (the connection, the
# server) fail the batch.
_OWN_FAULT = (psycopg.IntegrityError, psycopg.DataError, psycopg.ProgrammingError)

_log = logging.getLogger("eventlog")


class PostgresWriter(BatchWriter[Connection]):
    """Owns the log's write connection in this process (see the module docstring).

    A connection lost between batches is opened again for the next one; the batch
    it was lost in fails whole (its outcome is then unknown to this process, and
    the follower reads whatever of it was committed as another process's events).
    """

    def __init__(
        self,
        conn: Connection,
        *,
        reconnect: Callable[[], Connection],
        notify: str,
        batch_size: int,
        linger: float,
        frontier: Frontier,
    ) -> None:
        super().__init__(batch_size=batch_size, linger=linger, frontier=frontier)
        self._conn = conn
        self._reconnect = reconnect
        self._notify = notify
        self._start()

    @property
    def backend_pid(self) -> int:
        """The server process of the write connection (its NOTIFYs carry it)."""
        return self._conn.info.backend_pid

    def submit(self, append: Append) -> None:
        check(append)
        _check_text(append)
        self._put(append)

    def _delete(self, conn: Connection, stream_ids: list[str], extra: Sequence[Statement]) -> int:
        # The head first: ordered with every process's appends, and counted there.
        conn.execute(_LOCK_HEAD)
        _execute_groups(conn, grouped(extra))
        row = conn.execute(_DELETE, (stream_ids,)).fetchone()
        streams = int(row[0]) if row else 0
        if streams:
            conn.execute(_COUNT_DELETION)
            conn.execute(self._notify)
        return streams

    def _finish(self) -> None:
        self._conn.close()

    def _connection(self) -> Connection:
        if self._conn.closed or self._conn.broken:
            self._conn.close()
            self._conn = self._reconnect()
        return self._conn

    def _begin(self, start: Callable[[Connection], _T]) -> tuple[Connection, _T]:
        """``start(conn)``, the first round trip of a transaction, on the write
        connection; once more on a new connection if the old one turns out dead (the
        server restarted, or ended the session while it was idle). Nothing of a
        transaction that never reached COMMIT stays, so trying again is safe."""
        conn = self._connection()
        try:
            return conn, start(conn)
        except psycopg.OperationalError:
            if not conn.broken:
                raise
            _log.warning("the event log's write connection was lost; connecting again")
        conn = self._connection()
        return conn, start(conn)

    def _fault(self, error: Exception) -> LogUnwritable | None:
        return unwritable(error)

    def _probe(self, conn: Connection) -> None:
        conn.execute(PROBE, (time.time(),))

    # -- a batch ---------------------------------------------------------------------

    def _store(self, batch: list[Append]) -> None:
        try:
            self._commit_together(batch)
        except _OwnFault:
            self._commit_one_by_one(batch)

    def _decide(
        self, conn: Connection, batch: list[Append]
    ) -> tuple[int, list[tuple[Append, int]]]:
        """In a new transaction: take the head, then decide which appends are stored.

        Returns the head's position and the appends to store with the version each
        starts after; the others get their error (``ConcurrencyError``, ``Fenced``).
        Pipelined: one round trip.
        """
        streams = list({append.stream_id for append in batch if append.events})
        shards = sorted({append.fence[0] for append in batch if append.fence is not None})
        with conn.pipeline():
            conn.execute("BEGIN")
            head_cursor = conn.execute(_LOCK_HEAD)
            versions_cursor = conn.execute(_VERSIONS, (streams,)) if streams else None
            fences_cursor = conn.execute(_FENCES, (shards,)) if shards else None
        row = head_cursor.fetchone()
        assert row is not None, "the log's head row is missing"
        versions = dict(versions_cursor.fetchall()) if versions_cursor is not None else {}
        epochs = dict(fences_cursor.fetchall()) if fences_cursor is not None else {}
        stored: list[tuple[Append, int]] = []
        for append in batch:
            append.positions = ()
            append.error = None
            fence = append.fence
            if fence is not None and epochs.get(fence[0]) != fence[1]:
                append.error = Fenced(*fence)
                continue
            if not append.events:
                stored.append((append, append.expected_version))
                continue
            current = versions.get(append.stream_id) or 0
            if append.expected_version != current:
                append.error = ConcurrencyError(append.stream_id, append.expected_version)
                continue
            versions[append.stream_id] = current + len(append.events)
            stored.append((append, current))
        return int(row[0]), stored

    def _commit_together(self, batch: list[Append]) -> None:
        conn = self._conn
        frontier = self._frontier
        try:
            conn, (head, stored) = self._begin(lambda c: self._decide(c, batch))
            now = time.time()
            columns: tuple[list[Any], ...] = ([], [], [], [], [], [])
            positions, ids, versions, types, datas, times = columns
            position = head
            groups: Groups = {}
            for append, after in stored:
                n = len(append.events)
                version = after
                if append.extra:
                    add_bound(groups, append.extra, position + 1 if n else None)
                append.positions = range(position + 1, position + n + 1)
                for event in append.events:
                    position += 1
                    version += 1
                    positions.append(position)
                    ids.append(append.stream_id)
                    versions.append(version)
                    types.append(event.type)
                    datas.append(event.data)
                    times.append(now)
            # Announced before COMMIT is sent: a reader may see the head move before
            # the writer hears that the COMMIT succeeded.
            if positions:
                frontier.committing(head + 1, position)
            try:
                with conn.pipeline():
                    if positions:
                        conn.execute(_INSERT, columns)
                    _execute_groups(conn, groups)
                    if positions:
                        conn.execute(_MOVE_HEAD, (position,))
                        conn.execute(self._notify)
                    conn.execute("COMMIT")
            except BaseException as exc:
                if positions:
                    frontier.committed(False)
                if isinstance(exc, _OWN_FAULT):
                    raise _OwnFault from exc  # find the append it belongs to, one by one
                raise
            if positions:
                frontier.committed(True)
        except BaseException:
            _rollback(conn)
            _forget(batch)
            raise

    def _commit_one_by_one(self, batch: list[Append]) -> None:
        """The batch again, each append's statements behind a savepoint of its own: an
        extra statement that fails fails its own append only."""
        conn = self._conn
        try:
            conn, (head, stored) = self._begin(lambda c: self._decide(c, batch))
            now = time.time()
            position = head
            for append, version in stored:
                n = len(append.events)
                rows = [
                    (position + i, append.stream_id, version + i, event.type, event.data, now)
                    for i, event in enumerate(append.events, start=1)
                ]
                conn.execute("SAVEPOINT one")
                try:
                    if rows:
                        conn.execute(_INSERT, [list(column) for column in zip(*rows, strict=True)])
                    for sql, params in bound(append.extra, position + 1 if n else None):
                        conn.execute(sql, params)
                except _OWN_FAULT as exc:
                    conn.execute("ROLLBACK TO SAVEPOINT one")
                    conn.execute("RELEASE SAVEPOINT one")
                    append.error = detach(exc)
                    continue
                conn.execute("RELEASE SAVEPOINT one")
                append.positions = range(position + 1, position + n + 1)
                position += n
            if position > head:
                conn.execute(_MOVE_HEAD, (position,))
                conn.execute(self._notify)
            self._commit_positions(head + 1, position, lambda: conn.execute("COMMIT"))
        except BaseException:
            _rollback(conn)
            _forget(batch)
            raise

    def _transact(self, work: Callable[[Connection], _T]) -> _T:
        conn, _ = self._begin(lambda c: c.execute("BEGIN"))
        try:
            result = work(conn)
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        return result


class _OwnFault(Exception):
    pass


def _forget(batch: list[Append]) -> None:
    """Clear what a transaction that was rolled back decided for each append."""
    for append in batch:
        append.positions = ()
        append.error = None


def _rollback(conn: Connection) -> None:
    """End the transaction, if the connection still has one (a ROLLBACK that fails
    would hide why the transaction failed)."""
    if conn.closed or conn.broken or conn.info.transaction_status == TransactionStatus.IDLE:
        return
    try:
        conn.execute("ROLLBACK")
    except psycopg.Error:
        _log.warning("the event log could not roll back a transaction", exc_info=True)


def _execute_groups(conn: Connection, groups: Groups) -> None:
    """Run statements grouped by SQL text (first appearance first), in order within a
    group, each group with one ``executemany`` (pipelined by psycopg; measured quicker
    than multi-row statements, which PostgreSQL must parse afresh for each size)."""
    for sql, rows in groups.items():
        if len(rows) == 1:
            conn.execute(sql, rows[0])
        else:
            with conn.cursor() as cursor:
                cursor.executemany(sql, rows)


def _check_text(append: Append) -> None:
    """Refuse, on the caller's thread, text PostgreSQL cannot store: a NUL character,
    or a lone surrogate (no UTF-8 for it). In the writer it would fail the batch."""
    for text in itertools.chain((append.stream_id,), (event.type for event in append.events)):
        if "\x00" in text:
            raise ValueError(f"append to {append.stream_id!r}: text holds a NUL character")
        if not text.isascii():
            try:
                text.encode()
            except UnicodeEncodeError:
                raise ValueError(
                    f"append to {append.stream_id!r}: text is not valid Unicode"
                ) from None
