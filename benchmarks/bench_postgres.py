"""PostgreSQL beside SQLite: durable promises/s and start-ack latency, in one run.

    python -m benchmarks.bench_postgres [--promises N] [--in-flight K] [--rate R]
        [--seconds S] [--url postgresql://…]

- alo-actor on PostgreSQL: start -> complete -> result seen by a waiter, K in flight
  (bench_core's flow), every commit durable (synchronous_commit = on).
- alo-actor on SQLite: the same flow on a file (WAL, NORMAL), and with durability
  "full" (each commit flushed to disk, as PostgreSQL's are).
- raw psycopg: the same rows (two events per promise, real codec) inserted in
  1000-row transactions, one INSERT … SELECT FROM unnest(arrays) each (the statement
  the log's writer uses): what PostgreSQL itself takes to store them.
- raw sqlite3: bench_core's baseline, the same rows in 1000-row executemany commits.
- start-ack latency (p50/p99) of both backends under a paced load of R starts/s.

Without ``--url`` it makes a throwaway cluster with initdb (tests/postgres.py), on a
Unix socket, fsync on. The several-processes figures (1 and 3 ``alo worker``
processes over one database, takeover time after a SIGKILL) need the multi-process
engine: ``processes_hook`` below is where they go once it is on main.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import psycopg

from benchmarks._latency import bench_latency
from benchmarks.bench_core import bench_alo, bench_raw, event_rows
from eventlog import EventLog
from tests.postgres import running_server

_INSERT = (
    "INSERT INTO events (position, stream_id, version, type, data, recorded_at) "
    "SELECT * FROM unnest(%b::bigint[], %b::text[], %b::bigint[], %b::text[], %b::bytea[], "
    "%b::double precision[])"
)


@contextlib.contextmanager
def server_urls(url: str | None) -> Iterator[Any]:
    """A function giving a URL of a fresh, empty log (a schema of its own) each call."""
    if url is not None:
        counter = iter(range(1_000_000))
        made: list[str] = []

        def fresh_on(url: str = url) -> str:
            name = f"bench_{os.getpid()}_{next(counter)}"
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA "{name}"')
            made.append(name)
            separator = "&" if "?" in url else "?"
            return f"{url}{separator}options=-csearch_path%3D{name}"

        try:
            yield fresh_on
        finally:
            with psycopg.connect(url, autocommit=True) as conn:
                for name in made:
                    conn.execute(f'DROP SCHEMA "{name}" CASCADE')
        return
    with running_server() as server:
        yield lambda: server.url(server.new_schema("bench"))


def bench_raw_psycopg(url: str, promises: int) -> float:
    """Promises/s (two events each) of plain batched inserts, 1000 rows a commit."""
    EventLog.open(url).close()  # the same schema and indexes
    rows = [(i + 1, *row) for i, row in enumerate(event_rows(promises))]
    with psycopg.connect(url, autocommit=True) as conn:
        began = time.perf_counter()
        for at in range(0, len(rows), 1000):
            columns = [list(column) for column in zip(*rows[at : at + 1000], strict=True)]
            with conn.transaction():
                conn.execute(_INSERT, columns)
        elapsed = time.perf_counter() - began
    return promises / elapsed


def processes_hook(fresh: Any, promises: int) -> dict[str, float]:
    """Promises/s with 1 and 3 processes over one database, and the takeover time after
    a SIGKILL: to be measured with ``alo worker`` once the multi-process engine (issue
    15) is on main. Nothing is measured before then."""
    return {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--promises", type=int, default=20_000)
    parser.add_argument("--in-flight", type=int, default=1_000)
    parser.add_argument("--rate", type=float, default=500.0, help="paced starts/s")
    parser.add_argument("--seconds", type=float, default=5.0, help="of paced load")
    parser.add_argument("--url", help="an existing server (a schema is made per run)")
    args = parser.parse_args()
    with server_urls(args.url) as fresh, tempfile.TemporaryDirectory() as tmp:
        pg = bench_alo(fresh(), args.promises, args.in_flight)
        sqlite = bench_alo(os.path.join(tmp, "alo.db"), args.promises, args.in_flight)
        # Like PostgreSQL's, each commit flushed to disk (NORMAL leaves that to checkpoints).
        sqlite_full = bench_alo(
            os.path.join(tmp, "full.db"), args.promises, args.in_flight, durability="full"
        )
        raw_pg = bench_raw_psycopg(fresh(), args.promises)
        raw_sqlite = bench_raw(os.path.join(tmp, "raw.db"), args.promises)
        pg_latency = bench_latency(fresh(), args.rate, args.seconds)["start_ack"]
        sqlite_latency = bench_latency(os.path.join(tmp, "l.db"), args.rate, args.seconds)[
            "start_ack"
        ]
        full_latency = bench_latency(
            os.path.join(tmp, "lf.db"), args.rate, args.seconds, durability="full"
        )["start_ack"]
        processes = processes_hook(fresh, args.promises)
    print(f"promises: {args.promises:,}, in flight: {args.in_flight:,}, cores: {os.cpu_count()}")
    print(f"{'design':<44}{'promises/s':>12}{'PostgreSQL is':>16}")
    for name, value in (
        ("alo-actor on PostgreSQL", pg),
        ("alo-actor on SQLite", sqlite),
        ("alo-actor on SQLite, durability full", sqlite_full),
        ("raw psycopg batched inserts (2 rows each)", raw_pg),
        ("raw sqlite3 executemany (2 rows each)", raw_sqlite),
    ):
        print(f"{name:<44}{value:>12,.0f}{pg / value:>15.2f}x")
    print(f"start-ack at {args.rate:,.0f} starts/s for {args.seconds:g} s:")
    for name, figures in (
        ("PostgreSQL", pg_latency),
        ("SQLite", sqlite_latency),
        ("SQLite full", full_latency),
    ):
        print(f"  {name:<12} p50 {figures['p50_ms']:7.2f} ms   p99 {figures['p99_ms']:7.2f} ms")
    if not processes:
        print("1 and 3 processes, takeover: not measured (needs the multi-process engine)")
    for name, value in processes.items():
        print(f"  {name}: {value:,.2f}")


if __name__ == "__main__":
    main()
