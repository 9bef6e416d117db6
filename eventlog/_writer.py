"""The single writer thread: group-commits queued appends, acknowledges after COMMIT."""

from __future__ import annotations

import itertools
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeGuard, TypeVar

from eventlog._faults import WalWatch, probe_statement, rollback, unwritable
from eventlog._multirow import execute_grouped, insert_events
from eventlog._stats import CommitStats
from eventlog._types import (
    FIRST_POSITION,
    Append,
    ConcurrencyError,
    Fenced,
    LogClosed,
    LogUnwritable,
    NewEvent,
    Statement,
)

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

_STOP = object()
_log = logging.getLogger("eventlog")
# While idle, the writer looks at its WAL file this often: a WAL deleted while nothing
# is written is noticed (and what it held saved) before the process can be killed.
_IDLE_WAL_CHECK = 1.0


_R = TypeVar("_R")


class _Task(Generic[_R]):
    """Work on the write connection in a transaction of its own, queued like an append
    (a deletion, a lease's claim or renewal): ``work(conn)`` runs between BEGIN
    IMMEDIATE and COMMIT, after the appends queued before it and before those after."""

    __slots__ = ("done", "error", "result", "work")

    def __init__(self, work: Callable[[sqlite3.Connection], _R]) -> None:
        self.work = work
        self.done = threading.Event()
        self.result: _R | None = None
        self.error: Exception | None = None


