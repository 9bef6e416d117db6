"""Resident memory per pending ALO, measured in a fresh process from /proc/self/status.

RSS is read after a warm-up (the engine's threads, caches and pools exist) and again
after N ALOs were started through the public API and left RUNNING (external promises:
nothing completes them), both after a full garbage collection.

    python -m benchmarks._memory alo|futures N PATH    (the child: prints JSON)
"""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import time
from typing import Any

WARM_UP = 2_000
IN_FLIGHT = 1_000


def rss_bytes() -> int:
    """This process's resident set size (VmRSS)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def measure_pending(kind: str, pending: int, path: str, timeout: float) -> dict[str, Any]:
    """Run the child for ``kind`` ("alo" or "futures") and return what it measured."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks._memory", kind, str(pending), path],
        check=True,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


async def _start_many(start: Any, prefix: str, count: int) -> None:
    async def worker(first: int) -> None:
        for i in range(first, count, IN_FLIGHT):
            await start(f"{prefix}{i}")

    await asyncio.gather(*(worker(k) for k in range(min(IN_FLIGHT, count))))


async def _alo(pending: int, path: str) -> dict[str, Any]:
    from alo_actor import AloSystem, Status

    system = AloSystem.open(path)
    try:
        aio = system.aio
        warm = [f"w{i}" for i in range(WARM_UP)]
        await _start_many(aio.start, "w", WARM_UP)
        await asyncio.gather(*(aio.complete(alo_id) for alo_id in warm))
        gc.collect()
        before = rss_bytes()
        began = time.perf_counter()
        await _start_many(aio.start, "p", pending)
        elapsed = time.perf_counter() - began
        gc.collect()
        after = rss_bytes()
        for alo_id in ("p0", f"p{pending - 1}"):
            if (await aio.get_info(alo_id)).status is not Status.RUNNING:
                raise AssertionError(f"{alo_id} should be RUNNING")
    finally:
        system.close()
    return {
        "pending": pending,
        "rss_before_bytes": before,
        "rss_after_bytes": after,
        "bytes_per_pending": (after - before) / pending,
        "start_s": elapsed,
        "starts_per_s": pending / elapsed,
        "how": "started through system.aio.start (1,000 in flight), left RUNNING",
    }


async def _futures(pending: int) -> dict[str, Any]:
    from benchmarks._baselines import InMemoryPromises

    promises = InMemoryPromises()
    await _start_many(promises.start, "w", WARM_UP)
    gc.collect()
    before = rss_bytes()
    await _start_many(promises.start, "p", pending)
    gc.collect()
    after = rss_bytes()
    return {
        "pending": pending,
        "rss_before_bytes": before,
        "rss_after_bytes": after,
        "bytes_per_pending": (after - before) / pending,
        "how": "an asyncio future per promise in a dict",
    }


def _child(kind: str, pending: int, path: str) -> None:
    result = asyncio.run(_alo(pending, path) if kind == "alo" else _futures(pending))
    print(json.dumps(result))


if __name__ == "__main__":
    _child(sys.argv[1], int(sys.argv[2]), sys.argv[3])
