"""What a Python user would pick instead: asyncio futures in a dict, `eventsourcing`, or
DBOS Transact.

Each runs the flow of ``bench_core.promise_flow``: start, complete, the result seen.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
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


def installed_version(package: str) -> str | None:
    """The installed version of ``package``, None when it is not installed."""
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def eventsourcing_version() -> str | None:
    """The installed eventsourcing version, None when it is not installed."""
    return installed_version("eventsourcing")


def bench_eventsourcing(path: str, promises: int, threads: int, durability: str) -> float:
    """See ``benchmarks._eventsourcing.bench_eventsourcing`` (imported only when used)."""
    from benchmarks._eventsourcing import bench_eventsourcing as bench

    return bench(path, promises, threads, durability)


def bench_dbos(
    path: str, promises: int, in_flight: int, workflow: str, durability: str
) -> dict[str, Any]:
    """The figures of ``benchmarks._dbos`` (see there) run in a fresh subprocess on a
    new system database at ``path``: DBOS is a process-wide singleton that can launch
    once and leaves threads and an executor behind. Raises RuntimeError if it fails."""
    command = [sys.executable, "-m", "benchmarks._dbos", path, "--workflow", workflow]
    command += ["--durability", durability, "--promises", str(promises)]
    command += ["--in-flight", str(in_flight)]
    try:
        done = subprocess.run(
            command,
            cwd=Path(__file__).resolve().parent.parent,
            capture_output=True,
            text=True,
            timeout=120 + promises,  # it runs at 10-300 promises/s here
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"the DBOS baseline took over {exc.timeout:.0f} s") from exc
    if done.returncode != 0:
        raise RuntimeError(f"the DBOS baseline failed: {done.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures
