"""Acceptance tests of ``system.aio``: every verb as an awaitable that never blocks the loop."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import weakref
from typing import Any

import pytest

from alo_actor import (
    AloError,
    AloSystem,
    AlreadyExists,
    HandlerContext,
    InvalidArgument,
    NotFound,
    OperationCancelled,
    OperationFailed,
    OperationTimedOut,
    RetryPolicy,
    Status,
    SystemClosed,
)
from tests.conftest import WAIT, actor_thread_names, wait_for_waiters


def _unchanged(a: Any, b: Any) -> None:
    for name in a.__struct_fields__:
        if name != "created":
            assert getattr(a, name) == getattr(b, name), name


async def test_start_created_repeat_and_conflict(system: AloSystem) -> None:
    aio = system.aio
    first = await aio.start("a-1", None, {"n": 1}, metadata={"m": "1"})
    assert first.created is True
    assert first.status is Status.RUNNING
    position = system.log.last_position()
    again = await aio.start("a-1", None, {"n": 1}, metadata={"m": "1"}, timeout=5)
    assert again.created is False
    _unchanged(first, again)
    with pytest.raises(AlreadyExists, match="input"):
        await aio.start("a-1", None, {"n": 2}, metadata={"m": "1"})
    assert system.log.last_position() == position


async def test_get_info_and_get_result_of_each_outcome(system: AloSystem) -> None:
    aio = system.aio
    await aio.start("ok", None)
    info = await aio.get_info("ok")
    assert info.status is Status.RUNNING and info.created is None
    done = await aio.complete("ok", [1, "two"], result_metadata={"k": "v"})
    assert done.status is Status.COMPLETED and done.result_metadata == {"k": "v"}
    assert await aio.get_result("ok", timeout=WAIT) == [1, "two"]

    await aio.start("bad", None)
    await aio.fail("bad", "nope", type="Refused", details={"why": "test"})
    with pytest.raises(OperationFailed) as failed:
        await aio.get_result("bad", timeout=WAIT)
    assert type(failed.value) is OperationFailed
    assert failed.value.failure.type == "Refused"
    assert failed.value.failure.details == {"why": "test"}

    await aio.start("gone", None)
    await aio.cancel("gone", "no longer needed")
    with pytest.raises(OperationCancelled) as cancelled:
        await aio.get_result("gone", timeout=WAIT)
    assert cancelled.value.failure.message == "no longer needed"

    started = await aio.start("slow", None, timeout=0.1)
    with pytest.raises(OperationTimedOut) as timed_out:
        await aio.get_result("slow", timeout=WAIT)
    assert timed_out.value.failure.type == "TimedOut"
    assert (await aio.get_info("slow")).settled_at == started.deadline

    with pytest.raises(NotFound):
        await aio.get_info("nobody")
    with pytest.raises(NotFound):
        await aio.get_result("nobody", timeout=0.1)


async def test_get_result_times_out_with_the_builtin_error(system: AloSystem) -> None:
    await system.aio.start("pending", None)
    began = time.monotonic()
    with pytest.raises(TimeoutError) as waited:
        await system.aio.get_result("pending", timeout=0.2)
    assert not isinstance(waited.value, AloError)
    # Not before its timeout; well before WAIT, whatever the machine's load.
    assert 0.19 <= time.monotonic() - began < WAIT
    # The abandoned wait does not disturb a later one.
    await system.aio.complete("pending", "now")
    assert await system.aio.get_result("pending", timeout=WAIT) == "now"


async def test_get_result_with_no_wait_answers_a_settled_alo(system: AloSystem) -> None:
    await system.aio.start("done", None)
    await system.aio.complete("done", "here")
    await system.aio.start("cancelled", None)
    await system.aio.cancel("cancelled")
    for _ in range(20):
        assert await system.aio.get_result("done", timeout=0) == "here"
        with pytest.raises(OperationCancelled):
            await system.aio.get_result("cancelled", timeout=0)
    await system.aio.start("pending", None)
    with pytest.raises(TimeoutError):
        await system.aio.get_result("pending", timeout=0)
    with pytest.raises(NotFound):
        await system.aio.get_result("nobody", timeout=0)


async def test_pause_resume_and_verbs_on_terminal_and_unknown(system: AloSystem) -> None:
    aio = system.aio
    await aio.start("p", None)
    assert (await aio.pause("p")).status is Status.PAUSED
    assert (await aio.pause("p")).status is Status.PAUSED
    assert (await aio.resume("p")).status is Status.RUNNING
    assert (await aio.resume("p")).status is Status.RUNNING
    settled = await aio.complete("p", "first")
    position = system.log.last_position()
    for answer in (
        await aio.complete("p", "second"),
        await aio.fail("p", "second"),
        await aio.cancel("p", "second"),
        await aio.pause("p"),
        await aio.resume("p"),
    ):
        _unchanged(answer, settled)
    assert system.log.last_position() == position
    assert await aio.get_result("p") == "first"
    for verb in (aio.get_info, aio.pause, aio.resume, aio.cancel):
        with pytest.raises(NotFound, match="ghost"):
            await verb("ghost")
    with pytest.raises(NotFound):
        await aio.complete("ghost", 1)
    with pytest.raises(NotFound):
        await aio.fail("ghost", "x")
    assert system.log.last_position() == position


async def test_many_requests_in_one_loop_iteration(system: AloSystem) -> None:
    aio = system.aio
    infos = await asyncio.gather(*(aio.start(f"b-{n}", None, n) for n in range(200)))
    assert all(info.created for info in infos)
    assert [info.id for info in infos] == [f"b-{n}" for n in range(200)]
    await asyncio.gather(*(aio.complete(f"b-{n}", n * 2) for n in range(200)))
    results = await asyncio.gather(*(aio.get_result(f"b-{n}", timeout=WAIT) for n in range(200)))
    assert results == [n * 2 for n in range(200)]


async def test_handlers_sync_and_async_with_aio_register(system: AloSystem) -> None:
    threads: dict[str, str] = {}

    def sync_handler(ctx: HandlerContext, inp: Any) -> Any:
        threads[ctx.id] = threading.current_thread().name
        return {"sync": inp, "attempt": ctx.attempt}

    async def async_handler(ctx: HandlerContext, inp: Any) -> Any:
        threads[ctx.id] = threading.current_thread().name
        await asyncio.sleep(0.01)
        return {"async": inp, "metadata": ctx.metadata}

    await system.aio.register("sync", sync_handler)
    await system.aio.register("async", async_handler)
    await system.aio.start("s", "sync", 1)
    await system.aio.start("a", "async", 2, metadata={"t": "x"})
    assert await system.aio.get_result("s", timeout=WAIT) == {"sync": 1, "attempt": 1}
    assert await system.aio.get_result("a", timeout=WAIT) == {"async": 2, "metadata": {"t": "x"}}
    actors = actor_thread_names()
    assert actors
    assert not set(threads.values()) & actors
    assert not any(name.startswith("EntityHost") for name in threads.values())
    # Handlers do not run on the caller's loop either.
    assert threading.current_thread().name not in threads.values()


async def test_retry_then_fail_with_the_error(system: AloSystem) -> None:
    attempts: list[int] = []

    async def handler(ctx: HandlerContext, inp: Any) -> Any:
        attempts.append(ctx.attempt)
        raise ValueError(f"bad value {ctx.attempt}")

    policy = RetryPolicy(max_attempts=2, initial_interval=0.01)
    await system.aio.register("bad", handler, retry=policy)
    await system.aio.start("r", "bad")
    with pytest.raises(OperationFailed) as failed:
        await system.aio.get_result("r", timeout=WAIT)
    assert failed.value.failure.type == "ValueError"
    assert failed.value.failure.message == "bad value 2"
    assert failed.value.failure.stack_trace is not None
    assert "ValueError: bad value 2" in failed.value.failure.stack_trace
    assert attempts == [1, 2]


async def test_cancel_cancels_an_async_handler(system: AloSystem) -> None:
    entered = threading.Event()
    outcome: dict[str, bool] = {}
    finished = threading.Event()

    async def handler(ctx: HandlerContext, inp: Any) -> Any:
        entered.set()
        try:
            await asyncio.sleep(WAIT * 3)
        except asyncio.CancelledError:
            outcome["cancelled"] = True
            finished.set()
            raise
        return None

    await system.aio.register("long", handler)
    await system.aio.start("job", "long")
    assert await asyncio.to_thread(entered.wait, WAIT)
    info = await system.aio.cancel("job", "enough")
    assert info.status is Status.CANCELLED
    assert await asyncio.to_thread(finished.wait, WAIT)
    assert outcome == {"cancelled": True}
    with pytest.raises(OperationCancelled, match="enough"):
        await system.aio.get_result("job", timeout=WAIT)


async def test_a_waiter_does_not_block_its_event_loop(system: AloSystem) -> None:
    await system.aio.start("w", None)
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            await asyncio.sleep(0.01)
            ticks += 1

    async def ticked(count: int) -> None:
        while ticks < count:
            await asyncio.sleep(0.01)

    ticking = asyncio.create_task(ticker())
    waiter = asyncio.create_task(system.aio.get_result("w", timeout=WAIT * 3))
    await asyncio.to_thread(wait_for_waiters, system, "w")
    # While it waits, the loop runs on: twenty more ticks (a waiter that blocked the
    # loop would allow none until its own wait ended, and be done by then).
    await asyncio.wait_for(ticked(ticks + 20), WAIT)
    assert not waiter.done()
    ticks_while_waiting = ticks

    completer = threading.Thread(target=system.complete, args=("w", {"woke": True}))
    completer.start()
    assert await asyncio.wait_for(waiter, WAIT) == {"woke": True}
    completer.join(WAIT)
    stop.set()
    await asyncio.wait_for(ticking, WAIT)
    assert ticks >= ticks_while_waiting


async def test_waiters_on_several_threads_and_loops_all_wake(system: AloSystem) -> None:
    await system.aio.start("fan", None)
    results: dict[str, Any] = {}
    asked: dict[str, float] = {}
    lock = threading.Lock()

    def record(name: str, value: Any) -> None:
        with lock:
            results[name] = value

    def sync_waiter(name: str) -> None:
        asked[name] = time.monotonic()
        record(name, system.get_result("fan", timeout=WAIT))

    def loop_waiter(name: str) -> None:
        async def wait() -> Any:
            # Two waiters on each of these loops.
            asked[name] = time.monotonic()
            return await asyncio.gather(
                system.aio.get_result("fan", timeout=WAIT),
                system.aio.get_result("fan", timeout=WAIT),
            )

        record(name, asyncio.run(wait()))

    threads = [threading.Thread(target=sync_waiter, args=(f"thread-{n}",)) for n in range(3)]
    threads += [threading.Thread(target=loop_waiter, args=(f"loop-{n}",)) for n in range(3)]
    for thread in threads:
        thread.start()
    own = asyncio.create_task(system.aio.get_result("fan", timeout=WAIT))
    deadline = time.monotonic() + WAIT
    while len(asked) < 6:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.005)
    # Every waiter is now blocked or awaiting: three threads, two on each of three
    # loops, and this test's own.
    await asyncio.to_thread(wait_for_waiters, system, "fan", 10)
    assert results == {} and not own.done()
    completed_at = time.monotonic()
    await asyncio.to_thread(system.complete, "fan", "everyone")
    assert await asyncio.wait_for(own, WAIT) == "everyone"
    for thread in threads:
        await asyncio.to_thread(thread.join, WAIT)
        assert not thread.is_alive()
    assert results == {
        **{f"thread-{n}": "everyone" for n in range(3)},
        **{f"loop-{n}": ["everyone", "everyone"] for n in range(3)},
    }
    assert all(t < completed_at for t in asked.values())


async def test_validation_and_closed_system_on_the_async_face(db_path: str) -> None:
    system = AloSystem.open(db_path)
    try:
        position = system.log.last_position()
        with pytest.raises(InvalidArgument, match="id"):
            await system.aio.start("", None)
        with pytest.raises(InvalidArgument, match="input"):
            await system.aio.start("x", None, object())
        with pytest.raises(NotFound, match="nope"):
            await system.aio.start("x", "nope")
        with pytest.raises(InvalidArgument):
            await system.aio.get_info("a/b")
        assert system.log.last_position() == position
        await system.aio.start("x", None)
    finally:
        await asyncio.to_thread(system.close)
    with pytest.raises(SystemClosed):
        await system.aio.get_info("x")
    with pytest.raises(SystemClosed):
        await system.aio.start("y", None)


async def test_close_wakes_an_awaiting_waiter(db_path: str) -> None:
    system = AloSystem.open(db_path)
    await system.aio.start("a", None)
    waiter = asyncio.create_task(system.aio.get_result("a"))
    await asyncio.to_thread(wait_for_waiters, system, "a")
    assert not waiter.done()
    await asyncio.to_thread(system.close)
    with pytest.raises(SystemClosed):
        await asyncio.wait_for(waiter, WAIT)


async def test_an_async_handler_awaits_another_alo_on_the_system_loop(system: AloSystem) -> None:
    async def parent(ctx: HandlerContext, inp: Any) -> Any:
        child_id = f"{ctx.id}-child"
        await system.aio.start(child_id, "child", inp)
        return {"child said": await system.aio.get_result(child_id, timeout=WAIT)}

    def child(ctx: HandlerContext, inp: Any) -> Any:
        return inp * 2

    await system.aio.register("parent", parent)
    await system.aio.register("child", child)
    await system.aio.start("p", "parent", 21)
    assert await system.aio.get_result("p", timeout=WAIT) == {"child said": 42}
    assert (await system.aio.get_info("p-child")).status is Status.COMPLETED


async def test_a_cancelled_waiter_stops_waiting_and_leaves_nothing_behind(
    system: AloSystem,
) -> None:
    system.start("abandoned")
    waiter = asyncio.ensure_future(system.aio.get_result("abandoned"))
    await system.aio.settle()
    assert waiters_of(system, "abandoned") == 1
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await system.aio.settle()
    assert waiters_of(system, "abandoned") == 0
    fresh = asyncio.ensure_future(system.aio.get_result("abandoned", timeout=WAIT))
    await system.aio.complete("abandoned", 7)
    assert await fresh == 7


def waiters_of(system: AloSystem, alo_id: str) -> int:
    """Waiters the supervisor holds for one ALO (read through pykka's proxy)."""
    entities = system._ref.proxy().entities.get(timeout=WAIT)
    attached = entities[alo_id].attached
    return 0 if attached is None else len(attached.waiters)


def test_event_loops_that_used_the_system_are_not_kept_alive(system: AloSystem) -> None:
    async def use() -> None:
        system.start("loop-use")
        await system.aio.get_info("loop-use")

    loop = asyncio.new_event_loop()
    loop.run_until_complete(use())
    loop.close()
    gone = weakref.ref(loop)
    del loop
    # pykka's actor loop holds its last message until the next one: send one more.
    system.get_info("loop-use")
    gc.collect()
    assert gone() is None
