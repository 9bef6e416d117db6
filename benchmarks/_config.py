"""The sizes of a ``python -m benchmarks`` run: ``QUICK`` (a smoke test) or ``FULL``."""

from __future__ import annotations

from dataclasses import dataclass

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
    dbos_promises: dict[str, int]  # "workflow/durability" -> promises per run
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
    dbos_promises={"returns/normal": 200, "recv/normal": 50},
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
    # DBOS runs at ~300/s (returns) and ~90/s (recv) with WAL, ~10x slower as shipped.
    dbos_promises={
        "returns/normal": 3_000,
        "recv/normal": 1_000,
        "returns/shipped": 300,
        "recv/shipped": 150,
    },
    latency_seconds=5.0,
    latency_fractions=(0.1, 0.25, 0.5),
    recovery_events=(100_000, 1_000_000),
    recovery_pending=1_000,
    memory_pending=(100_000, 1_000_000),
    memory_timeout=1_200,
    growth_events=1_000_000,
    growth_batch=25_000,
)
