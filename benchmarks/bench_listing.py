"""Listing over a big log, and start throughput beside it: N ALOs (default 1,000,000).

    python -m benchmarks.bench_listing [--alos N] [--starts K] [--keep DIR]
        [--postgres [--url postgresql://…]]

Builds a log of N ALOs with random 32-hex ids (events AND projection rows, bulk
inserted with raw sqlite3 ``executemany`` through the real codec and the real
projection row builder; the log's stream index is dropped during the load and
built again after, as a restore would). About 86% completed, 5% failed, 3%
cancelled, 1% timed out, 4% running, 1% paused; metadata ``tenant`` (t0..t49) and
``region`` (4 values); three operations.

Then, on a system opened over it: the first page of several filtered listings
(target: one status and one metadata pair within 50 ms), and the rate of K starts
through ``system.aio`` against the same on an empty log (target: at least half).

``--postgres`` does the same on PostgreSQL after SQLite, in the same run: the same
rows loaded with COPY (the stream index again built after the load), then ANALYZE,
as a restore would; on a throwaway cluster (tests/postgres.py), or ``--url``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import msgspec

from alo_actor import AloSystem
from alo_actor._events import (
    CODEC,
    AloEvent,
    Cancelled,
    Completed,
    Failed,
    Paused,
    Started,
    TimedOut,
)
from alo_actor._machine import AloState, evolve
from alo_actor._model import Failure
from alo_actor.readmodel._projection import COLUMNS, INSERT_PAIR, INSERT_ROW, pairs_of, row_of
from alo_actor.readmodel._schema import ensure_projection
from eventlog import EventLog

OPERATIONS = ("billing.charge", "email.send", "report.build")
REGIONS = ("eu", "us", "ap", "sa")
TENANTS = 50
CHUNK = 50_000
STEP = 0.01  # clock seconds between creations
_encode = msgspec.msgpack.encode


def _events(n: int, at: float, rng: random.Random) -> list[AloEvent]:
    alo_id = "%032x" % rng.getrandbits(128)  # noqa: UP031  (a random client id)
    metadata = {"tenant": f"t{n % TENANTS}", "region": REGIONS[n % len(REGIONS)]}
    data = msgspec.Raw(_encode({"order": n, "amount": rng.randint(1, 10_000)}))
    started = Started(at, alo_id, OPERATIONS[n % 3], data, metadata, [], None)
    roll = rng.random()
    end = at + rng.uniform(0.1, 30.0)
    if roll < 0.86:
        return [started, Completed(end, msgspec.Raw(_encode({"ok": n})), {})]
    if roll < 0.91:
        return [started, Failed(end, Failure("card declined", "PaymentError"))]
    if roll < 0.94:
        return [started, Cancelled(end, Failure("user asked", "Cancelled"))]
    if roll < 0.95:
        return [started, TimedOut(end)]
    if roll < 0.99:
        return [started]
    return [started, Paused(end)]


def _batches(alos: int, t0: float) -> Iterator[tuple[list[Any], list[Any], list[Any]]]:
    rng = random.Random(5)
    position = 0
    events: list[Any] = []
    rows: list[Any] = []
    pairs: list[Any] = []
    for n in range(alos):
        at = t0 + n * STEP
        state: AloState | None = None
        seq = position + 1
        for version, event in enumerate(_events(n, at, rng), start=1):
            position += 1
            stored = CODEC.encode(event)
            state = evolve(state, event)
            events.append((position, state.id, version, stored.type, stored.data, event.at))
        assert state is not None
        rows.append((seq, *row_of(state)))
        pairs.extend(pairs_of(state, seq))
        if len(rows) >= CHUNK:
            yield events, rows, pairs
            events, rows, pairs = [], [], []
    if rows:
        yield events, rows, pairs


def build_postgres(url: str, alos: int, t0: float) -> float:
    """The same log as ``build``, in the PostgreSQL database at ``url``; the seconds."""
    import psycopg

    began = time.perf_counter()
    with EventLog.open(url) as log:
        ensure_projection(log)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")  # a bulk load: durable at its end
        with conn.transaction():
            conn.execute("DROP INDEX events_stream")
            for events, rows, pairs in _batches(alos, t0):
                for table, columns, values in (
                    ("events", "position, stream_id, version, type, data, recorded_at", events),
                    ("alos", "seq, " + ", ".join(COLUMNS), rows),
                    ("alo_metadata", "seq, key, value", pairs),
                ):
                    with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                        for value in values:
                            copy.write_row(value)
            conn.execute("CREATE UNIQUE INDEX events_stream ON events (stream_id, version)")
            conn.execute("UPDATE head SET position = (SELECT max(position) FROM events)")
        conn.execute("ANALYZE")
    return time.perf_counter() - began


def build(path: str, alos: int, t0: float) -> float:
    """A log of ``alos`` ALOs at ``path``; returns the seconds it took."""
    began = time.perf_counter()
    with EventLog.open(path) as log:
        ensure_projection(log)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    (index_sql,) = conn.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'events_stream'"
    ).fetchone()
    conn.execute("BEGIN")
    conn.execute("DROP INDEX events_stream")
    for events, rows, pairs in _batches(alos, t0):
        conn.executemany(
            "INSERT INTO events (position, stream_id, version, type, data, recorded_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            events,
        )
        conn.executemany(INSERT_ROW, rows)
        conn.executemany(INSERT_PAIR, pairs)
    conn.execute(index_sql)
    conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - began


# Times are given as the share of the log created before them ("after": 0.9 is the
# last 10% of ALOs).
QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("failed + tenant=t7 (the target)", {"status": "failed", "metadata": {"tenant": "t7"}}),
    ("completed + tenant=t7", {"status": "completed", "metadata": {"tenant": "t7"}}),
    ("paused (1%)", {"status": "paused"}),
    ("running,paused + operation", {"status": "running,paused", "operation": "email.send"}),
    ("tenant=t7 + region=us", {"metadata": {"tenant": "t7", "region": "us"}}),
    ("no filter", {}),
    ("timed_out + created in the last 10%", {"status": "timed_out", "after": 0.9}),
    ("created in the last 10% (time alone)", {"after": 0.9}),
    ("created in the last 1% (time alone)", {"after": 0.99}),
    ("created in a 1% window mid-log", {"after": 0.5, "before": 0.51}),
]


def time_lists(system: AloSystem, t0: float, alos: int, repeat: int = 20) -> None:
    print(f"{'first page of 100':<40}{'cold ms':>10}{'best ms':>10}{'median ms':>11}{'items':>7}")
    for name, filters in QUERIES:
        query = dict(filters)
        for share, bound in (("after", "created_after"), ("before", "created_before")):
            if share in query:
                query[bound] = t0 + query.pop(share) * alos * STEP
        times = []
        items = 0
        for _ in range(repeat):
            began = time.perf_counter()
            page = system.list(**query)
            times.append((time.perf_counter() - began) * 1000)
            items = len(page.items)
        print(
            f"{name:<40}{times[0]:>10.2f}{min(times):>10.2f}"
            f"{statistics.median(times):>11.2f}{items:>7}"
        )
    pages, began = 0, time.perf_counter()
    cursor = None
    for _ in range(100):
        page = system.list(status="completed", limit=1000, cursor=cursor)
        pages += 1
        cursor = page.next_cursor
    elapsed = (time.perf_counter() - began) * 1000 / pages
    print(f"{'completed, pages 1-100 of 1000 each':<40}{'':>10}{elapsed:>10.2f} (mean per page)")


def start_rate(system: AloSystem, starts: int, in_flight: int = 1000) -> float:
    async def run() -> float:
        aio = system.aio
        rng = random.Random()

        async def worker(first: int) -> None:
            for i in range(first, starts, in_flight):
                await aio.start(
                    "%032x" % rng.getrandbits(128),  # noqa: UP031
                    input=i,
                    metadata={"tenant": f"t{i % TENANTS}"},
                )

        began = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(in_flight)))
        return time.perf_counter() - began

    return starts / asyncio.run(run())


def measure(big: str, empty: str, t0: float, alos: int, starts: int) -> None:
    """Time the listings on the log at ``big`` and the starts against ``empty``."""
    began = time.perf_counter()
    with AloSystem.open(big) as system:
        print(f"opened in {time.perf_counter() - began:.1f} s")
        time_lists(system, t0, alos)
        full = start_rate(system, starts)
    with AloSystem.open(empty) as system:
        none = start_rate(system, starts)
    print(f"{'starts/s':<40}{'empty log':>12}{f'{alos:,} ALOs':>16}{'ratio':>8}")
    print(
        f"{'system.aio.start, 1000 in flight':<40}{none:>12,.0f}{full:>16,.0f}{full / none:>8.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alos", type=int, default=1_000_000)
    parser.add_argument("--starts", type=int, default=20_000)
    parser.add_argument("--keep", help="Build (or reuse) the big log in this directory.")
    parser.add_argument("--postgres", action="store_true", help="Then the same on PostgreSQL.")
    parser.add_argument("--url", help="With --postgres: this server, not a throwaway one.")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-listing-")
    directory = args.keep or tmp
    os.makedirs(directory, exist_ok=True)
    big = os.path.join(directory, f"alos-{args.alos}.db")
    t0 = 1_700_000_000.0
    try:
        print("SQLite")
        if not os.path.exists(big):
            seconds = build(big, args.alos, t0)
            size = os.path.getsize(big) / 1e6
            print(f"built {args.alos:,} ALOs in {seconds:.1f} s ({size:,.0f} MB)")
        measure(big, os.path.join(tmp, "empty.db"), t0, args.alos, args.starts)
        if args.postgres:
            from benchmarks.bench_postgres import server_urls

            print("PostgreSQL")
            with server_urls(args.url) as fresh:
                url = fresh()
                seconds = build_postgres(url, args.alos, t0)
                print(f"built {args.alos:,} ALOs in {seconds:.1f} s")
                measure(url, fresh(), t0, args.alos, args.starts)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
