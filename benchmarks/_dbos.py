"""DBOS Transact's way: a durable workflow per promise, with the client's id, on SQLite.

    python -m benchmarks._dbos PATH --workflow returns|recv [--durability normal|shipped]
        [--promises N] [--in-flight K] [--threads T] [--poll S]

Runs ``bench_core.promise_flow`` against a DBOS system database at ``PATH`` and prints
one JSON line: promises/s, CPU us per promise (every thread of this process, over the
flow only, launch excluded), and the SQLite settings actually in force. DBOS is a
process-wide singleton (it registers workflows globally, starts background threads and
replaces the event loop's default executor), so ``_baselines.bench_dbos`` runs this in
a fresh subprocess per measurement.

- ``returns``: ``start`` is ``DBOS.start_workflow_async`` under ``SetWorkflowID(id)``
  of a workflow that returns its input at once; ``complete`` does nothing; the waiter
  awaits the start's handle. The issue's flow, word for word, and DBOS's fastest.
- ``recv``: the workflow waits in ``DBOS.recv_async`` and returns the message;
  ``complete`` is ``DBOS.send_async(id, result)``. The ALO's shape: a durable promise
  completed from outside.

``durability`` "shipped" leaves SQLite as DBOS does (rollback journal, SQLite's
default ``synchronous=FULL``); "normal" adds ``journal_mode=WAL`` and
``synchronous=NORMAL`` to each of its connections, alo-actor's default (DBOS has no
setting for either).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from importlib.metadata import version
from typing import Any

import sqlalchemy as sa
from dbos import DBOS, DBOSConfig, SetWorkflowID, WorkflowHandleAsync
from dbos._sys_db_sqlite import SQLiteSystemDatabase

from benchmarks.bench_core import promise_flow

TOPIC = "complete"
# Long enough for any run here: a recv that times out returns None, which the flow
# reports as a wrong result rather than hiding it.
RECV_TIMEOUT_S = 600.0
# DBOS's executor (asyncio.to_thread's, once DBOS has set it) is unbounded by default,
# a thread per concurrent call: at 1,000 in flight with WAL that ran at 214/s against
# 317-369/s with 4 or 8 threads (16: 280-316/s), and one run as shipped exhausted its
# 20-connection pool (30 s waits, 43/s). 8 is within noise of 4 and keeps the pool free.
EXECUTOR_THREADS = 8


@DBOS.workflow()
async def returns_at_once(value: Any) -> Any:
    """The simplest durable workflow: its result is its input."""
    return value


@DBOS.workflow()
async def waits_for_completion(value: Any) -> Any:
    """A durable promise: waits for the message that completes it and returns it."""
    return await DBOS.recv_async(TOPIC, timeout_seconds=RECV_TIMEOUT_S)


class DbosPromises:
    """``PromiseApi`` on DBOS: each promise a workflow whose id is the client's."""

    def __init__(self, workflow: str) -> None:
        self.waits = workflow == "recv"
        self.handles: dict[str, WorkflowHandleAsync[Any]] = {}

    async def start(self, id: str, operation: str | None = None, input: Any = None) -> Any:
        func = waits_for_completion if self.waits else returns_at_once
        with SetWorkflowID(id):
            # Returns once the workflow's row (status and input) is committed.
            self.handles[id] = await DBOS.start_workflow_async(func, input)
        return id

    async def complete(self, id: str, result: Any = None) -> Any:
        if self.waits:
            await DBOS.send_async(id, result, TOPIC)
        return id

    async def get_result(self, id: str, timeout: float | None = None) -> Any:
        # The start's own handle awaits the workflow's task in this process; a handle
        # from DBOS.retrieve_workflow_async would poll the database every second.
        return await asyncio.wait_for(self.handles.pop(id).get_result(), timeout)


def _wal_normal() -> None:
    """Give every connection of DBOS's SQLite engine WAL and ``synchronous=NORMAL``,
    after DBOS's own connect hook (IMMEDIATE transactions, busy timeout)."""
    original = SQLiteSystemDatabase._create_engine

    def create(db: SQLiteSystemDatabase, url: str, kwargs: dict[str, Any]) -> sa.Engine:
        engine = original(db, url, kwargs)

        def pragmas(dbapi_conn: Any, record: Any) -> None:
            dbapi_conn.execute("PRAGMA journal_mode = WAL")
            dbapi_conn.execute("PRAGMA synchronous = NORMAL")

        sa.event.listen(engine, "connect", pragmas)
        return engine

    setattr(SQLiteSystemDatabase, "_create_engine", create)  # noqa: B010


def _sqlite_settings(dbos: DBOS) -> dict[str, Any]:
    """The journal mode and synchronous level of a connection from DBOS's own pool."""
    with dbos._sys_db.engine.connect() as conn:
        journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        sync = conn.exec_driver_sql("PRAGMA synchronous").scalar()
    levels = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    return {"journal_mode": str(journal).upper(), "synchronous": levels.get(int(str(sync)), sync)}


def run(
    path: str,
    workflow: str,
    durability: str,
    promises: int,
    in_flight: int,
    threads: int,
    poll: float,
) -> dict[str, Any]:
    """Launch DBOS on a new SQLite system database at ``path``, run the flow, and
    return its figures (this process can launch DBOS only once)."""
    if durability == "normal":
        _wal_normal()
    config: DBOSConfig = {
        "name": "alo-bench",
        "system_database_url": f"sqlite:///{path}",
        "max_executor_threads": threads,
        # How often the SQLite listener looks for the messages recv waits on (DBOS's
        # default, 1.0 s, was faster at 1,000 in flight than 0.25, 0.1, 0.05 or 0.01
        # s: each round is a transaction per waiting recv).
        "notification_listener_polling_interval_sec": poll,
        "log_level": "WARNING",  # its INFO lines are per launch (migrations), none per workflow
    }
    dbos = DBOS(config=config)
    DBOS.launch()
    try:
        settings = _sqlite_settings(dbos)
        ids = [f"p{i}" for i in range(promises)]
        api = DbosPromises(workflow)
        began = time.process_time()
        elapsed = asyncio.run(promise_flow(api, ids, in_flight))
        cpu = time.process_time() - began
    finally:
        DBOS.destroy()
    return {
        "version": version("dbos"),
        "workflow": workflow,
        "durability": durability,
        **settings,
        "promises": promises,
        "in_flight": in_flight,
        "executor_threads": threads,
        "poll_s": poll,
        "promises_per_s": promises / elapsed,
        "cpu_us_per_promise": cpu / promises * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("path", help="the SQLite system database to create")
    parser.add_argument("--workflow", choices=("returns", "recv"), required=True)
    parser.add_argument("--durability", choices=("normal", "shipped"), default="normal")
    parser.add_argument("--promises", type=int, default=3_000)
    parser.add_argument("--in-flight", type=int, default=1_000)
    parser.add_argument(
        "--threads",
        type=int,
        default=EXECUTOR_THREADS,
        help=f"DBOS's max_executor_threads (0: its default, unbounded; {EXECUTOR_THREADS})",
    )
    parser.add_argument(
        "--poll", type=float, default=1.0, help="its notification poll, seconds (1.0)"
    )
    args = parser.parse_args()
    if os.path.exists(args.path):
        parser.error(f"{args.path} exists: give a new file")
    figures = run(
        args.path,
        args.workflow,
        args.durability,
        args.promises,
        args.in_flight,
        args.threads,
        args.poll,
    )
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
