"""The scenarios of ``python -m benchmarks``: each measures, best of ``repeat`` runs."""

from __future__ import annotations

import asyncio
import glob
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alo_actor import AloSystem
from benchmarks import _baselines, _latency, _memory, _recovery
from benchmarks._progress import Progress
from benchmarks.bench_core import bench_alo, bench_raw, bench_thread_per_alo, promise_flow

PEAK_IN_FLIGHT = 1_000


@dataclass(frozen=True)
class Config:
    """Sizes of one run: ``QUICK`` (a smoke test) or ``FULL``."""

    name: str
    repeat: int
    promises: dict[int, int]  # in flight -> promises per run
    raw_promises: int
    in_memory_promises: int
    thread_promises: int
    eventsourcing_promises: int
    eventsourcing_threads: int
    latency_seconds: float
    latency_fractions: tuple[float, ...]  # of the peak rate; 0.5 is the goal's
    recovery_events: tuple[int, ...]
    recovery_pending: int
    memory_pending: tuple[int, ...]
    memory_timeout: float
    growth_events: int
    growth_batch: int


QUICK = Config(
    name="quick",
    repeat=1,
    promises={1: 200, 10: 1_000, 100: 2_000, 1_000: 5_000},
    raw_promises=5_000,
    in_memory_promises=5_000,
    thread_promises=1_000,
    eventsourcing_promises=100,
    eventsourcing_threads=4,
    latency_seconds=1.0,
    latency_fractions=(0.25, 0.5),
    recovery_events=(10_000, 50_000),
    recovery_pending=1_000,
    memory_pending=(10_000,),
    memory_timeout=120,
    growth_events=10_000,
    growth_batch=1_250,
)

FULL = Config(
    name="full",
    repeat=3,
    promises={1: 2_000, 10: 10_000, 100: 30_000, 1_000: 50_000},
    raw_promises=100_000,
    in_memory_promises=100_000,
    thread_promises=10_000,
    eventsourcing_promises=3_000,
    eventsourcing_threads=4,
    latency_seconds=5.0,
    latency_fractions=(0.1, 0.25, 0.5),
    recovery_events=(100_000, 1_000_000),
    recovery_pending=1_000,
    memory_pending=(100_000, 1_000_000),
    memory_timeout=1_200,
    growth_events=1_000_000,
    growth_batch=25_000,
)


