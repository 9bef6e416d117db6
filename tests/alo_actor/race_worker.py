"""Child process of test_race (spawned by multiprocessing): races another process to
start the same ids in one shared database file."""

from __future__ import annotations

import multiprocessing.synchronize
from multiprocessing.queues import Queue
from typing import Any

from alo_actor import AloSystem, AlreadyExists

BARRIER_TIMEOUT = 20.0


def race(
    path: str,
    name: str,
    *,
    other: str,
    ids: list[str],
    same_input_ids: list[str],
    barrier: multiprocessing.synchronize.Barrier,
    results: Queue[tuple[str, dict[str, Any]]],
) -> None:
    """For each id: wait for the other process at the barrier, then start it.

    ``ids`` are started with this process's own input (``{"by": name}``), so the two
    starts conflict; ``same_input_ids`` with an input both processes share.
    Reports, per id, ``"created"``, ``"repeat"`` or ``"exists"`` and what a start
    with the other process's input said after an ``AlreadyExists``.
    """
    outcome: dict[str, Any] = {}
    with AloSystem.open(path) as system:
        barrier.wait(BARRIER_TIMEOUT)  # both are open
        for alo_id in ids:
            barrier.wait(BARRIER_TIMEOUT)
            try:
                info = system.start(alo_id, None, {"by": name})
                outcome[alo_id] = "created" if info.created else "repeat"
            except AlreadyExists:
                # The winner's input is what is stored: starting with it is a repeat.
                again = system.start(alo_id, None, {"by": other})
                outcome[alo_id] = f"exists, then created={again.created}"
        for alo_id in same_input_ids:
            barrier.wait(BARRIER_TIMEOUT)
            info = system.start(alo_id, None, {"shared": True})
            outcome[alo_id] = "created" if info.created else "repeat"
    results.put((name, outcome))
