"""The smallest design with the engine's three threads, for ``bench_core``'s prototype rows.

A caller's event loop, one supervisor thread and one writer thread, as in alo-actor,
on the same log file with the same schema: the same events (``Started``, then
``Completed``), encoded by the same codec, the same read-model row inserted and
updated in the same transaction, group commit, nothing answered before its COMMIT.
What it leaves out is everything else: no actor per ALO, no validation beyond the
payload's encoding, no state machine, no other process, no errors, a batch one
message and one answer, each loop iteration's calls one message, each commit's
answers one wake-up of the loop.

It answers one question the ratio goals of issue 19 raise: what these three threads,
sharing one GIL, can reach on this machine at all. Printed beside the engine, in the
same run, it tells how much of the gap to the in-memory ceiling is the engine's and
how much is the thread design's. It is not a design to adopt: it stores nothing a
restart could rebuild an ALO from beyond the two events, and checks nothing.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import msgspec

from alo_actor import AloSystem
from alo_actor._events import CODEC, Completed, Started
from alo_actor._validate import encode_payload
from alo_actor.readmodel._projection import STATEMENTS
from eventlog import NewEvent
from eventlog._connect import connect, set_durability
from eventlog._faults import rollback
from eventlog._multirow import execute_groups, insert_events

_SQL = STATEMENTS["sqlite"]
_STOP: Any = object()
# The most requests one commit carries (a batch's request holds all its ALOs; the
# engine's writer takes up to 2,000 appends a commit).
_BATCH = 400


class _Request(NamedTuple):
    """One call of the caller: ``kind`` (start, complete, wait) for ``ids``."""

    kind: str
    ids: Sequence[str]
    payloads: Sequence[bytes]
    future: asyncio.Future[Any]


class _Write(NamedTuple):
    """A request's events, and its read-model rows (a start's rows lack their seq)."""

    request: _Request
    events: list[tuple[str, int, NewEvent]]  # stream id, version before, event
    rows: list[Any]  # a start's: lists, to be given their seq; a completion's: tuples


class _Committed(NamedTuple):
    """A commit's writes, each with the positions its events were given (or the error
    the commit failed with)."""

    batch: list[_Write]
    writes: list[tuple[_Write, list[int]]] | Exception


class _State:
    __slots__ = ("completed", "result", "version")

    def __init__(self) -> None:
        self.version = 1
        self.completed = False
        self.result = b""


class _Wait:
    """A wait for several ALOs' results, answered once all are in."""

    __slots__ = ("future", "left", "states")

    def __init__(self, future: asyncio.Future[Any], count: int) -> None:
        self.future = future
        self.left = count
        self.states: list[_State | None] = [None] * count


