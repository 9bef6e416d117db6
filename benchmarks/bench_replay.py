"""Replay and verify throughput over a big log, and their memory, at N and N/10 events.

    python -m benchmarks.bench_replay [--events N] [--repeat R] [--keep DIR]

Builds a log of N events (default 1,000,000) and one of N/10 with raw sqlite3
``executemany`` in one transaction, about 2.6 events per ALO: mostly started then
completed, with retries, failures, pauses and cancels, timeouts, result-URL
delivery records, and 1,000 external ALOs that stay open; about 2,000 ALOs in
flight at any point of the log. Then times ``logtools.replay`` (folding every
event with ``evolve``) and ``logtools.Verification``, each in a fresh process
so that its peak RSS is its own. Equal peaks for N and N/10 show memory is flat.
Beside them, the baseline: the same rows read with bare ``sqlite3`` in one
process and nothing done with them. Replay and verify read ahead in a helper
process (``eventlog._ahead``), so SQLite's share of their work runs on the other
core; their CPU time includes the helper's. The helper's own memory is one chunk
of rows (about 15 MB resident at 100,000 events and at 1,000,000, measured with
``/usr/bin/time -f %M``; getrusage's figure for a child counts the image it was
forked from). ``replay-here`` is the same replay with read-ahead off: every row
read in one process, as before there was a helper.

This machine's CPU speed varies by a fifth from one second to the next, so each
phase runs R times (default 3), each in a fresh process, and the fastest run is
reported, as ``timeit`` does; the slowest is printed beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import msgspec

import eventlog._sqlite_reader
from alo_actor._events import (
    CODEC,
    AloEvent,
    AttemptFailed,
    AttemptStarted,
    Cancelled,
    Completed,
    Delivered,
    DeliveriesDue,
    DeliveriesFinished,
    Failed,
    Paused,
    Resumed,
    Started,
    TimedOut,
)
from alo_actor._model import Failure
from alo_actor.logtools import Verification, replay
from eventlog import EventLog

PHASES = ("read", "replay-here", "replay", "verify")
IN_FLIGHT = 2000
# External promises that nobody settles: the same number in both logs, so that the
# memory held for open ALOs is the same too.
OPEN_FOREVER = 1000
STEP = 1e-4  # clock seconds between events: 10k events/s of simulated traffic
_encode = msgspec.msgpack.encode


def _script(n: int, at: float, rng: random.Random) -> list[AloEvent]:
    """One ALO's events; ``at`` is its creation time (later ones are re-stamped)."""
    alo_id = f"alo-{n:09d}"
    urls: list[str] = []
    deadline: float | None = None
    roll = rng.random()
    if roll < 0.10:
        urls = [f"https://hooks.example.com/alo/{n}"]
    elif roll < 0.15:
        deadline = at + 0.05
    elif roll < 0.20:
        deadline = at + 3600.0
    operation = None if n < OPEN_FOREVER else "billing.charge"
    data = msgspec.Raw(_encode({"order": n, "amount": rng.randint(1, 10_000), "currency": "EUR"}))
    started = Started(at, alo_id, operation, data, {"tenant": f"t{n % 7}"}, urls, deadline)
    if operation is None:
        return [started]
    result = msgspec.Raw(_encode({"charged": True, "receipt": f"r-{n}"}))
    if urls:
        return [
            started,
            Completed(0, result, {}),
            DeliveriesDue(0),
            Delivered(0, urls[0]),
            DeliveriesFinished(0),
        ]
    if deadline is not None and deadline < at + 1:
        return [started, TimedOut(deadline)]
    kind = rng.random()
    boom = Failure("card declined", "CardError")
    if kind < 0.70:
        return [started, Completed(0, result, {})]
    if kind < 0.82:
        return [
            started,
            AttemptFailed(0, 1, boom, 0),
            AttemptStarted(0, 2),
            Completed(0, result, {}),
        ]
    if kind < 0.92:
        return [started, Failed(0, boom)]
    return [started, Paused(0), Resumed(0), Cancelled(0, Failure("cancelled", "Cancelled"))]


def _rows(events: int, seed: int = 42) -> Iterator[tuple[str, int, str, bytes, float]]:
    """Rows of ``events`` events, ALOs interleaved about ``IN_FLIGHT`` at a time."""
    rng = random.Random(seed)
    base = 1_750_000_000.0
    active: list[tuple[list[AloEvent], int]] = []
    made = 0
    for count in range(events):
        at = base + count * STEP
        if len(active) < IN_FLIGHT:
            active.append((_script(made, at, rng), 0))
            made += 1
        slot = rng.randrange(len(active))
        script, done = active[slot]
        event = script[done]
        if done:
            # Re-stamped now, except a TimedOut, whose time is its deadline.
            stamped = (
                event if isinstance(event, TimedOut) else msgspec.structs.replace(event, at=at)
            )
            event = stamped
        if isinstance(event, AttemptFailed):
            # Due at once: the retry's AttemptStarted may be the stream's next row.
            event = msgspec.structs.replace(event, retry_at=at)
        new = CODEC.encode(event)
        stream = script[0].id  # type: ignore[attr-defined]
        yield (stream, done + 1, new.type, new.data, at)
        if done + 1 == len(script):
            active[slot] = active[-1]
            active.pop()
        else:
            active[slot] = (script, done + 1)