class Writer:
    """Owns the log's only write connection in this process.

    A batch is whatever has queued when the writer comes round (up to ``batch_size``
    appends), plus what arrives during an optional ``linger``. One transaction per
    batch; a batch with a conflicting append is retried append by append, so one
    conflict fails only its own append.

    ``unwritable`` is the LogUnwritable the last write failed with (the disk full, the
    file read-only, ...), None once a write succeeds again; ``probe`` tries one.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        batch_size: int,
        linger: float,
        frontier: Frontier,
    ) -> None:
        self._conn = conn
        self._batch_size = batch_size
        self._linger = linger
        # Told the positions of every commit, so the log's follower knows them for this
        # process's own and reads only the others' events.
        self._frontier = frontier
        self._queue: queue.SimpleQueue[Append | object] = queue.SimpleQueue()
        self._wal = WalWatch(conn)
        self.unwritable: LogUnwritable | None = None
        self._closed = False
        self._lock = threading.Lock()
        self.stats = CommitStats()
        self._thread = threading.Thread(target=self._run, name="eventlog-writer", daemon=True)
        self._thread.start()

    def submit(self, append: Append) -> None:
        _check(append)
        self._put(append)

    def submit_many(self, appends: Sequence[Append]) -> None:
        """Queue appends built well-formed by their caller, unchecked, in order."""
        with self._lock:
            if self._closed:
                raise LogClosed("the event log is closed")
            put = self._queue.put
            for append in appends:
                put(append)

    def delete_streams(self, stream_ids: list[str], extra: Sequence[Statement]) -> int:
        """Delete the streams on the writer thread, in one transaction; see EventLog."""
        _check_statements(extra, "a deletion")

        def delete(conn: sqlite3.Connection) -> int:
            # First, while the events they may refer to are still there.
            execute_grouped(conn, extra)
            streams = 0
            for stream_id in stream_ids:
                streams += conn.execute(_DELETE, (stream_id,)).rowcount > 0
            if streams:
                conn.execute(_COUNT_DELETION)
            return streams

        streams = self.run(delete)
        if streams:
            self._frontier.deleted_here()
        return streams

    def run(self, work: Callable[[sqlite3.Connection], _R]) -> _R:
        """``work(conn)`` in a transaction of its own on the writer thread; its result.

        Raises what it raised (the transaction is then rolled back), or LogClosed.
        """
        task = _Task(work)
        self._put(task)
        task.done.wait()
        if task.error is not None:
            raise task.error
        return task.result  # type: ignore[return-value]

    def probe(self) -> LogUnwritable | None:
        """Commit a write that means nothing, to learn whether the log takes writes;
        returns why not (and sets ``unwritable``), or None."""
        try:
            self.delete_streams([], [probe_statement()])
        except LogUnwritable as exc:
            return exc
        except LogClosed:
            return LogUnwritable("the log is closed")
        return None

    def _put(self, item: object) -> None:
        with self._lock:
            if self._closed:
                raise LogClosed("the event log is closed")
            self._queue.put(item)

    def close(self) -> None:
        """Commit everything already submitted, then stop the thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join()

    def _run(self) -> None:
        held: object = None  # what ended the last drain: _STOP, a task, or nothing
        while held is not _STOP:
            if held is None:
                try:
                    item = self._queue.get(timeout=_IDLE_WAL_CHECK)
                except queue.Empty:
                    self._check_wal()
                    continue
            else:
                item = held
            held = None
            if item is _STOP:
                break
            if isinstance(item, _Task):
                self._run_task(item)
                continue
            batch: list[Append] = [item]  # type: ignore[list-item]
            held = self._drain(batch)
            if self._linger and held is None and len(batch) < self._batch_size:
                time.sleep(self._linger)
                held = self._drain(batch)
            self._commit(batch)
        self._conn.close()

    def _check_wal(self) -> None:
        try:
            self._wal.check()
        except LogUnwritable as exc:
            self.unwritable = exc

    def _drain(self, batch: list[Append]) -> object:
        """Add queued appends to ``batch``; return the item that is not one, if any.

        A task ends the batch, so that it runs after the appends queued before it and
        before those queued after it.
        """
        get = self._queue.get_nowait
        while len(batch) < self._batch_size:
            try:
                item = get()
            except queue.Empty:
                return None
            if item is _STOP or isinstance(item, _Task):
                return item
            batch.append(item)  # type: ignore[arg-type]
        return None

    def _commit(self, batch: list[Append]) -> None:
        began = time.perf_counter()
        try:
            self._wal.check()
            try:
                self._commit_together(batch)
            except _Conflict:
                self._commit_one_by_one(batch)
            # Again after COMMIT: a batch committed into a deleted WAL file is not durable.
            self._wal.check()
            self.stats.committed(len(batch), time.perf_counter() - began)
        except Exception as exc:  # the disk, not a caller: the whole batch fails
            self.stats.failed()
            error = self._failed(exc)
            for append in batch:
                append.positions = ()
                append.error = error
        else:
            self.unwritable = None
        self._acknowledge(batch)

    def _failed(self, exc: Exception) -> Exception:
        """The error to report for a failed write: a LogUnwritable naming the fault if
        it is one (also kept in ``unwritable``), else ``exc``."""
        fault = unwritable(exc)
        if fault is not None:
            self.unwritable = fault
            exc = fault
        # Without the writer's traceback: its frames hold the batch, so the error
        # would make a cycle through appends the garbage collector does not see.
        return _detach(exc)

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
            # Each row ends with its place in the batch, which orders the insert.
            place = itertools.count()
            rows = [
                (
                    append.stream_id,
                    append.expected_version + i,
                    event.type,
                    event.data,
                    now,
                    next(place),
                )
                for append in stored
                for i, event in enumerate(append.events, start=1)
            ]
            if insert_events(conn, rows) != len(rows):
                raise _Conflict
            last = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
            position = first = last - len(rows)
            extra: list[Statement] = []
            for append in stored:
                n = len(append.events)
                append.positions = range(position + 1, position + n + 1)
                if append.extra:
                    extra.extend(_bound(append.extra, position + 1 if n else None))
                position += n
            if extra:
                try:
                    execute_grouped(conn, extra)
                except _OWN_FAULT as exc:
                    raise _Conflict from exc  # find the append it belongs to, one by one
            self._commit_positions(first + 1, last)
        except BaseException as exc:
            rollback(conn)
            for append in batch:
                append.positions = ()
                append.error = None
            if isinstance(exc, sqlite3.IntegrityError):
                raise _Conflict from exc
            raise

    def _commit_positions(self, first: int, last: int) -> None:
        """COMMIT a transaction that stored positions ``first`` to ``last`` (none when
        ``first > last``), telling the frontier which are this process's own."""
        if first > last:
            self._conn.execute("COMMIT")
            return
        frontier = self._frontier
        frontier.committing(first, last)
        try:
            self._conn.execute("COMMIT")
        except BaseException:
            frontier.committed(False)
            raise
        frontier.committed(True)

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
                        for sql, params in _bound(append.extra, first):
                            conn.execute(sql, params)
                    except _OWN_FAULT as exc:
                        conn.execute("ROLLBACK TO one")
                        append.error = _detach(exc)  # see _commit
                    else:
                        append.positions = positions
                        stored.extend(positions)
                conn.execute("RELEASE one")
            # Rows of one transaction take consecutive positions (one writer at a time),
            # a row rolled back to its savepoint gives its position back.
            self._commit_positions(min(stored, default=1), max(stored, default=0))
        except BaseException:
            rollback(conn)
            for append in batch:
                append.positions = ()
                append.error = None
            raise

    def _run_task(self, task: _Task[Any]) -> None:
        conn = self._conn
        try:
            self._wal.check()
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = task.work(conn)
                conn.execute("COMMIT")
            except BaseException:
                rollback(conn)
                raise
            self._wal.check()
            task.result = result
        except Exception as exc:  # told to the caller, who waits on another thread
            task.error = self._failed(exc)
        else:
            self.unwritable = None
        task.done.set()

    def _acknowledge(self, batch: list[Append]) -> None:
        # Keyed by the sink itself, not its id: `obj.method` makes a new bound-method
        # object on every access, and those are equal, not identical.
        by_sink: dict[object, list[Append]] = {}
        for append in batch:
            try:
                group = by_sink.setdefault(append.sink, [])
            except TypeError:  # an unhashable callable: only identity can tell
                group = by_sink.setdefault(id(append.sink), [])
            group.append(append)
        for appends in by_sink.values():
            try:
                appends[0].sink(appends)
            except Exception:  # a broken sink must not stop the writer
                _log.exception("append sink raised")