def _resolve(answers: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, value in answers:
        if future.done():
            continue
        if isinstance(value, BaseException):
            future.set_exception(value)
        else:
            future.set_result(value)


class PrototypePromises:
    """The flow's three verbs (and their batch forms) on the three-thread prototype.

    One event loop only (the first that calls it); ``close`` stops its threads.
    ``one_thread``: no threads at all; each loop iteration's calls are decided,
    committed (the loop waits for SQLite) and answered where they are made, on the
    loop: no hand-off between threads, no GIL shared.
    """

    def __init__(self, path: str, *, one_thread: bool = False) -> None:
        AloSystem.open(path).close()  # the engine's schema, indexes and pragmas
        self._conn = connect(path)
        set_durability(self._conn, "normal")
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writes: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._outbox: list[_Request] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._one_thread = one_thread
        self._states: dict[str, _State] = {}
        self._waits: dict[str, list[tuple[_Wait, int]]] = {}
        self._threads = (
            []
            if one_thread
            else [
                threading.Thread(target=self._supervise, name="prototype-supervisor", daemon=True),
                threading.Thread(target=self._write, name="prototype-writer", daemon=True),
            ]
        )
        for thread in self._threads:
            thread.start()

    def close(self) -> None:
        """Stop the threads (after what is queued) and close the connection."""
        if self._threads:
            self._inbox.put(_STOP)
            self._writes.put(_STOP)
        for thread in self._threads:
            thread.join()
        self._conn.close()

    # -- the caller's loop -------------------------------------------------------

    def _call(self, kind: str, ids: Sequence[str], payloads: Sequence[bytes]) -> Any:
        loop = asyncio.get_running_loop()
        self._loop = loop
        future = loop.create_future()
        if not self._outbox:
            loop.call_soon(self._flush)
        self._outbox.append(_Request(kind, ids, payloads, future))
        return future

    def _flush(self) -> None:
        requests, self._outbox = self._outbox, []
        if not self._one_thread:
            self._inbox.put(requests)
            return
        answers: list[tuple[asyncio.Future[Any], Any]] = []
        self._decide_all(requests, answers)
        writes: list[_Write] = []
        while not self._writes.empty():
            writes.append(self._writes.get_nowait())
        if writes:
            try:
                done = self._commit(writes)
            except Exception as exc:
                rollback(self._conn)
                answers.extend((write.request.future, exc) for write in writes)
            else:
                for write, seqs in done:
                    self._committed(write, seqs, self._states, self._waits, answers)
        _resolve(answers)

    async def start(self, id: str, operation: str | None = None, input: Any = None) -> Any:
        return (await self._call("start", (id,), (encode_payload(input, "input"),)))[0]

    async def complete(self, id: str, result: Any = None) -> Any:
        return (await self._call("complete", (id,), (encode_payload(result, "result"),)))[0]

    async def get_result(self, id: str, timeout: float | None = None) -> Any:
        states = await self._call("wait", (id,), ())
        return msgspec.msgpack.decode(states[0].result)

    async def start_many(self, starts: Iterable[tuple[str, str | None, Any]]) -> Any:
        """Each start an (id, operation, input) tuple, the operation None."""
        ids, payloads = [], []
        for alo_id, _, value in starts:
            ids.append(alo_id)
            payloads.append(encode_payload(value, "input"))
        return await self._call("start", ids, payloads)

    async def complete_many(self, completions: Iterable[tuple[str, Any]]) -> Any:
        ids, payloads = [], []
        for alo_id, value in completions:
            ids.append(alo_id)
            payloads.append(encode_payload(value, "result"))
        return await self._call("complete", ids, payloads)

    async def get_results(self, ids: Sequence[str]) -> list[Any]:
        states = await self._call("wait", ids, ())
        decode = msgspec.msgpack.decode
        return [decode(state.result) for state in states]

    # -- the supervisor ----------------------------------------------------------

    def _supervise(self) -> None:
        states, waits = self._states, self._waits
        while (message := self._inbox.get()) is not _STOP:
            answers: list[tuple[asyncio.Future[Any], Any]] = []
            if type(message) is list:
                self._decide_all(message, answers)
            elif isinstance(message.writes, Exception):
                answers.extend((write.request.future, message.writes) for write in message.batch)
            else:
                for write, seqs in message.writes:
                    self._committed(write, seqs, states, waits, answers)
            if answers:
                assert self._loop is not None
                self._loop.call_soon_threadsafe(_resolve, answers)

    def _decide_all(
        self, requests: list[_Request], answers: list[tuple[asyncio.Future[Any], Any]]
    ) -> None:
        encode = CODEC.encode
        write = self._writes.put
        for request in requests:
            try:
                self._decide(request, self._states, self._waits, answers, encode, write)
            except Exception as exc:  # the caller's, to raise (never a hang)
                answers.append((request.future, exc))

    @staticmethod
    def _decide(
        request: _Request,
        states: dict[str, _State],
        waits: dict[str, list[tuple[_Wait, int]]],
        answers: list[tuple[asyncio.Future[Any], Any]],
        encode: Any,
        write: Callable[[_Write], object],
    ) -> None:
        """One request's events and rows, handed to ``write``; a wait's answer, or its
        waits (the supervisor's whole decision; ``bench_supervisor`` runs it alone)."""
        now = time.time()
        events: list[tuple[str, int, NewEvent]] = []
        rows: list[Any] = []
        if request.kind == "start":
            for alo_id, payload in zip(request.ids, request.payloads, strict=True):
                if alo_id in states:
                    raise AssertionError(f"{alo_id} exists")
                started = Started(now, alo_id, None, msgspec.Raw(payload), {}, [], None)
                events.append((alo_id, 0, encode(started)))
                row = [None, alo_id, None, "running", 1, now, None, None, "{}", "[]", None, None]
                rows.append(row)
        elif request.kind == "complete":
            for alo_id, payload in zip(request.ids, request.payloads, strict=True):
                completed = Completed(now, msgspec.Raw(payload), {})
                events.append((alo_id, states[alo_id].version, encode(completed)))
                rows.append((alo_id, "completed", 1, now, None, None))
        else:
            wait = _Wait(request.future, len(request.ids))
            for index, alo_id in enumerate(request.ids):
                state = states[alo_id]
                if state.completed:
                    wait.states[index] = state
                    wait.left -= 1
                else:
                    waits.setdefault(alo_id, []).append((wait, index))
            if not wait.left:
                answers.append((wait.future, wait.states))
            return
        write(_Write(request, events, rows))

    @staticmethod
    def _committed(
        write: _Write,
        seqs: list[int],
        states: dict[str, _State],
        waits: dict[str, list[tuple[_Wait, int]]],
        answers: list[tuple[asyncio.Future[Any], Any]],
    ) -> None:
        """A committed write's effects: states, woken waits, the request's answer
        (``bench_supervisor`` runs it alone)."""
        request = write.request
        out: list[_State] = []
        if request.kind == "start":
            for alo_id in request.ids:
                state = states[alo_id] = _State()
                out.append(state)
        else:
            for alo_id, payload in zip(request.ids, request.payloads, strict=True):
                state = states[alo_id]
                state.version += 1
                state.completed = True
                state.result = payload
                out.append(state)
                for wait, index in waits.pop(alo_id, ()):
                    wait.states[index] = state
                    wait.left -= 1
                    if not wait.left:
                        answers.append((wait.future, wait.states))
        answers.append((request.future, out))

    # -- the writer --------------------------------------------------------------

    def _write(self) -> None:
        stopping = False
        while not stopping:
            first = self._writes.get()
            if first is _STOP:
                break
            batch: list[_Write] = [first]
            while len(batch) < _BATCH:
                try:
                    item = self._writes.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            try:
                done: list[tuple[_Write, list[int]]] | Exception = self._commit(batch)
            except Exception as exc:
                rollback(self._conn)
                done = exc
            self._inbox.put(_Committed(batch, done))

    def _commit(self, batch: list[_Write]) -> list[tuple[_Write, list[int]]]:
        conn = self._conn
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        flat: list[Any] = []
        place = 0
        for write in batch:
            for alo_id, version, event in write.events:
                flat.extend((alo_id, version + 1, event.type, event.data, now, place))
                place += 1
        if insert_events(conn, flat) != place:
            raise AssertionError("a conflict: the prototype has no other writer")
        position = conn.execute("SELECT last_insert_rowid()").fetchone()[0] - place
        inserts: list[tuple[Any, ...]] = []
        updates: list[tuple[Any, ...]] = []
        done: list[tuple[_Write, list[int]]] = []
        for write in batch:
            seqs = list(range(position + 1, position + len(write.events) + 1))
            position += len(write.events)
            if write.request.kind == "start":
                for row, seq in zip(write.rows, seqs, strict=True):
                    row[0] = seq
                    inserts.append(tuple(row))
            else:
                updates.extend(write.rows)
            done.append((write, seqs))
        groups = {}
        if inserts:
            groups[_SQL.insert_row] = inserts
        if updates:
            groups[_SQL.update] = updates
        execute_groups(conn, groups)
        conn.execute("COMMIT")
        return done
