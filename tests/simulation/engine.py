"""The system under test as a simulation opens it, and waiting for it to be quiet."""

from __future__ import annotations

from alo_actor import AloSystem, ManualClock
from alo_actor.delivery import DeliveryOptions
from tests.simulation.execute import SimulationError
from tests.simulation.handlers import Handlers

DELIVERY = DeliveryOptions(
    initial_interval=1.0,
    backoff_coefficient=2.0,
    maximum_interval=8.0,
    give_up_after=30.0,
    request_timeout=5.0,
)
SETTLE_TIMEOUT = 30.0


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
