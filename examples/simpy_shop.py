"""A coffee shop in SimPy whose orders and payments are durable promises on simulated time.

    python examples/simpy_shop.py --seed 1 [--customers 40] [--db shop.db] [--events]

Customers arrive at random. Each starts two ALOs: its order, an external promise with
a deadline (the shop promises the drink within ``PROMISE`` simulated seconds), and its
payment, run by a ``charge`` handler that a busy gateway makes fail now and then (the
retries back off on the system's clock). Baristas (a SimPy resource) brew orders and
complete them after a simulated service time; a customer who runs out of patience
cancels the order; an order nobody finished in time times out. The system's
``ManualClock`` moves in step with ``env.now``, and ``system.settle()`` after each step
lets every handler step finish before the simulation goes on: one seed, one history,
down to the order of the events in the log.
"""

from __future__ import annotations

import argparse
import math
import random
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import simpy

from alo_actor import AloInfo, AloSystem, HandlerContext, ManualClock, RetryPolicy, Status
from alo_actor._events import CODEC
from alo_actor.logtools import event_fields

PROMISE = 600.0  # simulated seconds from order to drink, or the order times out
MEAN_ARRIVAL = 45.0
BARISTAS = 2
SERVICE = (60.0, 240.0)
PATIENCE = (120.0, 900.0)
GATEWAY_BUSY = 0.3  # chance that one payment attempt fails
PAYMENT_RETRY = RetryPolicy(max_attempts=3, initial_interval=20.0, backoff_coefficient=2.0)
DRINKS = ("espresso", "flat white", "cortado", "chai")
SETTLE_TIMEOUT = 30.0
TICK = 5.0  # the clock never jumps further: retries and deadlines fire on time within it

T = TypeVar("T")


class GatewayBusy(Exception):
    """The payment gateway did not answer this attempt."""


class LogInUse(Exception):
    """The log already holds a run: its ids (order-0, pay-0, ...) are taken."""


@dataclass
class ShopReport:
    """What happened: outcomes per ALO, tallies, and the log's events in order."""

    seed: int
    customers: int
    ended_at: float = 0.0
    orders: dict[str, str] = field(default_factory=dict)  # order id -> final status
    payments: dict[str, str] = field(default_factory=dict)
    payment_attempts: int = 0
    wasted: int = 0  # drinks brewed for an order that had been cancelled or timed out
    waits: list[float] = field(default_factory=list)  # order to drink, for those served
    events: list[tuple[str, str, int, dict[str, Any]]] = field(default_factory=list)

    def summary(self) -> str:
        orders = Counter(self.orders.values())
        payments = Counter(self.payments.values())
        mean = sum(self.waits) / len(self.waits) if self.waits else 0.0
        longest = max(self.waits, default=0.0)
        return "\n".join(
            [
                f"simpy_shop seed={self.seed}: {self.customers} customers, "
                f"{self.ended_at:.1f} s of simulated time",
                f"orders:   {orders['completed']} completed, {orders['cancelled']} cancelled "
                f"(gave up), {orders['timed_out']} timed out",
                f"payments: {payments['completed']} completed, {payments['failed']} failed, "
                f"{self.payment_attempts} attempts",
                f"drinks:   {len(self.waits)} served, {self.wasted} brewed for nobody",
                f"waits:    mean {mean:.1f} s, longest {longest:.1f} s",
                f"log:      {len(self.events)} events",
            ]
        )


