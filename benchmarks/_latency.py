"""Latency under a paced (open-loop) load: start acknowledged, complete -> waiter woken."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from alo_actor import AloSystem
from benchmarks._baselines import InMemoryPromises
from benchmarks.bench_core import PromiseApi
from eventlog import Durability


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50, p99, p99.9 and max of ``samples`` (seconds), in milliseconds."""
    if not samples:
        return {"p50_ms": 0.0, "p99_ms": 0.0, "p99_9_ms": 0.0, "max_ms": 0.0}
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return {
        "p50_ms": at(0.5),
        "p99_ms": at(0.99),
        "p99_9_ms": at(0.999),
        "max_ms": ordered[-1] * 1000,
    }


async def _paced(aio: PromiseApi, rate: float, duration: float) -> dict[str, Any]:
    total = max(1, int(rate * duration))
    started: list[float] = []
    woken: list[float] = []
    lag: list[float] = []

    async def wait(alo_id: str, i: int, completing: list[float]) -> None:
        if await aio.get_result(alo_id) != i:
            raise AssertionError("wrong result")
        woken.append(time.perf_counter() - completing[0])

    async def one(i: int, due: float) -> None:
        alo_id = f"l{i}"
        began = time.perf_counter()
        lag.append(began - due)
        await aio.start(alo_id, input=i)
        started.append(time.perf_counter() - began)
        completing = [0.0]
        waiter = asyncio.ensure_future(wait(alo_id, i, completing))
        await asyncio.sleep(0)  # the waiter's request leaves before the completion
        completing[0] = time.perf_counter()
        await aio.complete(alo_id, i)
        await waiter

    tasks: list[asyncio.Task[None]] = []
    began = time.perf_counter()
    launched = 0
    while launched < total:
        due_now = min(total, int((time.perf_counter() - began) * rate) + 1)
        while launched < due_now:
            tasks.append(asyncio.ensure_future(one(launched, began + launched / rate)))
            launched += 1
        await asyncio.sleep(0.0005)
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - began
    return {
        "target_rate": rate,
        "achieved_rate": total / elapsed,
        "promises": total,
        "start_ack": percentiles(started),
        "complete_to_woken": percentiles(woken),
        "pacer_lag": percentiles(lag),
        "samples_start_ack_ms": [s * 1000 for s in started],
        "samples_complete_to_woken_ms": [s * 1000 for s in woken],
    }


def bench_latency(
    path: str, rate: float, duration: float, durability: Durability = "normal"
) -> dict[str, Any]:
    """Start promises at ``rate`` per second for ``duration`` seconds, each completed
    as soon as its start is acknowledged, and time both steps of each."""
    system = AloSystem.open(path, durability=durability)
    try:
        return asyncio.run(_paced(system.aio, rate, duration))
    finally:
        system.close()


def bench_latency_in_memory(rate: float, duration: float) -> dict[str, Any]:
    """The same paced load on asyncio futures in a dict: the floor this machine sets
    (event-loop wake-ups, the other processes sharing its cores)."""
    return asyncio.run(_paced(InMemoryPromises(), rate, duration))