class Bench:
    """Runs scenarios with one config, in one scratch directory, reporting progress."""

    def __init__(self, config: Config, tmp: str, progress: Progress) -> None:
        self.config = config
        self.tmp = tmp
        self.progress = progress
        self._files = 0

    def path(self, name: str) -> str:
        """A new log file in the scratch directory (the previous ones are removed)."""
        for old in glob.glob(os.path.join(self.tmp, "*.db*")):
            os.remove(old)
        self._files += 1
        return os.path.join(self.tmp, f"{name}-{self._files}.db")

    def on_new_log(self, bench: Callable[..., float], *args: Any) -> Callable[[], float]:
        """``bench(path, *args)`` with a new log file each time it is called."""
        return lambda: bench(self.path(bench.__name__), *args)

    def best(self, label: str, run: Callable[[], float], promises: int) -> dict[str, Any]:
        """The best (highest) of ``repeat`` runs of ``run``, and the least CPU time (of
        every thread of this process) per promise: a figure that the other processes
        sharing the machine disturb far less than the rate."""
        runs: list[float] = []
        cpu: list[float] = []
        with self.progress.step(label) as step:
            for _ in range(self.config.repeat):
                began = time.process_time()
                runs.append(run())
                cpu.append((time.process_time() - began) / promises * 1e6)
            step.result = f"{max(runs):,.0f} promises/s, {min(cpu):,.0f} CPU us each" + (
                f" (runs: {', '.join(f'{r:,.0f}' for r in runs)})" if len(runs) > 1 else ""
            )
        return {"best": max(runs), "runs": runs, "cpu_us_per_promise": min(cpu)}

    # -- scenarios -----------------------------------------------------------------

    def throughput(self, results: dict[str, Any]) -> dict[str, Any]:
        """Durable promises/s, start -> complete -> waiter woken, at each in-flight level."""
        by_in_flight: dict[str, Any] = {}
        for in_flight, promises in self.config.promises.items():
            measured = self.best(
                f"throughput: alo-actor, {in_flight:,} in flight, {promises:,} promises",
                self.on_new_log(bench_alo, promises, in_flight),
                promises,
            )
            by_in_flight[str(in_flight)] = {
                "promises": promises,
                "promises_per_s": measured["best"],
                "runs": measured["runs"],
                "cpu_us_per_promise": measured["cpu_us_per_promise"],
            }
        promises = self.config.promises[PEAK_IN_FLIGHT]
        full = self.best(
            f"throughput: alo-actor, durability='full', {PEAK_IN_FLIGHT:,} in flight",
            self.on_new_log(bench_alo, promises, PEAK_IN_FLIGHT, "full"),
            promises,
        )
        return {
            "in_flight": by_in_flight,
            "durability_full": {
                "in_flight": PEAK_IN_FLIGHT,
                "promises": promises,
                "promises_per_s": full["best"],
                "runs": full["runs"],
                "cpu_us_per_promise": full["cpu_us_per_promise"],
            },
        }

    def baselines(self, results: dict[str, Any]) -> dict[str, Any]:
        """The same flow without the engine: the disk's limit, no durability, threads,
        and the eventsourcing library."""
        c = self.config
        raw = self.best(
            f"baseline: raw sqlite3 executemany, {c.raw_promises * 2:,} events",
            self.on_new_log(bench_raw, c.raw_promises),
            c.raw_promises,
        )
        memory = self.best(
            f"baseline: asyncio futures in a dict, {PEAK_IN_FLIGHT:,} in flight",
            lambda: _baselines.bench_in_memory(c.in_memory_promises, PEAK_IN_FLIGHT),
            c.in_memory_promises,
        )
        threads = self.best(
            f"baseline: one pykka thread-actor per ALO, {PEAK_IN_FLIGHT:,} in flight",
            self.on_new_log(bench_thread_per_alo, c.thread_promises, PEAK_IN_FLIGHT),
            c.thread_promises,
        )
        out: dict[str, Any] = {
            "raw_sqlite": {
                "promises": c.raw_promises,
                "promises_per_s": raw["best"],
                "events_per_s": raw["best"] * 2,
                "runs": raw["runs"],
                "cpu_us_per_promise": raw["cpu_us_per_promise"],
            },
            "in_memory_futures": {
                "promises": c.in_memory_promises,
                "in_flight": PEAK_IN_FLIGHT,
                "promises_per_s": memory["best"],
                "runs": memory["runs"],
                "cpu_us_per_promise": memory["cpu_us_per_promise"],
            },
            "thread_per_alo": {
                "promises": c.thread_promises,
                "in_flight": PEAK_IN_FLIGHT,
                "promises_per_s": threads["best"],
                "runs": threads["runs"],
                "cpu_us_per_promise": threads["cpu_us_per_promise"],
            },
        }
        out["eventsourcing"] = self._eventsourcing()
        return out

    def _eventsourcing(self) -> dict[str, Any]:
        c = self.config
        version = _baselines.eventsourcing_version()
        if version is None:
            self.progress.line("baseline: eventsourcing is not installed: skipped")
            return {"skipped": "eventsourcing is not installed (pip install eventsourcing==9.5.6)"}
        variants: dict[str, Any] = {}
        for durability in ("normal", "full"):
            for threads in (0, c.eventsourcing_threads):
                how = "a loop on one thread" if threads == 0 else f"{threads} threads"
                measured = self.best(
                    f"baseline: eventsourcing {version}, SQLite synchronous={durability.upper()},"
                    f" {how}, {c.eventsourcing_promises:,} promises",
                    self.on_new_log(
                        _baselines.bench_eventsourcing,
                        c.eventsourcing_promises,
                        threads,
                        durability,
                    ),
                    c.eventsourcing_promises,
                )
                variants[f"{durability}/{threads}"] = {
                    "durability": durability,
                    "threads": threads,
                    "how": how,
                    "promises_per_s": measured["best"],
                    "runs": measured["runs"],
                    "cpu_us_per_promise": measured["cpu_us_per_promise"],
                }
        return {
            "version": version,
            "promises": c.eventsourcing_promises,
            "variants": list(variants.values()),
            "best": max(variants.values(), key=_rate),  # the ratios are taken to this one
        }

    def latency(self, results: dict[str, Any]) -> dict[str, Any]:
        """Latency percentiles at fractions of the peak rate (paced: an open-loop load).

        The goal is judged at half the peak; the lower rates show where latency is
        still low when the engine cannot batch as much as at its peak.
        """
        peak = results.get("throughput", {}).get("in_flight", {}).get(str(PEAK_IN_FLIGHT))
        if peak is not None:
            peak_rate = float(peak["promises_per_s"])
            source = "the throughput scenario"
        else:
            with self.progress.step("latency: probing the peak rate") as step:
                peak_rate = bench_alo(
                    self.path("probe"), self.config.promises[PEAK_IN_FLIGHT], PEAK_IN_FLIGHT
                )
                step.result = f"{peak_rate:,.0f} promises/s"
            source = "a probe run at 1,000 in flight"
        seconds = self.config.latency_seconds
        points: list[dict[str, Any]] = []
        for fraction in self.config.latency_fractions:
            rate = peak_rate * fraction
            runs: list[dict[str, Any]] = []
            with self.progress.step(
                f"latency: {rate:,.0f} promises/s ({fraction:.0%} of peak) paced for {seconds:g} s"
            ) as step:
                for _ in range(self.config.repeat):
                    runs.append(_latency.bench_latency(self.path("latency"), rate, seconds))
                best = dict(min(runs, key=lambda r: r["start_ack"]["p99_ms"]))
                step.result = (
                    f"start ack p99 {best['start_ack']['p99_ms']:.2f} ms, "
                    f"complete->woken p99 {best['complete_to_woken']['p99_ms']:.2f} ms"
                )
            best["fraction"] = fraction
            best["runs_p99_start_ack_ms"] = [r["start_ack"]["p99_ms"] for r in runs]
            if fraction == 0.5:
                floor = _latency.bench_latency_in_memory(rate, seconds)
                best["in_memory_floor"] = {
                    k: floor[k] for k in ("achieved_rate", "start_ack", "complete_to_woken")
                }
            points.append(best)
        return {"peak_rate": peak_rate, "peak_from": source, "rates": points}

    def recovery(self, results: dict[str, Any]) -> dict[str, Any]:
        """Seconds for ``AloSystem.open`` of logs of each size, with ALOs pending.

        The log is written with raw executemany, so the first open also builds whatever
        the engine derives from the events (its read model); that open is reported
        apart, and the goal is judged on the opens after it: a process restarting.
        """
        pending = self.config.recovery_pending
        sizes: dict[str, Any] = {}
        for events in self.config.recovery_events:
            path = self.path("recovery")
            with self.progress.step(f"recovery: building a log of {events:,} events") as step:
                build_s, pending_id, done_id = _recovery.build_log(path, events, pending)
                step.result = f"{os.path.getsize(path) / 1e6:,.0f} MB"
            with self.progress.step(
                "recovery: first AloSystem.open of the raw-built log (derived tables built)"
            ) as step:
                first = _recovery.time_open(path, pending_id, done_id)
                step.result = f"{first['open_s']:.3f} s"
            opens: list[dict[str, Any]] = []
            with self.progress.step(
                f"recovery: AloSystem.open (a restart), {events:,} events, {pending:,} pending"
            ) as step:
                for _ in range(self.config.repeat):
                    opens.append(_recovery.time_open(path, pending_id, done_id))
                best = min(opens, key=lambda o: float(o["open_s"]))
                step.result = f"{best['open_s']:.3f} s"
            sizes[str(events)] = {
                "events": events,
                "pending": pending,
                "build_s": build_s,
                "file_bytes": os.path.getsize(path),
                "first_open_s": first["open_s"],
                "open_s": best["open_s"],
                "rss_growth_bytes": best["rss_growth_bytes"],
                "runs": [o["open_s"] for o in opens],
            }
        return {"sizes": sizes}

    def memory(self, results: dict[str, Any]) -> dict[str, Any]:
        """Resident bytes per pending ALO (and per pending asyncio future)."""
        out: dict[str, Any] = {"alo": {}, "in_memory_futures": {}}
        for pending in self.config.memory_pending:
            with self.progress.step(f"memory: {pending:,} pending ALOs") as step:
                alo = _memory.measure_pending(
                    "alo", pending, self.path("memory"), self.config.memory_timeout
                )
                step.result = (
                    f"{alo['bytes_per_pending']:,.0f} bytes each "
                    f"(started at {alo['starts_per_s']:,.0f}/s)"
                )
            with self.progress.step(f"memory: {pending:,} pending asyncio futures") as step:
                futures = _memory.measure_pending(
                    "futures", pending, self.path("memory"), self.config.memory_timeout
                )
                step.result = f"{futures['bytes_per_pending']:,.0f} bytes each"
            out["alo"][str(pending)] = alo
            out["in_memory_futures"][str(pending)] = futures
        return out

    def growth(self, results: dict[str, Any]) -> dict[str, Any]:
        """Throughput of successive batches while one log grows to ``growth_events``."""
        c = self.config
        points: list[dict[str, Any]] = []
        system = AloSystem.open(self.path("growth"))

        async def run() -> None:
            done = 0
            while done * 2 < c.growth_events:
                ids = [f"g{i}" for i in range(done, done + c.growth_batch)]
                cpu = time.process_time()
                elapsed = await promise_flow(system.aio, ids, PEAK_IN_FLIGHT)
                points.append(
                    {
                        "log_events_before": done * 2,
                        "promises": len(ids),
                        "promises_per_s": len(ids) / elapsed,
                        "cpu_us_per_promise": (time.process_time() - cpu) / len(ids) * 1e6,
                    }
                )
                done += len(ids)

        with self.progress.step(
            f"growth: batches of {c.growth_batch:,} promises, log 0 -> {c.growth_events:,} events"
        ) as step:
            began = time.perf_counter()
            try:
                asyncio.run(run())
            finally:
                system.close()
            rates = [p["promises_per_s"] for p in points]
            overall = sum(p["promises"] for p in points) / (time.perf_counter() - began)
            step.result = (
                f"first {rates[0]:,.0f}/s, last {rates[-1]:,.0f}/s, overall {overall:,.0f}/s"
            )
        return {"batch": c.growth_batch, "in_flight": PEAK_IN_FLIGHT, "points": points}


def _rate(variant: dict[str, Any]) -> float:
    return float(variant["promises_per_s"])


SCENARIOS: tuple[str, ...] = ("throughput", "baselines", "latency", "recovery", "memory", "growth")
