"""Several AloSystems over one log file are one system (semantics §8), in one process:
each system is a member of the log's group as another process would be."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from alo_actor import (
    AloInfo,
    AloSystem,
    HandlerContext,
    NotFound,
    OperationCancelled,
    RetryPolicy,
    Status,
    SystemClock,
)
from tests.conftest import WAIT, wait_until
from tests.receiver import serving

SHARDS = 64


@pytest.fixture
def open_two(db_path: str) -> Iterator[Callable[..., tuple[AloSystem, AloSystem]]]:
    opened: list[AloSystem] = []

    def open_pair(**options: Any) -> tuple[AloSystem, AloSystem]:
        a, b = AloSystem.open(db_path, **options), AloSystem.open(db_path, **options)
        opened.extend((a, b))
        wait_until(lambda: spread(a, b), what="the shards to spread over both systems")
        return a, b

    yield open_pair
    for system in reversed(opened):
        system.close()


def holders(system: AloSystem) -> dict[str, int]:
    counts: dict[str, int] = {}
    for lease in system.log.leases():
        if lease.owner is not None:
            counts[lease.owner] = counts.get(lease.owner, 0) + 1
    return counts


def spread(*systems: AloSystem) -> bool:
    counts = holders(systems[0])
    return sum(counts.values()) == SHARDS and all(counts.get(s.member) for s in systems)


def held_by(system: AloSystem, prefix: str = "alo") -> str:
    """An id whose shard ``system`` holds."""
    leases = system.log.leases()
    for n in itertools.count():
        alo_id = f"{prefix}-{n}"
        if leases[system.log.shard_of(alo_id)].owner == system.member:
            return alo_id
    raise AssertionError("unreachable")


def test_a_waiter_on_one_system_wakes_when_another_settles(open_two: Any) -> None:
    a, b = open_two()
    a.start("x", None)
    got: list[Any] = []
    waiting = threading.Thread(target=lambda: got.append(b.get_result("x", timeout=WAIT)))
    waiting.start()
    a.complete("x", {"n": 1})
    waiting.join(WAIT)
    assert got == [{"n": 1}]


def test_async_waiters_and_subscribers_wake_wherever_they_wait(open_two: Any) -> None:
    a, b = open_two()
    seen: list[AloInfo] = []
    subscribed = threading.Event()

    def note(info: AloInfo) -> None:
        seen.append(info)
        subscribed.set()

    async def run() -> Any:
        await a.aio.start("y", None)
        await b.aio.subscribe("y", note)
        waiter = asyncio.ensure_future(b.aio.get_result("y", timeout=WAIT))
        await asyncio.sleep(0)
        await a.aio.cancel("y", reason="enough")
        with pytest.raises(OperationCancelled):
            await waiter

    asyncio.run(run())
    assert subscribed.wait(WAIT)
    assert [info.status for info in seen] == [Status.CANCELLED]


def test_reads_on_one_system_reflect_writes_acknowledged_on_another(open_two: Any) -> None:
    a, b = open_two()
    for n in range(50):
        alo_id = f"read-{n}"
        a.start(alo_id, None)
        assert b.get_info(alo_id).status is Status.RUNNING  # now cached on b
        a.pause(alo_id)
        assert b.get_info(alo_id).status is Status.PAUSED
        a.complete(alo_id, n)
        assert b.get_result(alo_id, timeout=0) == n
        # A start repeated on b, which writes nothing, answers from the log's state too.
        assert b.start(alo_id, None).status is Status.COMPLETED


def test_an_attempt_runs_where_its_shard_is_held(open_two: Any) -> None:
    a, b = open_two()
    ran: list[tuple[str, str]] = []

    def handler_of(name: str) -> Callable[[HandlerContext, Any], Any]:
        def handle(ctx: HandlerContext, input: Any) -> str:
            ran.append((ctx.id, name))
            return name

        return handle

    a.register("op", handler_of("a"))
    b.register("op", handler_of("b"))
    on_a, on_b = held_by(a, "run"), held_by(b, "run")
    for alo_id in (on_a, on_b):
        a.start(alo_id, "op")  # both started through a
    assert b.get_result(on_a, timeout=WAIT) == "a"
    assert b.get_result(on_b, timeout=WAIT) == "b"
    assert sorted(ran) == sorted([(on_a, "a"), (on_b, "b")])


def test_a_cancel_on_one_system_stops_the_attempt_on_another(open_two: Any) -> None:
    a, b = open_two()
    stopped = threading.Event()

    def linger(ctx: HandlerContext, input: Any) -> None:
        if ctx.cancelled.wait(WAIT):
            stopped.set()

    a.register("linger", linger)
    b.register("linger", linger)
    alo_id = held_by(a, "cancel")
    b.start(alo_id, "linger")
    wait_until(lambda: a.get_info(alo_id).attempt == 1)
    b.cancel(alo_id)
    assert stopped.wait(WAIT), "the attempt on a was never told to stop"


def test_a_resume_where_the_shard_is_not_held_begins_the_attempt_where_it_is(
    open_two: Any,
) -> None:
    a, b = open_two()
    gate = threading.Event()
    runs: list[tuple[str, int]] = []

    def handler_of(name: str) -> Callable[[HandlerContext, Any], Any]:
        def flaky(ctx: HandlerContext, input: Any) -> int:
            runs.append((name, ctx.attempt))
            if ctx.attempt == 1:
                gate.wait(WAIT)
                raise RuntimeError("first attempt fails")
            return ctx.attempt

        return flaky

    now = RetryPolicy(initial_interval=0.0)
    a.register("flaky", handler_of("a"), retry=now)
    b.register("flaky", handler_of("b"), retry=now)
    alo_id = held_by(a, "resume")
    b.start(alo_id, "flaky")
    wait_until(lambda: runs == [("a", 1)])
    b.pause(alo_id)
    gate.set()  # the attempt fails while paused: its retry waits for a resume
    wait_until(lambda: "AttemptFailed" in [e.type for e in b.log.read_stream(alo_id)])
    b.settle()
    a.settle()
    assert runs == [("a", 1)]
    b.resume(alo_id)  # through b, which does not hold the shard: a begins attempt 2
    assert b.get_result(alo_id, timeout=WAIT) == 2
    assert runs == [("a", 1), ("a", 2)]


def test_a_deadline_fires_once_on_the_holder(open_two: Any) -> None:
    a, b = open_two()
    alo_id = held_by(a, "deadline")
    b.start(alo_id, None, timeout=0.2)
    wait_until(lambda: b.get_info(alo_id).status is Status.TIMED_OUT)
    types = [e.type for e in a.log.read_stream(alo_id)]
    assert types == ["Started", "TimedOut"]


def test_a_result_url_is_posted_once_by_the_holder(open_two: Any) -> None:
    a, b = open_two()
    with serving(SystemClock()) as receiver:
        alo_id = held_by(b, "hook")
        a.start(alo_id, None, result_urls=[receiver.url("/hook")])
        a.complete(alo_id, "done")  # settled through a; b holds the shard and posts
        receiver.wait_count("/hook", 1, "the outcome's POST")
        wait_until(lambda: "DeliveriesFinished" in [e.type for e in a.log.read_stream(alo_id)])
        a.settle()
        b.settle()
        assert receiver.count("/hook") == 1


def test_a_purge_on_one_system_is_seen_by_another(open_two: Any) -> None:
    a, b = open_two()
    a.start("old", None)
    a.complete("old", 1)
    assert b.get_info("old").status is Status.COMPLETED  # cached on b
    assert a.purge(settled_before=a.clock.now() + 1) == 1
    with pytest.raises(NotFound):
        b.get_info("old")
    assert b.start("old", None).created  # the id may be used again, from either


def test_closing_one_system_hands_its_alos_to_another_at_once(db_path: str) -> None:
    a, b = AloSystem.open(db_path), AloSystem.open(db_path)
    try:
        runs: list[tuple[str, int]] = []
        release = threading.Event()

        def work(ctx: HandlerContext, input: Any) -> int:
            runs.append((ctx.id, ctx.attempt))
            while not release.is_set():
                if ctx.cancelled.wait(0.01):
                    raise RuntimeError("stopped")
            return ctx.attempt

        a.register("work", work)
        b.register("work", work)
        wait_until(lambda: spread(a, b))
        alo_id = held_by(a, "handover")
        b.start(alo_id, "work")
        wait_until(lambda: runs == [(alo_id, 1)])
        a.close()  # released its leases on the way out: b claims them at its next look
        wait_until(lambda: holders(b) == {b.member: SHARDS}, what="b to hold every shard")
        wait_until(lambda: (alo_id, 2) in runs, what="the attempt to begin again on b")
        release.set()
        assert b.get_result(alo_id, timeout=WAIT) == 2
    finally:
        a.close()
        b.close()


def test_shards_spread_over_three_and_rebalance_as_one_leaves(db_path: str) -> None:
    systems = [AloSystem.open(db_path) for _ in range(3)]
    try:
        wait_until(lambda: spread(*systems), what="the shards to spread over three")
        counts = holders(systems[0])
        assert min(counts.values()) >= 8, counts  # rendezvous hashing: roughly even
        systems[1].close()
        rest = [systems[0], systems[2]]
        wait_until(lambda: spread(*rest) and len(holders(rest[0])) == 2)
        for n in range(20):  # and the two left serve every ALO between them
            rest[n % 2].start(f"after-{n}", None)
            assert rest[(n + 1) % 2].get_info(f"after-{n}").status is Status.RUNNING
    finally:
        for system in systems:
            system.close()
