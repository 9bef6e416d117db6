"""The writer thread every backend shares: a queue of appends and tasks, group commit,
acknowledgement after COMMIT, what has been committed (``CommitStats``) and whether the
log can be written (``LogUnwritable``); each backend says how a batch and a task are
committed, and which of its errors mean the store refuses writes."""

from __future__ import annotations

import abc
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeGuard, TypeVar

from eventlog._stats import CommitStats
from eventlog._types import (
    FIRST_POSITION,
    Append,
    Groups,
    LogClosed,
    LogUnwritable,
    NewEvent,
    Statement,
)

if TYPE_CHECKING:
    from eventlog._follow import Frontier

_STOP = object()
_log = logging.getLogger("eventlog")

_R = TypeVar("_R")
# The backend's connection, as tasks see it.
C = TypeVar("C")


class Task(Generic[C, _R]):
    """Work on the write connection in a transaction of its own, queued like an append
    (a deletion, a lease's claim or renewal): ``work(conn)`` runs between BEGIN and
    COMMIT, after the appends queued before it and before those after."""

    __slots__ = ("done", "error", "result", "work")

    def __init__(self, work: Callable[[C], _R]) -> None:
        self.work = work
        self.done = threading.Event()
        self.result: _R | None = None
        self.error: Exception | None = None


class BatchWriter(abc.ABC, Generic[C]):
    """Owns the log's only write connection in this process.

    A batch is whatever has queued when the writer comes round (up to ``batch_size``
    appends), plus what arrives during an optional ``linger``. A backend stores a
    batch in one transaction (``_store``), so that one conflict fails only its own
    append, and runs a task in a transaction of its own (``_transact``).

    ``unwritable`` is the LogUnwritable the last write failed with (the disk full, the
    store read-only, ...), None once a write succeeds again; ``probe`` tries one.
    ``stats`` counts what was committed.
    """

    # While idle, the writer calls ``_idle`` this often (None: never).
    idle_interval: float | None = None

    def __init__(self, *, batch_size: int, linger: float, frontier: Frontier) -> None:
        self._batch_size = batch_size
        # Told the positions of every commit, so the log's follower knows them for this
        # process's own and reads only the others' events.
        self._frontier = frontier
        self._linger = linger
        self._queue: queue.SimpleQueue[Append | object] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self.unwritable: LogUnwritable | None = None
        self.stats = CommitStats()
        self._thread = threading.Thread(target=self._run, name="eventlog-writer", daemon=True)

    def _start(self) -> None:
        """Start the thread (once the backend's own state is set up)."""
        self._thread.start()

    def submit(self, append: Append) -> None:
        check(append)
        self._put(append)

    def submit_many(self, appends: Sequence[Append]) -> None:
        """Queue appends built well-formed by their caller, unchecked, in order."""
        with self._lock:
            if self._closed:
                raise LogClosed("the event log is closed")
            put = self._queue.put
            for append in appends:
                put(append)

    def run(self, work: Callable[[C], _R]) -> _R:
        """``work(conn)`` in a transaction of its own on the writer thread; its result.

        Raises what it raised (the transaction is then rolled back), or LogClosed.
        """
        task: Task[C, _R] = Task(work)
        self._put(task)
        task.done.wait()
        if task.error is not None:
            raise task.error
        return task.result  # type: ignore[return-value]

    def probe(self) -> LogUnwritable | None:
        """Commit a write that means nothing, to learn whether the log takes writes;
        returns why not (and sets ``unwritable``), or None."""
        try:
            self.run(self._probe)
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

    def _commit_positions(self, first: int, last: int, commit: Callable[[], Any]) -> None:
        """``commit()`` (a transaction's COMMIT) for a transaction that stored positions
        ``first`` to ``last`` (none when ``first > last``), telling the frontier which
        are this process's own: announced before, and whether it succeeded after."""
        if first > last:
            commit()
            return
        frontier = self._frontier
        frontier.committing(first, last)
        try:
            commit()
        except BaseException:
            frontier.committed(False)
            raise
        frontier.committed(True)

    def delete_streams(self, stream_ids: list[str], extra: Sequence[Statement]) -> int:
        """Delete the streams on the writer thread, in one transaction; see EventLog."""
        check_statements(extra, "a deletion")
        streams = self.run(lambda conn: self._delete(conn, stream_ids, extra))
        if streams:
            self._frontier.deleted_here()
        return streams

    @abc.abstractmethod
    def _delete(self, conn: C, stream_ids: list[str], extra: Sequence[Statement]) -> int:
        """In the open transaction: run ``extra`` (while the events it may refer to are
        still there), delete the streams' events and count the deletion in the head;
        how many of the streams had events."""

    @abc.abstractmethod
    def _store(self, batch: list[Append]) -> None:
        """Commit the batch in one transaction, filling in each append's positions or
        its own error (a conflict, a fence, a fault of its extra statements); raise for
        a fault of the whole batch (the store's, the connection's)."""

    @abc.abstractmethod
    def _transact(self, work: Callable[[C], _R]) -> _R:
        """``work(conn)`` between BEGIN and COMMIT (rolled back if it raises); its result."""

    @abc.abstractmethod
    def _probe(self, conn: C) -> None:
        """Write something that means nothing (a row of ``meta``)."""

    @abc.abstractmethod
    def _fault(self, error: Exception) -> LogUnwritable | None:
        """The LogUnwritable that ``error`` stands for, or None if it is not a refusal
        of the store to be written."""

    @abc.abstractmethod
    def _finish(self) -> None:
        """Close the connection (on the writer thread, after the last commit)."""

    def _check(self) -> None:
        """Raise LogUnwritable if the log is known not to take writes any more (before
        and after each transaction; a backend's own watch)."""

    def _idle(self) -> None:
        """Every ``idle_interval`` s while nothing is queued (a backend's own watch)."""

    def _commit(self, batch: list[Append]) -> None:
        """Commit the batch, then acknowledge it; never raises."""
        began = time.perf_counter()
        try:
            self._check()
            self._store(batch)
            self._check()  # again after COMMIT: a commit the store may lose is not one
            self.stats.committed(len(batch), time.perf_counter() - began)
        except Exception as exc:  # the store, not a caller: the whole batch fails
            self.stats.failed()
            error = self._failed(exc)
            for append in batch:
                append.positions = ()
                append.error = error
        else:
            self.unwritable = None
        self._acknowledge(batch)

    def _run_task(self, task: Task[C, Any]) -> None:
        """Run the task in a transaction of its own, set its result or error, then
        ``task.done``; never raises."""
        try:
            self._check()
            result = self._transact(task.work)
            self._check()
            task.result = result
        except Exception as exc:  # told to the caller, who waits on another thread
            task.error = self._failed(exc)
        else:
            self.unwritable = None
        task.done.set()

    def _failed(self, exc: Exception) -> Exception:
        """The error to report for a failed write: a LogUnwritable naming the fault if
        it is one (also kept in ``unwritable``), else ``exc``; without tracebacks."""
        fault = exc if isinstance(exc, LogUnwritable) else self._fault(exc)
        if fault is not None:
            if fault is not exc:
                fault.__cause__ = exc
            self.unwritable = fault
            exc = fault
        return detach(exc)

    def _run(self) -> None:
        held: object = None  # what ended the last drain: _STOP, a task, or nothing
        while held is not _STOP:
            if held is None:
                try:
                    item = self._queue.get(timeout=self.idle_interval)
                except queue.Empty:
                    self._idle()
                    continue
            else:
                item = held
            held = None
            if item is _STOP:
                break
            if isinstance(item, Task):
                self._run_task(item)
                continue
            batch: list[Append] = [item]  # type: ignore[list-item]
            held = self._drain(batch)
            if self._linger and held is None and len(batch) < self._batch_size:
                time.sleep(self._linger)
                held = self._drain(batch)
            self._commit(batch)
        self._finish()

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
            if item is _STOP or isinstance(item, Task):
                return item
            batch.append(item)  # type: ignore[arg-type]
        return None

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


