"""The scenarios of ``python -m benchmarks``: each measures, best of ``repeat`` runs."""

from __future__ import annotations

import asyncio
import glob
import os
import time
from collections.abc import Callable
from typing import Any

from alo_actor import AloSystem
from benchmarks import _baselines, _latency, _memory, _recovery
from benchmarks._config import PEAK_IN_FLIGHT, Config
from benchmarks._progress import Progress
from benchmarks.bench_core import bench_alo, bench_raw, bench_thread_per_alo, promise_flow

DBOS_WORKFLOWS = {
    # The goal's ratio is taken to this one: the flow as written, and the
    # fastest thing DBOS does with a client's id.
    "returns": "workflow returns at once",
    "recv": "workflow waits in recv, completed by send",
}


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

        def timed() -> tuple[float, float]:
            began = time.process_time()
            rate = run()
            return rate, (time.process_time() - began) / promises * 1e6

        return self.best_measured(label, timed)

    def best_measured(self, label: str, run: Callable[[], tuple[float, float]]) -> dict[str, Any]:
        """As ``best``, for a ``run`` that measures its own (promises/s, CPU us per
        promise): one in a subprocess, whose CPU this process does not see."""
        runs: list[float] = []
        cpu: list[float] = []
        with self.progress.step(label) as step:
            for _ in range(self.config.repeat):
                rate, cpu_us = run()
                runs.append(rate)
                cpu.append(cpu_us)
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
        out["dbos"] = self._dbos()
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

    def _dbos(self) -> dict[str, Any]:
        version = _baselines.installed_version("dbos")
        if version is None:
            self.progress.line("baseline: dbos is not installed: skipped")
            return {"skipped": "dbos is not installed (pip install dbos==3.4.0)"}
        variants = [
            self._dbos_variant(version, key, promises)
            for key, promises in self.config.dbos_promises.items()
        ]
        out: dict[str, Any] = {"version": version, "variants": variants}
        for workflow in DBOS_WORKFLOWS:
            of_kind = [v for v in variants if v["workflow"] == workflow]
            if of_kind:
                out[f"best_{workflow}"] = max(of_kind, key=_rate)
        return out

    def _dbos_variant(self, version: str, key: str, promises: int) -> dict[str, Any]:
        workflow, durability = key.split("/")
        last: dict[str, Any] = {}

        def run() -> tuple[float, float]:
            figures = _baselines.bench_dbos(
                self.path("dbos"), promises, PEAK_IN_FLIGHT, workflow, durability
            )
            last.update(figures)
            return figures["promises_per_s"], figures["cpu_us_per_promise"]

        what = DBOS_WORKFLOWS[workflow]
        sqlite = "WAL, synchronous=NORMAL" if durability == "normal" else "as shipped"
        measured = self.best_measured(
            f"baseline: dbos {version}, {what}, SQLite {sqlite}, "
            f"{PEAK_IN_FLIGHT:,} in flight, {promises:,} promises (a subprocess each)",
            run,
        )
        shipped = " (as DBOS ships)" if durability == "shipped" else ""
        return {
            "workflow": workflow,
            "durability": durability,
            "how": f"{what}, {last['journal_mode']} journal, "
            f"synchronous={last['synchronous']}{shipped}",
            "journal_mode": last["journal_mode"],
            "synchronous": last["synchronous"],
            "executor_threads": last["executor_threads"],
            "promises": promises,
            "in_flight": PEAK_IN_FLIGHT,
            "promises_per_s": measured["best"],
            "runs": measured["runs"],
            "cpu_us_per_promise": measured["cpu_us_per_promise"],
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