def build(path: str, events: int) -> float:
    """Write a log of ``events`` events at ``path``; returns the seconds it took."""
    started = time.perf_counter()
    EventLog.open(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    # One transaction of a million rows: a page cache that holds them all keeps
    # SQLite from spilling pages into the WAL mid-transaction, which is 10x slower.
    conn.execute("PRAGMA cache_size = -1048576")
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO events (stream_id, version, type, data, recorded_at) VALUES (?, ?, ?, ?, ?)",
        _rows(events),
    )
    conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - started


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    """CPU time of this process and of the children it has waited for: a replay's
    read-ahead helper (``eventlog._ahead``) is part of its cost."""
    mine = resource.getrusage(resource.RUSAGE_SELF)
    helpers = resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime + helpers.ru_utime + helpers.ru_stime


def _reset_high_water_mark() -> bool:
    """Reset the kernel's peak-RSS mark (Linux), so it measures the run, not the imports."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure(phase: str, path: str) -> dict[str, Any]:
    """Run one phase over the log at ``path`` in this process and time it."""
    before = _status_mb("VmRSS")
    reset = _reset_high_water_mark()
    wall, cpu = time.perf_counter(), _cpu_seconds()
    if phase == "read":
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            alos = sum(1 for _ in conn.execute("SELECT position, stream_id, data FROM events"))
        violations = 0
    elif phase == "replay-here":
        # The same replay with read-ahead off: every row read in this process.
        eventlog._sqlite_reader.AHEAD_MIN_ROWS = sys.maxsize
        alos = sum(1 for _ in replay(path))
        violations = 0
    elif phase == "replay":
        alos = sum(1 for _ in replay(path))
        violations = 0
    else:
        verification = Verification(path)
        violations = sum(1 for _ in verification)
        alos = verification.alos
    wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        events = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    return {
        "phase": phase,
        "events": events,
        "alos": alos,
        "violations": violations,
        "seconds": wall,
        "cpu_seconds": cpu,
        "rss_before_mb": before,
        "run_peak_rss_mb": _status_mb("VmHWM") if reset else float("nan"),
        "peak_rss_mb": _peak_rss_mb(),
    }


def _measure_in_child(phase: str, path: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_replay", "--measure", phase, "--db", path],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keep", metavar="DIR", help="build the logs here and keep them")
    parser.add_argument("--repeat", type=int, default=3, help="runs per phase; the fastest counts")
    parser.add_argument("--measure", choices=PHASES, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.db)))
        return
    directory = args.keep or tempfile.mkdtemp(prefix="bench-replay-")
    os.makedirs(directory, exist_ok=True)
    try:
        sizes = [max(args.events // 10, 1), args.events]
        print(
            f"{'events':>10}  {'phase':<11}  {'events/s':>9}  {'per CPU s':>9}  {'wall s':>6}  "
            f"{'cpu s':>6}  {'ALOs':>8}  {'RSS before':>10}  {'run peak':>8}  {'maxrss':>6}  "
            f"{'slowest/s':>9}  {'of read':>7}"
        )
        for size in sizes:
            path = os.path.join(directory, f"log-{size}.db")
            if not os.path.exists(path):
                seconds = build(path, size)
                print(f"built {size:,} events in {seconds:.1f} s ({size / seconds:,.0f}/s)")
            read_rate = 0.0
            for phase in PHASES:
                runs = [_measure_in_child(phase, path) for _ in range(max(args.repeat, 1))]
                r = min(runs, key=lambda run: run["seconds"])
                slowest = max(run["seconds"] for run in runs)
                if r["violations"]:
                    raise SystemExit(f"the benchmark log broke {r['violations']} invariants")
                rate = r["events"] / r["seconds"]
                read_rate = read_rate or rate
                print(
                    f"{r['events']:>10,}  {phase:<11}  {r['events'] / r['seconds']:>9,.0f}  "
                    f"{r['events'] / r['cpu_seconds']:>9,.0f}  {r['seconds']:>6.2f}  "
                    f"{r['cpu_seconds']:>6.2f}  {r['alos']:>8,}  {r['rss_before_mb']:>8.1f}MB  "
                    f"{r['run_peak_rss_mb']:>6.1f}MB  {r['peak_rss_mb']:>4.0f}MB  "
                    f"{r['events'] / slowest:>9,.0f}  {rate / read_rate:>6.0%}"
                )
        print(
            "RSS before: resident after imports; run peak: the kernel's high-water mark, "
            "reset as the run starts;\nmaxrss: getrusage's peak for the whole process, "
            "imports included.\nread: the baseline, the same rows read with bare sqlite3 "
            "(ALOs column: rows); of read: events/s as a share of the baseline's."
        )
    finally:
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
