"""Quiescence: after ``settle()`` with a ManualClock, work not waiting on the clock is
done and durable (handler steps, subscriber calls, deliveries in flight)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alo_actor import AloInfo, AloSystem, HandlerContext, ManualClock, RetryPolicy, Status
from eventlog import LogReader
from tests.simulation.receiver import Receiver

WAIT = 10.0
T0 = 1000.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=T0)


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "settle.db")


@pytest.fixture
def system(db: str, clock: ManualClock) -> Iterator[AloSystem]:
    with AloSystem.open(db, clock=clock) as opened:
        yield opened


def committed_types(db: str, alo_id: str) -> list[str]:
    """The ALO's events as another connection sees them: what is durable."""
    with LogReader.open(db) as reader:
        return [e.type for e in reader.read_stream(alo_id)]


def slow_sync(ctx: HandlerContext, input: Any) -> Any:
    time.sleep(0.02)  # real time: a handler step in progress, not waiting on the clock
    return {"id": ctx.id}


async def slow_async(ctx: HandlerContext, input: Any) -> Any:
    await asyncio.sleep(0.02)
    return {"id": ctx.id}


def test_after_settle_every_handler_step_is_done_and_durable(system: AloSystem, db: str) -> None:
    system.register("sync", slow_sync)
    system.register("async", slow_async)
    ids = [f"s{i}" for i in range(12)] + [f"a{i}" for i in range(12)]
    for alo_id in ids:
        system.start(alo_id, "sync" if alo_id[0] == "s" else "async")
    system.settle(timeout=WAIT)
    for alo_id in ids:
        assert system.get_info(alo_id).status is Status.COMPLETED, alo_id
        assert committed_types(db, alo_id) == ["Started", "Completed"], alo_id


def test_settle_does_not_wait_for_a_retry_on_the_clock(
    system: AloSystem, clock: ManualClock, db: str
) -> None:
    def fails_first(ctx: HandlerContext, input: Any) -> Any:
        time.sleep(0.01)
        if ctx.attempt == 1:
            raise RuntimeError("not yet")
        return ctx.attempt

    system.register("retry", fails_first, retry=RetryPolicy(initial_interval=5.0))
    system.start("r", "retry")
    system.settle(timeout=WAIT)  # raises if it waits for the retry's clock
    info = system.get_info("r")
    assert (info.status, info.attempt) == (Status.RUNNING, 1)
    assert committed_types(db, "r") == ["Started", "AttemptFailed"]
    clock.advance(4.999)
    system.settle(timeout=WAIT)
    assert committed_types(db, "r") == ["Started", "AttemptFailed"]
    clock.advance(0.001)  # the retry falls due: handed to the handler
    system.settle(timeout=WAIT)
    assert committed_types(db, "r") == ["Started", "AttemptFailed", "AttemptStarted", "Completed"]
    assert system.get_result("r", timeout=WAIT) == 2


def test_settle_waits_for_subscribers_and_what_they_start(system: AloSystem, db: str) -> None:
    system.register("sync", slow_sync)
    seen: list[str] = []
    lock = threading.Lock()

    def follow_up(info: AloInfo) -> None:
        time.sleep(0.02)
        with lock:
            seen.append(info.id)
        if not info.id.startswith("next-"):
            system.start(f"next-{info.id}", "sync")  # more work, found on the next round

    for i in range(5):
        system.start(f"c{i}", "sync")
        system.subscribe(f"c{i}", follow_up)
    system.settle(timeout=WAIT)
    with lock:
        assert sorted(seen) == [f"c{i}" for i in range(5)]
    for i in range(5):
        assert committed_types(db, f"next-c{i}") == ["Started", "Completed"]


def test_settle_waits_for_a_delivery_in_flight(system: AloSystem, db: str) -> None:
    with Receiver(seed=0) as receiver:
        url = receiver.url("/ok/slow")
        original = receiver.answer

        def slow(path: str, body: bytes, webhook_id: str | None, peer: int = 0) -> int:
            time.sleep(0.1)
            return original(path, body, webhook_id, peer)

        receiver.answer = slow  # type: ignore[method-assign]
        # Seed 0 with id "d" and this path: answered 200 at once (no retry on the clock).
        assert receiver.fails("d", "/ok/slow") == 0
        system.start("d", None, result_urls=[url])
        system.complete("d", "ok")
        system.settle(timeout=WAIT)
        assert committed_types(db, "d") == [
            "Started",
            "Completed",
            "DeliveriesDue",
            "Delivered",
            "DeliveriesFinished",
        ]
        assert [p.answered for p in receiver.snapshot()] == [200]


async def test_aio_settle_does_not_block_the_loop(system: AloSystem, db: str) -> None:
    ticked = threading.Event()  # the test's loop has ticked twenty times

    async def slower(ctx: HandlerContext, input: Any) -> Any:
        # Finishes only once the test's loop has run on for a while: a settle that
        # blocked that loop would never see this handler done, and time out.
        while not ticked.is_set():
            await asyncio.sleep(0.001)
        return ctx.id

    await system.aio.register("slower", slower)
    for i in range(5):
        await system.aio.start(f"x{i}", "slower")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            if ticks == 20:
                ticked.set()
            await asyncio.sleep(0.001)

    ticker = asyncio.create_task(tick())
    try:
        await asyncio.wait_for(system.aio.settle(timeout=WAIT), WAIT * 2)
    finally:
        ticker.cancel()
        ticked.set()
    assert ticks >= 20
    for i in range(5):
        assert committed_types(db, f"x{i}") == ["Started", "Completed"]