_E = TypeVar("_E", bound=BaseException)


def _detach(error: _E) -> _E:
    """``error`` and the errors it was raised from or during, without tracebacks."""
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        link.__traceback__ = None
        link = link.__cause__ or link.__context__
    return error


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


def _bound(statements: Sequence[Statement], first: int | None) -> Sequence[Statement]:
    """The statements with a leading ``FIRST_POSITION`` parameter replaced by ``first``."""
    return [
        (sql, (first, *params[1:])) if params and params[0] is FIRST_POSITION else (sql, params)
        for sql, params in statements
    ]


def _is_sequence(value: object) -> TypeGuard[Sequence[Any]]:
    # list and tuple first: isinstance against the Sequence ABC goes through
    # abc.__instancecheck__, which showed as a fifth of the supervisor's time.
    kind = type(value)
    return kind is list or kind is tuple or isinstance(value, Sequence)


def _is_statement(statement: object) -> bool:
    # Exact types: this runs for every statement of every append that carries some.
    return (
        type(statement) is tuple
        and len(statement) == 2
        and type(statement[0]) is str
        and type(statement[1]) is tuple
    )


def _check_statements(statements: object, what: str) -> None:
    if not _is_sequence(statements):
        raise TypeError(f"{what}: extra must be a sequence of (sql, params) pairs")
    for statement in statements:
        if not _is_statement(statement):
            raise TypeError(f"{what}: extra statements must be (str, tuple), not {statement!r}")


def _check(append: Append) -> None:
    """Refuse, on the caller's thread, an append SQLite could not store.

    In the writer it would fail the whole batch, other callers' appends with it.
    """
    # The common, well-formed append passes on exact types alone (this runs for
    # every write); anything else gets the full check, and its precise message.
    events = append.events
    kind = type(events)
    if (
        type(append.stream_id) is str
        and type(append.expected_version) is int
        and (kind is list or kind is tuple)
    ):
        for event in events:
            if not (type(event) is NewEvent and type(event[0]) is str and type(event[1]) is bytes):
                break
        else:
            extra = append.extra
            if not extra or _plain_statements(extra):
                return
    _check_thoroughly(append)


def _plain_statements(statements: Sequence[Statement]) -> bool:
    kind = type(statements)
    return (kind is list or kind is tuple) and all(map(_is_statement, statements))


def _check_thoroughly(append: Append) -> None:
    if not isinstance(append.stream_id, str) or not isinstance(append.expected_version, int):
        raise TypeError(
            "an append needs a str stream id and an int version, not "
            f"{type(append.stream_id).__name__} and {type(append.expected_version).__name__}"
        )
    if not _is_sequence(append.events):
        raise TypeError(f"append to {append.stream_id!r}: events must be a sequence")
    for event in append.events:
        if not (
            isinstance(event, NewEvent)
            and isinstance(event.type, str)
            and isinstance(event.data, bytes)
        ):
            got = type(event).__name__
            if isinstance(event, NewEvent):
                got += f"({type(event.type).__name__}, {type(event.data).__name__})"
            raise TypeError(
                f"append to {append.stream_id!r}: events must be NewEvent(str, bytes), not {got}"
            )
    if append.extra:
        _check_statements(append.extra, f"append to {append.stream_id!r}")