def detach(error: _E) -> _E:
    """``error`` and the errors it was raised from or during, without tracebacks.

    A writer's frames hold the batch, so an error with its traceback would make a
    cycle through appends the garbage collector does not see.
    """
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        link.__traceback__ = None
        link = link.__cause__ or link.__context__
    return error


def bound(statements: Sequence[Statement], first: int | None) -> Sequence[Statement]:
    """The statements with a leading ``FIRST_POSITION`` parameter replaced by ``first``."""
    return [(sql, _with_first(params, first)) for sql, params in statements]


def _with_first(params: tuple[Any, ...], first: int | None) -> tuple[Any, ...]:
    return (first, *params[1:]) if params and params[0] is FIRST_POSITION else params


def add_bound(groups: Groups, statements: Sequence[Statement], first: int | None) -> None:
    """Add the statements' parameter rows to ``groups``, a leading ``FIRST_POSITION``
    replaced by ``first``: ``bound`` and grouping in one pass, for a writer's batch
    (no (sql, params) pair is rebuilt for every statement of every append)."""
    for sql, given in statements:
        params = _with_first(given, first)
        group = groups.get(sql)
        if group is None:
            groups[sql] = [params]
        else:
            group.append(params)


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


def check_statements(statements: object, what: str) -> None:
    """Refuse ``statements`` unless they are a sequence of ``(str, tuple)`` pairs."""
    if not _is_sequence(statements):
        raise TypeError(f"{what}: extra must be a sequence of (sql, params) pairs")
    for statement in statements:
        if not _is_statement(statement):
            raise TypeError(f"{what}: extra statements must be (str, tuple), not {statement!r}")


def check(append: Append) -> None:
    """Refuse, on the caller's thread, an append the log could not store.

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
            if not (
                type(event) is NewEvent and type(event.type) is str and type(event.data) is bytes
            ):
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
        check_statements(append.extra, f"append to {append.stream_id!r}")