class Shop:
    """The SimPy model; every call into the ALO system goes through ``call``."""

    def __init__(self, env: simpy.Environment, system: AloSystem, seed: int, report: ShopReport):
        self.env = env
        self.system = system
        self.rng = random.Random(seed)
        self.seed = seed
        self.report = report
        self.baristas = simpy.Resource(env, capacity=BARISTAS)
        self.ready: dict[str, simpy.Event] = {}

    def call(self, command: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one command, then let the engine finish what it started (handler steps)."""
        value = command(*args, **kwargs)
        self.system.settle(SETTLE_TIMEOUT)
        return value

    def charge(self, ctx: HandlerContext, amount: Any) -> dict[str, Any]:
        """The payment handler: the seed decides which attempts the gateway drops."""
        self.report.payment_attempts += 1
        if random.Random(f"{self.seed}/{ctx.id}/{ctx.attempt}").random() < GATEWAY_BUSY:
            raise GatewayBusy(f"gateway busy on attempt {ctx.attempt}")
        return {"charged": amount, "attempt": ctx.attempt}

    def arrivals(self, customers: int) -> Generator[simpy.Event, Any, None]:
        for n in range(customers):
            yield self.env.timeout(self.rng.expovariate(1.0 / MEAN_ARRIVAL))
            self.env.process(self.customer(n))

    def customer(self, n: int) -> Generator[simpy.Event, Any, None]:
        order, payment = f"order-{n}", f"pay-{n}"
        drink = self.rng.choice(DRINKS)
        patience = self.rng.uniform(*PATIENCE)
        self.call(
            self.system.start,
            order,
            None,
            {"drink": drink},
            metadata={"customer": str(n)},
            timeout=PROMISE,
        )
        self.call(self.system.start, payment, "charge", 4.5, metadata={"order": order})
        ready = self.ready[order] = self.env.event()
        self.env.process(self.brew(order, payment, drink))
        ordered_at = self.env.now
        yield ready | self.env.timeout(patience)
        if ready.triggered:
            self.report.waits.append(self.env.now - ordered_at)
        else:
            self.call(self.system.cancel, order, reason="the customer gave up")

    def brew(self, order: str, payment: str, drink: str) -> Generator[simpy.Event, Any, None]:
        with self.baristas.request() as turn:
            yield turn
            if self.call(self.system.get_info, order).status.terminal:
                return  # gone before its turn: cancelled or timed out
            if self.call(self.system.get_info, payment).status is Status.FAILED:
                self.call(self.system.cancel, order, reason="the payment failed")
                return
            yield self.env.timeout(self.rng.uniform(*SERVICE))
            info: AloInfo = self.call(
                self.system.complete, order, {"drink": drink, "brewed_at": self.env.now}
            )
            if info.status is Status.COMPLETED and not self.ready[order].triggered:
                self.ready[order].succeed()
            else:
                self.report.wasted += 1


def step_together(env: simpy.Environment, clock: ManualClock, system: AloSystem) -> None:
    """Run the simulation, moving the system's clock to each event's time before it.

    The clock moves at most ``TICK`` s at a time, so the engine's own timers (retry
    backoffs, deadlines) fire close to when they fall due even between SimPy events.
    ``clock.set`` returns once what fell due is recorded; ``settle`` then waits for
    the handler attempts that retries began.
    """
    while (when := env.peek()) != math.inf:
        while clock.now() < when:
            clock.set(min(when, clock.now() + TICK))
            system.settle(SETTLE_TIMEOUT)
        env.step()


def run(seed: int, customers: int = 40, db: str = ":memory:") -> ShopReport:
    """Simulate the shop with ``seed``; returns outcomes and the log's event sequence."""
    report = ShopReport(seed, customers)
    clock = ManualClock(start=0.0)
    # One handler worker: attempts that fall due together finish in a fixed order.
    with AloSystem.open(db, clock=clock, workers=1) as system:
        if system.log.last_position():
            raise LogInUse(
                f"{db} already holds a run of the shop (its ids, order-0 and on, are taken): "
                "give another --db, or delete this one"
            )
        env = simpy.Environment()
        shop = Shop(env, system, seed, report)
        system.register("charge", shop.charge, retry=PAYMENT_RETRY)
        env.process(shop.arrivals(customers))
        step_together(env, clock, system)
        report.ended_at = env.now
        clock.advance(PROMISE + 3600.0)  # let what is left time out or run its retries
        system.settle(SETTLE_TIMEOUT)
        for n in range(customers):
            report.orders[f"order-{n}"] = system.get_info(f"order-{n}").status.value
            report.payments[f"pay-{n}"] = system.get_info(f"pay-{n}").status.value
        report.events = list(_events(system))
    return report


def _events(system: AloSystem) -> Iterator[tuple[str, str, int, dict[str, Any]]]:
    for recorded in system.log.read_all():
        fields = event_fields(CODEC.decode(recorded.data))
        yield recorded.type, recorded.stream_id, recorded.version, fields


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--customers", type=int, default=40)
    parser.add_argument("--db", default=":memory:", help="the log file (default: a throwaway)")
    parser.add_argument("--events", action="store_true", help="also print every event")
    args = parser.parse_args(argv)
    try:
        report = run(args.seed, args.customers, args.db)
    except LogInUse as exc:
        parser.exit(2, f"{parser.prog}: {exc}\n")
    print(report.summary())
    if args.events:
        for kind, stream, version, fields in report.events:
            if isinstance(fields.get("failure"), dict):
                fields["failure"].pop("stack_trace", None)
            print(f"{fields.pop('at'):10.3f} {stream} v{version} {kind} {fields}")


if __name__ == "__main__":
    main()
