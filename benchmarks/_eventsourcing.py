"""The eventsourcing library's way: one aggregate per promise, saved by an Application."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.sqlite import SQLiteConnection, SQLiteConnectionPool


class Promise(Aggregate):
    """A promise: Started when created, Completed with its result."""

    @event("Started")
    def __init__(self, input: Any) -> None:
        self.input = input
        self.result: Any = None

    @event("Completed")
    def complete(self, result: Any) -> None:
        self.result = result


class Promises(Application[Any]):
    pass


@contextmanager
def _synchronous_normal() -> Iterator[None]:
    """Make eventsourcing's SQLite connections use ``synchronous = NORMAL`` (as alo-actor's
    default does) instead of SQLite's FULL; it has no setting for it."""
    original = SQLiteConnectionPool._create_connection

    def create(pool: SQLiteConnectionPool) -> SQLiteConnection:
        connection = original(pool)
        connection._sqlite_conn.execute("PRAGMA synchronous = NORMAL")
        return connection

    setattr(SQLiteConnectionPool, "_create_connection", create)  # noqa: B010
    try:
        yield
    finally:
        setattr(SQLiteConnectionPool, "_create_connection", original)  # noqa: B010


def _flow(app: Promises, numbers: range) -> None:
    for i in numbers:
        promise = Promise(input=i)
        app.save(promise)
        loaded: Promise = app.repository.get(promise.id)
        loaded.complete(i)
        app.save(loaded)
        if app.repository.get(promise.id).result != i:
            raise AssertionError("wrong result")


def bench_eventsourcing(path: str, promises: int, threads: int, durability: str) -> float:
    """Promises/s of an eventsourcing Application on SQLite, one aggregate per promise.

    Start saves a new aggregate (its Started event); complete loads it, triggers
    Completed and saves; the waiter is a read of the aggregate that must show the
    result (eventsourcing has no way to wait for an event). ``threads`` 0 runs in a
    loop on this thread; N > 0 splits the promises over N threads. ``durability``
    "full" is SQLite's default, as eventsourcing leaves it; "normal" is alo-actor's.
    """
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path}
    with _synchronous_normal() if durability == "normal" else nullcontext():
        app = Promises(env=env)
        try:
            began = time.perf_counter()
            if threads == 0:
                _flow(app, range(promises))
            else:
                errors: list[BaseException] = []

                def run(k: int) -> None:
                    try:
                        _flow(app, range(k, promises, threads))
                    except BaseException as exc:
                        errors.append(exc)

                workers = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
                for worker in workers:
                    worker.start()
                for worker in workers:
                    worker.join()
                if errors:
                    raise errors[0]
            elapsed = time.perf_counter() - began
        finally:
            app.close()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    return promises / elapsed
