"""Replies from an actor's thread: SyncReply for a blocked thread, LoopBridge futures
for an event loop (resolved with call_soon_threadsafe, never by blocking the loop)."""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref

import pytest

from actors import LoopBridge, ReplyFuture, SyncReply, bridge_for
from tests.conftest import WAIT


class Refused(Exception):
    pass


def test_a_sync_reply_hands_over_a_value_or_an_error_once() -> None:
    reply = SyncReply()
    assert reply.wait(0) is False
    with pytest.raises(TimeoutError):
        reply.result(timeout=0.01)
    threading.Thread(target=reply, args=("done",)).start()
    assert reply.result(WAIT) == "done"

    failed = SyncReply()
    failed(None, Refused("no"))
    assert failed.wait(0) is True
    assert failed.wait(0) is True  # replied for good
    with pytest.raises(Refused, match="no"):
        failed.result(WAIT)


async def test_a_reply_future_is_resolved_from_another_thread() -> None:
    bridge = bridge_for(asyncio.get_running_loop())
    ok, bad = bridge.future(), bridge.future()
    assert isinstance(ok, ReplyFuture) and isinstance(ok, asyncio.Future)

    def answer() -> None:
        ok(41 + 1)
        bad(None, Refused("no"))

    thread = threading.Thread(target=answer)
    thread.start()
    assert await asyncio.wait_for(ok, WAIT) == 42
    with pytest.raises(Refused):
        await asyncio.wait_for(bad, WAIT)
    thread.join(WAIT)


async def test_many_replies_from_one_thread_wake_the_loop_once() -> None:
    loop = asyncio.get_running_loop()
    bridge = LoopBridge(loop)
    futures = [bridge.future() for _ in range(500)]
    calls: list[object] = []
    real = loop.call_soon_threadsafe

    def counting(callback: object, *args: object) -> asyncio.Handle:
        calls.append(callback)
        return real(callback, *args)  # type: ignore[arg-type]

    def answer_all() -> None:
        for n, future in enumerate(futures):
            future(n)

    loop.call_soon_threadsafe = counting  # type: ignore[method-assign,assignment]
    try:
        # From one thread, in one go: the loop cannot drain between these.
        thread = threading.Thread(target=answer_all)
        thread.start()
        thread.join(WAIT)
        assert await asyncio.wait_for(asyncio.gather(*futures), WAIT) == list(range(500))
    finally:
        del loop.call_soon_threadsafe
    assert len(calls) == 1


async def test_a_reply_to_a_cancelled_future_is_dropped() -> None:
    bridge = bridge_for(asyncio.get_running_loop())
    future = bridge.future()
    future.cancel()
    follower = bridge.future()

    def answer() -> None:
        future("late")
        follower("next")

    threading.Thread(target=answer).start()
    assert await asyncio.wait_for(follower, WAIT) == "next"  # the drain went on
    assert future.cancelled()


def test_a_reply_after_its_loop_closed_is_dropped() -> None:
    loop = asyncio.new_event_loop()
    bridge = LoopBridge(loop)
    future = loop.run_until_complete(_future_of(bridge))
    loop.close()
    future("nobody waits")  # no error: the loop is gone, and so is every waiter
    assert not future.done()


async def _future_of(bridge: LoopBridge) -> ReplyFuture:
    return bridge.future()


def test_a_loop_has_one_bridge_and_it_does_not_keep_the_loop_alive() -> None:
    loop = asyncio.new_event_loop()
    bridge = bridge_for(loop)
    assert bridge_for(loop) is bridge
    gone = weakref.ref(loop)
    loop.close()
    del loop
    gc.collect()
    assert gone() is None
    with pytest.raises(RuntimeError, match="the loop is gone"):
        bridge.future()
