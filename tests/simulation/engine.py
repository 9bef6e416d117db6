"""The systems under test as a simulation opens them, and waiting for them to be quiet."""

from __future__ import annotations

import time
from collections.abc import Sequence

from alo_actor import AloSystem, ManualClock
from alo_actor.delivery import DeliveryOptions
from tests.simulation.execute import Holder, SimulationError
from tests.simulation.handlers import Handlers

DELIVERY = DeliveryOptions(
    initial_interval=1.0,
    backoff_coefficient=2.0,
    maximum_interval=8.0,
    give_up_after=30.0,
    request_timeout=5.0,
)
SETTLE_TIMEOUT = 30.0
SPREAD_TIMEOUT = 20.0  # a handful of heartbeats (one a second by default), on a busy machine
_LOOK = 0.005


def open_system(path: str, clock: ManualClock, handlers: Handlers) -> AloSystem:
    system = AloSystem.open(path, clock=clock, delivery=DELIVERY, workers=8)
    handlers.register(system)
    return system


def quiesce(system: AloSystem, timeout: float = SETTLE_TIMEOUT) -> None:
    """``system.settle()``; a system that does not settle fails the run, not the test."""
    try:
        system.settle(timeout)
    except TimeoutError as exc:
        raise SimulationError(str(exc)) from exc


def quiesce_all(systems: Sequence[AloSystem], timeout: float = SETTLE_TIMEOUT) -> None:
    """Wait until the systems sharing one log are all quiet together.

    Settling one at a time is not enough: one's commit gives another work through its
    follower, and a shard whose holder left or died has nobody to do its work until a
    live member claims it. So: settle them all, round after round, until a round that
    began with every shard held by one of ``systems`` and every system's frontier
    covering the log's head ends with the head where it was (nothing committed since).
    """
    if len(systems) == 1:
        quiesce(systems[0], timeout)
        return
    log = systems[0].log
    members = {system.member for system in systems}
    deadline = time.monotonic() + timeout
    why = ""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SimulationError(f"the systems did not settle together within {timeout} s{why}")
        head = log.head()
        behind = [i for i, system in enumerate(systems) if not system.log.frontier.covers(head)]
        unheld = [lease.shard for lease in log.leases() if lease.owner not in members]
        for system in systems:
            quiesce(system, remaining)
        if not behind and not unheld and log.head() == head:
            return
        why = f": systems {behind} behind the head {head}, shards {unheld} unheld"
        if behind or unheld:
            time.sleep(_LOOK)


class Group:
    """The systems of a run, one ``Holder`` per slot, over one log file and one clock."""

    def __init__(self, path: str, clock: ManualClock, handlers: Handlers, count: int) -> None:
        self.holders = {
            slot: Holder(lambda: open_system(path, clock, handlers)) for slot in range(count)
        }

    def open(self) -> None:
        """Open every slot's system (each joins the log's group)."""
        for holder in self.holders.values():
            holder.open()

    def close(self) -> None:
        """Close every slot's system, one after another (each hands its shards over)."""
        for holder in self.holders.values():
            holder.close()

    def reopen_closed(self) -> list[int]:
        """Open again the systems closed under their lanes; returns their slots."""
        closed = [slot for slot, holder in self.holders.items() if holder.current().closed]
        for slot in closed:
            self.holders[slot].open()
        return closed

    def systems(self) -> list[AloSystem]:
        return [holder.current() for holder in self.holders.values()]

    def quiesce(self) -> None:
        quiesce_all(self.systems())

    def spread(self, timeout: float = SPREAD_TIMEOUT) -> None:
        """Wait until every system holds some of the shards, and every shard is held."""
        systems = self.systems()
        if len(systems) == 1:
            return
        log = systems[0].log
        members = {system.member for system in systems}
        deadline = time.monotonic() + timeout
        while True:
            owners = [lease.owner for lease in log.leases()]
            if set(owners) == members:
                return
            if time.monotonic() > deadline:
                raise SimulationError(f"the shards did not spread over {members} in {timeout} s")
            time.sleep(_LOOK)

    def generations(self) -> dict[int, int]:
        return {slot: holder.generation for slot, holder in self.holders.items()}
