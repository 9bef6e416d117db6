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
- several processes (``bench_multi``'s measurements): promises/s of 1 and 3 processes
  over one database beside 1 and 3 over one SQLite file, the wake-up of a waiter in
  another process, and the takeover after a SIGKILL (a process on this host, seen
  dead by its pid) and a SIGSTOP (one that looks like another host's: only its lease
  lapsing tells). ``--no-processes`` leaves them out.
- reopening: ``AloSystem.open`` over a log of ``--reopen-alos`` ALOs (bench_listing's
  log: about 5% of them open, so replayed at open), on each backend; and the open
  ALOs' streams read one ``read_stream`` each against ``read_streams`` (a few hundred
  a query), which open uses. ``--reopen-alos 0`` leaves it out.

Without ``--url`` it makes a throwaway cluster with initdb (tests/postgres.py), on a
Unix socket, fsync on.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg

from benchmarks._latency import bench_latency
from benchmarks.bench_core import bench_alo, bench_raw, event_rows
from benchmarks.bench_multi import measure_all
from eventlog import EventLog, backend_of
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


def processes_hook(fresh: Callable[[], str], tmp: str, promises: int, wakes: int) -> None:
    """Print ``bench_multi``'s figures on PostgreSQL (each on a new log from ``fresh``),
    then on SQLite files in ``tmp``, 1 and 3 processes each."""
    paths = (os.path.join(tmp, f"multi-{n}.db") for n in itertools.count())
    for store, logs in (("database", iter(fresh, None)), ("file", paths)):
        print("PostgreSQL:" if store == "database" else "SQLite:")
        measure_all(logs, promises, wakes, (1, 3), store)


def reopen(location: str, alos: int) -> tuple[float, float, float, int]:
    """A log of ``alos`` ALOs at ``location`` (built as bench_listing builds it); the
    seconds ``AloSystem.open`` takes over it, then the seconds to read its open ALOs'
    streams with a ``read_stream`` each and with ``read_streams``, and how many."""
    from alo_actor import AloSystem
    from alo_actor.readmodel import OPEN_ALOS
    from benchmarks.bench_listing import build, build_postgres

    t0 = 1_700_000_000.0
    (build_postgres if backend_of(location) == "postgresql" else build)(location, alos, t0)
    began = time.perf_counter()
    with AloSystem.open(location) as system:
        opened = time.perf_counter() - began
        log = system.log
        ids = [row[0] for row in log.query(OPEN_ALOS)]
        began = time.perf_counter()
        for alo_id in ids:
            log.read_stream(alo_id)
        one_each = time.perf_counter() - began
        began = time.perf_counter()
        for _ in log.read_streams(ids):
            pass
        batched = time.perf_counter() - began
    return opened, one_each, batched, len(ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--promises", type=int, default=20_000)
    parser.add_argument("--in-flight", type=int, default=1_000)
    parser.add_argument("--rate", type=float, default=500.0, help="paced starts/s")
    parser.add_argument("--seconds", type=float, default=5.0, help="of paced load")
    parser.add_argument("--url", help="an existing server (a schema is made per run)")
    parser.add_argument("--wakes", type=int, default=1000, help="ALOs of the wake-up figure")
    parser.add_argument("--no-processes", action="store_true", help="one process only")
    parser.add_argument(
        "--reopen-alos", type=int, default=200_000, help="ALOs of the reopening figure (0: none)"
    )
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
        print(
            f"promises: {args.promises:,}, in flight: {args.in_flight:,}, cores: {os.cpu_count()}"
        )
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
        if not args.no_processes:
            processes_hook(fresh, tmp, args.promises, args.wakes)
        if args.reopen_alos:
            print(f"reopening a log of {args.reopen_alos:,} ALOs:")
            for name, location in (
                ("PostgreSQL", fresh()),
                ("SQLite", os.path.join(tmp, "reopen.db")),
            ):
                opened, one_each, batched, count = reopen(location, args.reopen_alos)
                print(
                    f"  {name:<12} AloSystem.open {opened:6.2f} s; its {count:,} open ALOs read "
                    f"a stream a query {one_each:6.2f} s, with read_streams {batched:6.2f} s "
                    f"({one_each / batched:.1f}x)"
                )


if __name__ == "__main__":
    main()
