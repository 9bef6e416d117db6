"""Several processes over one log (semantics §8): what they cost and how fast they react.

    python -m benchmarks.bench_multi [--promises N] [--against REV]

- throughput: the bench_core flow (start -> complete -> result seen by a waiter, 1,000
  in flight) in 1, 2 and 3 processes at once over one file, each on its own ids; the
  figure is all promises over the wall time of the slowest. One SQLite file has one
  writer at a time, so more processes share the same log throughput.
- wake-up: process A starts an external ALO and completes it; process B waits on it
  (``aio.get_result``); the time from A's acknowledged complete to B's waiter waking,
  p50/p99 over 1,000 ALOs, one at a time (``time.monotonic`` is system-wide on Linux).
- takeover: A holds half the shards and runs 8 attempts that block; A is SIGKILLed;
  the time until B holds every shard, and until B has begun all 8 again (a dead pid
  on this host is seen at B's next heartbeat; a silent but live one only when its
  lease lapses: that figure, with a SIGSTOP, is printed too).
- the cost of following and fencing for one process alone: ``--against REV`` runs the
  one-process flow on the code of git revision REV (exported to a temporary directory)
  and on this tree, alternately, and prints CPU per promise and the ratio.

Each measurement takes the location of a new log (a path, or a PostgreSQL URL):
``bench_postgres`` runs them on PostgreSQL beside SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from benchmarks import _against
from benchmarks._against import REPO

SHARDS = 64


def _python(*args: str, cwd: Path = REPO, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_multi", *args],
        cwd=cwd,
        env={**os.environ, **env},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _members(db: str) -> int:
    from eventlog import LogReader

    with LogReader.open(db) as reader:
        return int(reader.query("SELECT COUNT(DISTINCT owner) FROM leases")[0][0])


# -- children (each a process of its own) ------------------------------------------------


def _child_flow(db: str, promises: int, tag: str, processes: int) -> None:
    """Wait for the others and a go, run the flow on ids of our own, print the time."""
    from alo_actor import AloSystem
    from benchmarks.bench_core import promise_flow

    system = AloSystem.open(db)
    try:
        deadline = time.monotonic() + 60
        while _members(db) < processes and time.monotonic() < deadline:
            time.sleep(0.05)
        print("ready", flush=True)
        sys.stdin.readline()  # go
        ids = [f"{tag}-{i}" for i in range(promises)]
        cpu = time.process_time()
        elapsed = asyncio.run(promise_flow(system.aio, ids, 1000))
        cpu = time.process_time() - cpu
        print(json.dumps({"elapsed": elapsed, "cpu": cpu}), flush=True)
    finally:
        system.close()


def _child_waiter(db: str, count: int) -> None:
    """Wait on each ALO A names on stdin; print when each waiter woke."""
    from alo_actor import AloSystem

    system = AloSystem.open(db)

    async def run() -> list[float]:
        woke = []
        loop = asyncio.get_running_loop()
        for _ in range(count):
            alo_id = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
            waiter = asyncio.ensure_future(system.aio.get_result(alo_id, timeout=30))
            await asyncio.sleep(0.002)  # its request reaches the supervisor
            print("waiting", flush=True)
            await waiter
            woke.append(time.monotonic())
        return woke

    try:
        print("ready", flush=True)
        print(json.dumps(asyncio.run(run())), flush=True)
    finally:
        system.close()


def _child_holder(db: str, record: str, lease: float) -> None:
    """Hold shards and run blocking attempts, recording when each begins."""
    from alo_actor import AloSystem, HandlerContext

    def block(ctx: HandlerContext, input: Any) -> None:
        with open(record, "a") as f:
            f.write(f"{ctx.id} {os.getpid()} {time.monotonic()}\n")
        ctx.cancelled.wait(3600)

    system = AloSystem.open(db, lease_seconds=lease)
    system.register("block", block)
    print("ready", flush=True)
    sys.stdin.readline()
    system.close()


# -- the measurements ----------------------------------------------------------------------


def throughput(db: str, promises: int, processes: int) -> tuple[float, float]:
    """Promises/s of ``processes`` processes at once over the new log ``db``, and CPU us
    per promise."""
    from alo_actor import AloSystem

    AloSystem.open(db).close()
    children = [
        _python("flow", db, str(promises), f"p{n}", str(processes)) for n in range(processes)
    ]
    for child in children:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    results = []
    for child in children:
        assert child.stdout is not None
        results.append(json.loads(child.stdout.readline()))
        child.wait(60)
    total = promises * processes
    wall = max(r["elapsed"] for r in results)
    cpu = sum(r["cpu"] for r in results)
    return total / wall, cpu / total * 1e6


def wake_latency(db: str, count: int) -> list[float]:
    """Seconds from A's acknowledged complete to B's waiter waking, per ALO (a new log
    ``db``)."""
    from alo_actor import AloSystem

    a = AloSystem.open(db)
    b = _python("waiter", db, str(count))
    assert b.stdin is not None and b.stdout is not None
    assert b.stdout.readline().strip() == "ready"
    acked = []
    try:
        for n in range(count):
            alo_id = f"w{n}"
            a.start(alo_id, None)
            b.stdin.write(alo_id + "\n")
            b.stdin.flush()
            assert b.stdout.readline().strip() == "waiting"
            a.complete(alo_id, n)
            acked.append(time.monotonic())
        woke = json.loads(b.stdout.readline())
    finally:
        b.wait(60)
        a.close()
    return [w - t for w, t in zip(woke, acked, strict=True)]


def takeover(db: str, lease: float, sig: int) -> tuple[float, float]:
    """After ``sig`` to the holder of half the shards of the new log ``db``: seconds
    until the other holds them all, and until it has begun the holder's blocked
    attempts again."""
    from alo_actor import AloSystem, HandlerContext

    with tempfile.TemporaryDirectory() as tmp:
        record = os.path.join(tmp, "record")
        Path(record).touch()
        a = _python("holder", db, record, str(lease))
        assert a.stdout is not None
        assert a.stdout.readline().strip() == "ready"

        def block(ctx: HandlerContext, input: Any) -> None:
            with open(record, "a") as f:
                f.write(f"{ctx.id} {os.getpid()} {time.monotonic()}\n")
            ctx.cancelled.wait(3600)

        b = AloSystem.open(db, lease_seconds=lease)
        try:
            b.register("block", block)
            while _members(db) < 2:
                time.sleep(0.02)
            leases = b.log.leases()
            mine = [
                f"t{n}" for n in range(10_000) if leases[b.log.shard_of(f"t{n}")].owner != b.member
            ][:8]
            for alo_id in mine:
                b.start(alo_id, "block")
            while len(Path(record).read_text().splitlines()) < len(mine):
                time.sleep(0.01)
            os.kill(a.pid, sig)
            hit = time.monotonic()
            held = begun = None
            while begun is None:
                if held is None and all(x.owner == b.member for x in b.log.leases()):
                    held = time.monotonic() - hit
                lines = [line.split() for line in Path(record).read_text().splitlines()]
                again = {i for i, pid, _ in lines if int(pid) == os.getpid()}
                if again >= set(mine):
                    begun = time.monotonic() - hit
                time.sleep(0.005)
            if held is None:
                held = begun
        finally:
            if a.poll() is None:
                os.kill(a.pid, signal.SIGCONT)
                a.kill()
            a.wait(30)
            b.close()
    return held, begun


def against(rev: str, promises: int, rounds: int) -> tuple[list[float], list[float]]:
    """CPU us per promise of one process alone, at REV and here, alternately."""
    pairs = _against.against(rev, _ONE_PROCESS, [str(promises)], rounds)
    return [there["cpu_us"] for there, _ in pairs], [here["cpu_us"] for _, here in pairs]


# Run by _against from the tree under test: argv is the promises, then a directory.
_ONE_PROCESS = """
import asyncio, json, os, sys, time
sys.path.insert(0, ".")
from alo_actor import AloSystem
from benchmarks.bench_core import promise_flow
system = AloSystem.open(os.path.join(sys.argv[2], "one.db"))
ids = [f"p{i}" for i in range(int(sys.argv[1]))]
cpu = time.process_time()
elapsed = asyncio.run(promise_flow(system.aio, ids, 1000))
cpu = time.process_time() - cpu
system.close()
print(json.dumps({"cpu_us": cpu / len(ids) * 1e6, "rate": len(ids) / elapsed}))
"""


def measure_all(
    fresh: Iterator[str], promises: int, wakes: int, counts: Sequence[int], store: str
) -> None:
    """Print throughput with each count of processes, the wake-up latency and both
    takeovers, each on a new log from ``fresh`` (paths, or a PostgreSQL database's
    URLs); ``store`` names what the processes share."""
    from actors import DEFAULT_LEASE_SECONDS

    heading = f"processes over one {store}"
    print(f"{heading:<28}{'promises/s':>12}{'CPU us/promise':>16}{'vs 1':>8}")
    single = None
    for processes in counts:
        rate, cpu = throughput(next(fresh), promises, processes)
        single = single or rate
        print(f"{processes:<28}{rate:>12,.0f}{cpu:>16.1f}{rate / single:>7.2f}x")
    late = wake_latency(next(fresh), wakes)
    print(
        f"wake-up across processes: p50 {_percentile(late, 0.5) * 1000:.1f} ms, "
        f"p99 {_percentile(late, 0.99) * 1000:.1f} ms, max {max(late) * 1000:.1f} ms "
        f"({len(late)} ALOs)"
    )
    for sig, what in ((signal.SIGKILL, "SIGKILL"), (signal.SIGSTOP, "SIGSTOP (live, silent)")):
        held, begun = takeover(next(fresh), DEFAULT_LEASE_SECONDS, sig)
        print(
            f"takeover after {what}, lease {DEFAULT_LEASE_SECONDS:g} s: every shard held in "
            f"{held:.2f} s, its attempts begun again in {begun:.2f} s"
        )


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("flow", "waiter", "holder"):
        role, *rest = sys.argv[1:]
        if role == "flow":
            _child_flow(rest[0], int(rest[1]), rest[2], int(rest[3]))
        elif role == "waiter":
            _child_waiter(rest[0], int(rest[1]))
        else:
            _child_holder(rest[0], rest[1], float(rest[2]))
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--promises", type=int, default=20_000, help="per process")
    parser.add_argument("--wakes", type=int, default=1000)
    parser.add_argument(
        "--against", metavar="REV", help="a git revision to compare one process with"
    )
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}, promises per process: {args.promises}")
    with tempfile.TemporaryDirectory() as tmp:
        fresh = (os.path.join(tmp, f"{n}.db") for n in itertools.count())
        measure_all(fresh, args.promises, args.wakes, (1, 2, 3), "file")
    if args.against:
        there, here = against(args.against, args.promises, args.rounds)
        print(
            f"one process, CPU us per promise: {args.against} {statistics.median(there):.1f} "
            f"({', '.join(f'{x:.1f}' for x in there)}), this tree "
            f"{statistics.median(here):.1f} ({', '.join(f'{x:.1f}' for x in here)}): "
            f"{statistics.median(here) / statistics.median(there):.2f}x"
        )


if __name__ == "__main__":
    main()
