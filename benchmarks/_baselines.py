"""What a Python user would pick instead: asyncio futures in a dict, or `eventsourcing`.

Both run the flow of ``bench_core.promise_flow``: start, complete, the result seen.
"""

from __future__ import annotations

import asyncio
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from benchmarks.bench_core import promise_flow


class InMemoryPromises:
    """No durability at all: one asyncio future per promise, in a dict."""

    def __init__(self) -> None:
        self.futures: dict[str, asyncio.Future[Any]] = {}

    async def start(self, id: str, operation: str | None = None, input: Any = None) -> Any:
        if id not in self.futures:
            self.futures[id] = asyncio.get_running_loop().create_future()
        return None

    async def complete(self, id: str, result: Any = None) -> Any:
        self.futures[id].set_result(result)
        return None

    async def get_result(self, id: str, timeout: float | None = None) -> Any:
        return await self.futures[id]


def bench_in_memory(promises: int, in_flight: int) -> float:
    ids = [f"p{i}" for i in range(promises)]
    return promises / asyncio.run(promise_flow(InMemoryPromises(), ids, in_flight))


def eventsourcing_version() -> str | None:
    """The installed eventsourcing version, None when it is not installed."""
    try:
        return version("eventsourcing")
    except PackageNotFoundError:
        return None


def bench_eventsourcing(path: str, promises: int, threads: int, durability: str) -> float:
    """See ``benchmarks._eventsourcing.bench_eventsourcing`` (imported only when used)."""
    from benchmarks._eventsourcing import bench_eventsourcing as bench

    return bench(path, promises, threads, durability)
