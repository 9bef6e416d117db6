"""Durable promise throughput through the public API, against two baselines in the same run.

    python -m benchmarks.bench_core [--promises N] [--in-flight K] [--against REV [--rounds R]]

- alo-actor: start -> complete -> result seen by a waiter, K in flight on one
  event loop (system.aio), every step durable before acknowledged (WAL, NORMAL).
- the same through the batch verbs, 100 ALOs a call (``start_many``, ``get_results``
  asked before ``complete_many``): each ALO still its own command, append and answer.
- the same on uvloop's event loop (the one ``alo serve`` runs on), whose loop
  machinery is C where asyncio's is Python.
- raw sqlite3: executemany appends of the same number of events (two per promise)
  in 1000-row transactions: the physical limit of the log.
- thread-per-ALO: one pykka ThreadingActor per promise, started and stopped per
  ALO, persisting through the same group-commit event log.
- in-memory ceiling: the same flow against a dict and bare asyncio futures, on the
  same loop: no durability, no threads, no checks. What the flow itself costs in
  this interpreter, so no engine behind this API can be faster.
- the three-thread prototype (``benchmarks._prototype``): the same flows, per call and
  in batches of 100, on the same log file, events and read model, with nothing of the
  engine but its three threads: what those threads can reach at all (issue 19); and
  the same on one thread (decided and committed on the loop), without the hand-offs.
- DBOS Transact on its SQLite system database (WAL, synchronous=NORMAL, alo-actor's default), in
  a subprocess: a workflow started with the client's id that returns at once (the
  ratio the goal takes), and one that waits in ``recv`` until ``send`` completes it.

``--threads`` then prints the CPU each thread spent per promise in both flows, the
engine's and the prototype's (from ``/proc``, Linux only).

``--against REV`` then runs the first and the batch flows at REV and in this tree, in
fresh processes, in turn, and prints the paired ratios (this tree / REV).

``python -m benchmarks`` builds its scenarios on these functions.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import os
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import msgspec
import pykka

from alo_actor import AloSystem
from alo_actor._events import CODEC, Completed, Started
from eventlog import Durability, EventLog

Row = tuple[str, int, str, bytes, float]

INSERT = "INSERT INTO events (stream_id, version, type, data, recorded_at) VALUES (?, ?, ?, ?, ?)"


class PromiseApi(Protocol):
    """The three verbs the flow uses: ``system.aio``, or a baseline with the same face."""

    async def start(self, id: str, operation: str | None = None, input: Any = None) -> Any: ...

    async def complete(self, id: str, result: Any = None) -> Any: ...

    async def get_result(self, id: str, timeout: float | None = None) -> Any: ...


async def promise_flow(api: PromiseApi, ids: Sequence[str], in_flight: int) -> float:
    """start -> complete -> result seen by a waiter for every id, ``in_flight`` at a time.

    The waiter asks for the result before ``complete`` is sent, so it is really woken
    by the completion. Returns the elapsed seconds.
    """

    async def worker(first: int) -> None:
        for i in range(first, len(ids), in_flight):
            alo_id = ids[i]
            await api.start(alo_id, input=i)
            waiter = asyncio.ensure_future(api.get_result(alo_id))
            await asyncio.sleep(0)  # the waiter's request leaves before the completion
            await api.complete(alo_id, i)
            if await waiter != i:
                raise AssertionError("wrong result")

    began = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(min(in_flight, len(ids)))))
    return time.perf_counter() - began


class BatchApi(Protocol):
    """The batch verbs the batch flow uses: ``system.aio``, or the prototype."""

    async def start_many(self, starts: list[tuple[str, None, int]]) -> Any: ...

    async def complete_many(self, completions: list[tuple[str, int]]) -> Any: ...

    async def get_results(self, ids: Sequence[str]) -> list[Any]: ...


async def batch_flow(aio: BatchApi, ids: Sequence[str], in_flight: int, size: int) -> float:
    """The same flow, ``size`` ALOs a call: ``start_many``, then ``get_results`` asked
    before ``complete_many``, ``in_flight`` ALOs in flight in all. The elapsed seconds."""

    workers = max(1, in_flight // size)

    async def worker(first: int) -> None:
        # Each worker's batches in turn, every worker's apart (a step of in_flight
        # would overlap them when fewer than a batch are in flight).
        for at in range(first * size, len(ids), workers * size):
            chunk = ids[at : at + size]
            await aio.start_many([(alo_id, None, n) for n, alo_id in enumerate(chunk)])
            waiter = asyncio.ensure_future(aio.get_results(chunk))
            await asyncio.sleep(0)  # the waiters' requests leave before the completions
            await aio.complete_many([(alo_id, n) for n, alo_id in enumerate(chunk)])
            if await waiter != list(range(len(chunk))):
                raise AssertionError("wrong results")

    began = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(workers)))
    return time.perf_counter() - began


def bench_alo_batches(path: str, promises: int, in_flight: int, size: int = 100) -> float:
    """Durable promises/s through the batch verbs, ``size`` ALOs a call."""
    system = AloSystem.open(path)
    try:
        ids = [f"p{i}" for i in range(promises)]
        elapsed = asyncio.run(batch_flow(system.aio, ids, in_flight, size))
    finally:
        system.close()
    return promises / elapsed


def bench_prototype(
    path: str, promises: int, in_flight: int, *, one_thread: bool = False
) -> tuple[float, float]:
    """The prototype's promises/s (``benchmarks._prototype``): per call, and in batches
    of 100 (each on a log of its own: ``path`` and ``path`` + "-batches")."""
    from benchmarks._prototype import PrototypePromises

    ids = [f"p{i}" for i in range(promises)]
    rates = []
    for where, flow in ((path, "per call"), (path + "-batches", "batches of 100")):
        api = PrototypePromises(where, one_thread=one_thread)
        try:
            elapsed = asyncio.run(_flow(flow, api, ids, in_flight)())
        finally:
            api.close()
        rates.append(promises / elapsed)
    return rates[0], rates[1]


def _flow(flow: str, face: Any, ids: Sequence[str], in_flight: int) -> Any:
    """The flow named ``flow`` ("per call", "batches of 100") over ``face``, to call
    for its coroutine (which returns the elapsed seconds)."""
    if flow == "per call":
        return functools.partial(promise_flow, face, ids, in_flight)
    return functools.partial(batch_flow, face, ids, in_flight, 100)


def objects_held(path: str, promises: int, in_flight: int) -> tuple[float, int]:
    """Objects the garbage collector tracks per promise in flight (sampled mid-run,
    against the count before the run), and how many more there are once the run is
    over and collected than before it: what a long run leaves behind. Measured after
    a warm-up that fills the system's bounded caches (10,000 idle ALOs' states)."""

    system = AloSystem.open(path)
    try:
        warm = [f"w{i}" for i in range(20_000)]
        asyncio.run(promise_flow(system.aio, warm, in_flight))
        ids = [f"p{i}" for i in range(promises)]
        gc.collect()
        before = len(gc.get_objects())
        samples: list[int] = []

        async def run() -> None:
            async def sample() -> None:
                while True:
                    await asyncio.sleep(0.2)
                    samples.append(len(gc.get_objects()))

            sampler = asyncio.ensure_future(sample())
            await promise_flow(system.aio, ids, in_flight)
            sampler.cancel()

        asyncio.run(run())
        gc.collect()
        after = len(gc.get_objects())
    finally:
        system.close()
    held = statistics.median(samples) - before if samples else 0.0
    return held / in_flight, after - before


def bench_alo(
    path: str,
    promises: int,
    in_flight: int,
    durability: Durability = "normal",
    *,
    uvloop: bool = False,
) -> float:
    """Durable promises/s through the public asyncio API, on a new log at ``path``
    (on uvloop's event loop if ``uvloop``, the one ``alo serve`` runs on)."""
    system = AloSystem.open(path, durability=durability)
    try:
        ids = [f"p{i}" for i in range(promises)]
        flow = promise_flow(system.aio, ids, in_flight)
        if uvloop:
            import uvloop as uv

            elapsed = uv.run(flow)
        else:
            elapsed = asyncio.run(flow)
    finally:
        system.close()
    return promises / elapsed


def event_rows(promises: int, *, pending: int = 0, first: int = 0) -> Iterator[Row]:
    """Real CODEC-encoded rows: Started then Completed for each of ``promises`` ALOs,
    of which ``pending``, spread evenly, have only their Started (they stay RUNNING)."""
    raw = msgspec.Raw(msgspec.msgpack.encode(0))
    completed = CODEC.encode(Completed(2.0, raw, {}))
    every = promises // pending if pending else 0
    for n in range(promises):
        alo_id = f"p{first + n}"
        started = CODEC.encode(Started(1.0, alo_id, None, raw, {}, [], None))
        yield (alo_id, 1, started.type, started.data, 1.0)
        if not (every and n % every == 0 and n // every < pending):
            yield (alo_id, 2, completed.type, completed.data, 2.0)


def bench_raw(path: str, promises: int) -> float:
    """Promises/s (two events each) of plain executemany appends, 1000 rows a commit."""
    EventLog.open(path).close()  # the same schema and indexes
    rows = list(event_rows(promises))
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    began = time.perf_counter()
    for at in range(0, len(rows), 1000):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(INSERT, rows[at : at + 1000])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - began
    conn.close()
    return promises / elapsed


class PromiseActor(pykka.ThreadingActor):
    """The design the project replaced: an OS thread per promise."""

    def __init__(self, log: EventLog, alo_id: str) -> None:
        super().__init__()
        self.log = log
        self.alo_id = alo_id
        self.version = 0
        self.result: Any = None

    def on_receive(self, message: Any) -> Any:
        kind, value = message
        raw = msgspec.Raw(msgspec.msgpack.encode(value))
        if kind == "start":
            event: Any = Started(time.time(), self.alo_id, None, raw, {}, [], None)
        else:
            event = Completed(time.time(), raw, {})
            self.result = value
        self.log.append(self.alo_id, self.version, [CODEC.encode(event)])
        self.version += 1
        return self.result


class InMemoryPromises:
    """The flow's ceiling: promises in a dict, waiters as bare futures, nothing durable."""

    def __init__(self) -> None:
        self.results: dict[str, Any] = {}
        self.waiters: dict[str, list[asyncio.Future[Any]]] = {}

    async def start(self, id: str, operation: str | None = None, input: Any = None) -> Any:
        if id in self.results:
            raise KeyError(id)
        self.results[id] = None
        return id

    async def complete(self, id: str, result: Any = None) -> Any:
        self.results[id] = result
        for waiter in self.waiters.pop(id, ()):
            waiter.set_result(result)
        return id

    async def get_result(self, id: str, timeout: float | None = None) -> Any:
        future = asyncio.get_running_loop().create_future()
        self.waiters.setdefault(id, []).append(future)
        return await asyncio.wait_for(future, timeout)


def bench_in_memory(promises: int, in_flight: int) -> float:
    ids = [f"p{i}" for i in range(promises)]
    return promises / asyncio.run(promise_flow(InMemoryPromises(), ids, in_flight))


def bench_thread_per_alo(path: str, promises: int, in_flight: int) -> float:
    log = EventLog.open(path)
    began = time.perf_counter()
    try:
        for wave in range(0, promises, in_flight):
            ids = [f"p{i}" for i in range(wave, min(wave + in_flight, promises))]
            refs = [PromiseActor.start(log, alo_id) for alo_id in ids]
            for future in [ref.ask(("start", i), block=False) for i, ref in enumerate(refs)]:
                future.get(timeout=60)
            futures = [ref.ask(("complete", i), block=False) for i, ref in enumerate(refs)]
            for i, future in enumerate(futures):
                if future.get(timeout=60) != i:
                    raise AssertionError("wrong result")
            for ref in refs:
                ref.stop(block=False)
    finally:
        pykka.ActorRegistry.stop_all()
        log.close()
    return promises / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--promises", type=int, default=50_000)
    parser.add_argument("--in-flight", type=int, default=1_000)
    parser.add_argument("--against", metavar="REV", help="a git revision to compare with")
    parser.add_argument("--rounds", type=int, default=6, help="paired rounds of --against")
    parser.add_argument(
        "--threads", action="store_true", help="CPU per promise of each thread, both flows"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        alo = bench_alo(os.path.join(tmp, "alo.db"), args.promises, args.in_flight)
        batches = bench_alo_batches(os.path.join(tmp, "batch.db"), args.promises, args.in_flight)
        # What the garbage collector costs: the same flow with it off (not a setting
        # to run with: cyclic garbage would pile up).
        gc.disable()
        try:
            alo_no_gc = bench_alo(os.path.join(tmp, "alo-no-gc.db"), args.promises, args.in_flight)
        finally:
            gc.enable()
        alo_uv = bench_alo(
            os.path.join(tmp, "alo-uv.db"), args.promises, args.in_flight, uvloop=True
        )
        raw = bench_raw(os.path.join(tmp, "raw.db"), args.promises)
        threads = bench_thread_per_alo(
            os.path.join(tmp, "threads.db"), min(args.promises, 10_000), args.in_flight
        )
        ceiling = bench_in_memory(args.promises, args.in_flight)
        proto, proto_batches = bench_prototype(
            os.path.join(tmp, "prototype.db"), args.promises, args.in_flight
        )
        alone, alone_batches = bench_prototype(
            os.path.join(tmp, "prototype-1.db"), args.promises, args.in_flight, one_thread=True
        )
        dbos = _dbos_rows(tmp, args.promises, args.in_flight)
    print(f"promises: {args.promises}, in flight: {args.in_flight}, cores: {os.cpu_count()}")
    rows = [
        ("alo-actor (public asyncio API)", alo),
        ("alo-actor, the same on uvloop", alo_uv),
        ("alo-actor, the collector off (gc.disable)", alo_no_gc),
        ("alo-actor, batch verbs (100 ALOs a call)", batches),
        ("raw sqlite3 executemany (2 rows each)", raw),
        ("one pykka thread-actor per ALO", threads),
        ("in-memory ceiling (dict + futures)", ceiling),
        ("three-thread prototype, per call", proto),
        ("three-thread prototype, batches of 100", proto_batches),
        ("the prototype on one thread, per call", alone),
        ("the prototype on one thread, batches of 100", alone_batches),
        *dbos,
    ]
    print(f"{'design':<52}{'promises/s':>12}{'alo-actor is':>16}")
    for name, rate in rows:
        print(f"{name:<52}{rate:>12,.0f}{alo / rate:>15.2f}x")
    print(
        f"against the in-memory ceiling: per call {alo / ceiling:.2f}x (goal 0.25), "
        f"batches of 100 {batches / ceiling:.2f}x (goal 0.45); "
        f"the prototype {proto / ceiling:.2f}x and {proto_batches / ceiling:.2f}x "
        f"(on one thread {alone / ceiling:.2f}x and {alone_batches / ceiling:.2f}x)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        per_promise, left = objects_held(os.path.join(tmp, "objects.db"), 100_000, args.in_flight)
    print(
        f"objects tracked per promise in flight: {per_promise:.0f}; "
        f"left after 100,000 promises, collected: {left:+,d}"
    )
    if args.threads:
        _print_threads(args.promises, args.in_flight)
    if args.against:
        _print_against(args.against, args.promises, args.in_flight, args.rounds)


def thread_cpu() -> dict[str, float]:
    """CPU seconds (user and system) of each thread of this process, by thread name
    (Linux: ``/proc/self/task``; a thread not started by ``threading``: its id)."""
    names = {thread.native_id: thread.name for thread in threading.enumerate()}
    tick = os.sysconf("SC_CLK_TCK")
    spent: dict[str, float] = {}
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # ended meanwhile
            continue
        name = names.get(int(task), task)
        spent[name] = spent.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return spent


def _cpu_by_thread(flow: Any, promises: int) -> tuple[float, dict[str, float]]:
    """The promises/s of ``asyncio.run(flow())``, and the microseconds of CPU each
    thread spent per promise (threads that spent next to none left out)."""
    before = thread_cpu()
    began = time.perf_counter()
    asyncio.run(flow())
    rate = promises / (time.perf_counter() - began)
    after = thread_cpu()
    per = {name: (cpu - before.get(name, 0.0)) * 1e6 / promises for name, cpu in after.items()}
    return rate, {name: us for name, us in per.items() if us >= 0.5}


def _print_threads(promises: int, in_flight: int) -> None:
    from benchmarks._prototype import PrototypePromises

    ids = [f"p{i}" for i in range(promises)]
    with tempfile.TemporaryDirectory() as tmp:
        for flow in ("per call", "batches of 100"):
            for design in ("alo-actor", "prototype"):
                path = os.path.join(tmp, f"{design}-{flow}.db")
                api: Any
                if design == "alo-actor":
                    api = AloSystem.open(path)
                    face = api.aio
                else:
                    api = face = PrototypePromises(path)
                try:
                    rate, per = _cpu_by_thread(_flow(flow, face, ids, in_flight), promises)
                finally:
                    api.close()
                threads = ", ".join(
                    f"{name} {us:.1f}" for name, us in sorted(per.items(), key=lambda i: -i[1])
                )
                print(
                    f"{design}, {flow}: {rate:,.0f}/s; CPU us per promise: {threads} "
                    f"(all {sum(per.values()):.1f}; wall {1e6 / rate:.1f})"
                )


# Run by benchmarks._against from the tree under test: promises, in flight, a directory.
_FLOWS = """
import json, os, sys
sys.path.insert(0, ".")
from benchmarks.bench_core import bench_alo, bench_alo_batches
promises, in_flight, work = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
print(json.dumps({
    "per call": bench_alo(os.path.join(work, "a.db"), promises, in_flight),
    "batches of 100": bench_alo_batches(os.path.join(work, "b.db"), promises, in_flight),
}))
"""


def _print_against(rev: str, promises: int, in_flight: int, rounds: int) -> None:
    from benchmarks._against import against

    pairs = against(rev, _FLOWS, [str(promises), str(in_flight)], rounds)
    for flow in pairs[0][0]:
        ratios = [here[flow] / there[flow] for there, here in pairs]
        print(
            f"{flow}, this tree / {rev}: {statistics.median(ratios):.2f}x "
            f"(rounds {', '.join(f'{r:.2f}' for r in ratios)}; promises/s "
            f"{statistics.median(t[flow] for t, _ in pairs):,.0f} there, "
            f"{statistics.median(h[flow] for _, h in pairs):,.0f} here)"
        )


def _dbos_rows(tmp: str, promises: int, in_flight: int) -> list[tuple[str, float]]:
    """DBOS's two flows (fewer promises: it runs at a few hundred a second), or none,
    said so, when dbos is not installed."""
    from benchmarks._baselines import bench_dbos, installed_version

    version = installed_version("dbos")
    if version is None:
        print("DBOS Transact: not installed (pip install dbos==3.4.0), skipped")
        return []
    rows = []
    for workflow, count, name in (
        ("returns", min(promises, 3_000), "workflow returns at once"),
        ("recv", min(promises, 1_000), "recv, completed by send"),
    ):
        path = os.path.join(tmp, f"dbos-{workflow}.db")
        figures = bench_dbos(path, count, in_flight, workflow, "normal")
        rows.append((f"DBOS {version} (SQLite WAL), {name}", figures["promises_per_s"]))
    return rows


if __name__ == "__main__":
    main()
