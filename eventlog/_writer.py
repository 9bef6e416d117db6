"""The single writer thread: group-commits queued appends, acknowledges after COMMIT."""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence

from eventlog._types import Append, ConcurrencyError, LogClosed, NewEvent

# A row is inserted only if it continues its stream without a gap: version 1, or the
# version before it is already stored. Together with UNIQUE(stream_id, version) this is
# the optimistic-concurrency check, and it holds across processes sharing the file.
_INSERT = """
INSERT INTO events (stream_id, version, type, data, recorded_at)
SELECT ?1, ?2, ?3, ?4, ?5
WHERE ?2 = 1 OR EXISTS (SELECT 1 FROM events WHERE stream_id = ?1 AND version = ?2 - 1)
"""

_STOP = object()
_log = logging.getLogger("eventlog")


class Writer:
    """Owns the log's only write connection in this process.

    A batch is whatever has queued when the writer comes round (up to ``batch_size``
    appends), plus what arrives during an optional ``linger``. One transaction per
    batch; a batch with a conflicting append is retried append by append, so one
    conflict fails only its own append.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        batch_size: int,
        linger: float,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._conn = conn
        self._batch_size = batch_size
        self._linger = linger
        self._on_commit = on_commit
        self._queue: queue.SimpleQueue[Append | object] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="eventlog-writer", daemon=True)
        self._thread.start()

    def submit(self, append: Append) -> None:
        _check(append)
        with self._lock:
            if self._closed:
                raise LogClosed("the event log is closed")
            self._queue.put(append)

    def close(self) -> None:
        """Commit everything already submitted, then stop the thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch: list[Append] = []
            item = self._queue.get()
            if item is _STOP:
                break
            batch.append(item)  # type: ignore[arg-type]
            stopping = self._drain(batch)
            if self._linger and not stopping and len(batch) < self._batch_size:
                time.sleep(self._linger)
                stopping = self._drain(batch)
            self._commit(batch)
        self._conn.close()

    def _drain(self, batch: list[Append]) -> bool:
        get = self._queue.get_nowait
        while len(batch) < self._batch_size:
            try:
                item = get()
            except queue.Empty:
                return False
            if item is _STOP:
                return True
            batch.append(item)  # type: ignore[arg-type]
        return False

    def _commit(self, batch: list[Append]) -> None:
        try:
            try:
                self._commit_together(batch)
            except _Conflict:
                self._commit_one_by_one(batch)
        except Exception as exc:  # the disk, not a caller: the whole batch fails
            for append in batch:
                append.positions = []
                append.error = exc
        if self._on_commit is not None:
            self._on_commit()
        self._acknowledge(batch)

    def _rows(self, append: Append, now: float) -> list[tuple[str, int, str, bytes, float]]:
        base = append.expected_version
        return [
            (append.stream_id, base + i, event.type, event.data, now)
            for i, event in enumerate(append.events, start=1)
        ]

    def _commit_together(self, batch: list[Append]) -> None:
        conn = self._conn
        now = time.time()
        rows = [row for append in batch for row in self._rows(append, now)]
        conn.execute("BEGIN IMMEDIATE")
        try:
            cursor = conn.executemany(_INSERT, rows)
            if cursor.rowcount != len(rows):
                raise _Conflict
            last = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
            conn.execute("COMMIT")
        except BaseException as exc:
            conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.IntegrityError):
                raise _Conflict from exc
            raise
        position = last - len(rows)
        for append in batch:
            n = len(append.events)
            append.positions = list(range(position + 1, position + n + 1))
            position += n

    def _commit_one_by_one(self, batch: list[Append]) -> None:
        conn = self._conn
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for append in batch:
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
                    append.positions = positions
                conn.execute("RELEASE one")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

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


class _Conflict(Exception):
    pass


def _check(append: Append) -> None:
    """Refuse, on the caller's thread, an append SQLite could not store.

    In the writer it would fail the whole batch, other callers' appends with it.
    """
    if not isinstance(append.stream_id, str) or not isinstance(append.expected_version, int):
        raise TypeError(
            "an append needs a str stream id and an int version, not "
            f"{type(append.stream_id).__name__} and {type(append.expected_version).__name__}"
        )
    if not isinstance(append.events, Sequence):
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
