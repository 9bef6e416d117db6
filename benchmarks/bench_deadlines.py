"""The cost of armed deadlines on start throughput.

    python -m benchmarks.bench_deadlines [--armed N] [--starts M]

Starts M ALOs through the public asyncio API on a system with no deadlines armed,
then on one with N ALOs already started with a (far) deadline, M of them again
with deadlines: both figures in the same run, and their ratio. Target: under 20%
slower with 100,000 armed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time

from alo_actor import AloSystem

IN_FLIGHT = 1_000


async def _start_all(system: AloSystem, prefix: str, count: int, timeout: float | None) -> float:
    async def worker(first: int) -> None:
        for i in range(first, count, IN_FLIGHT):
            await system.aio.start(f"{prefix}{i}", timeout=timeout)

    began = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(IN_FLIGHT)))
    return count / (time.perf_counter() - began)


def measure(path: str, armed: int, starts: int) -> float:
    system = AloSystem.open(path)
    try:
        if armed:
            asyncio.run(_start_all(system, "armed-", armed, timeout=86_400.0))
        timeout = 86_400.0 if armed else None
        return asyncio.run(_start_all(system, "measured-", starts, timeout))
    finally:
        system.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--armed", type=int, default=100_000)
    parser.add_argument("--starts", type=int, default=30_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        none = measure(os.path.join(tmp, "none.db"), 0, args.starts)
        armed = measure(os.path.join(tmp, "armed.db"), args.armed, args.starts)
    print(f"starts/s with no deadline armed:        {none:>10,.0f}")
    print(f"starts/s with {args.armed:,} deadlines armed: {armed:>10,.0f}")
    print(f"slower by: {1 - armed / none:.1%} (target: under 20%)")


if __name__ == "__main__":
    main()
