"""Waits that run out free everything they made (issue 14: every timed-out wait leaked).

Each test counts the live objects a wait makes (futures, frames, tracebacks, timer
handles, replies) after many waits that time out, with the garbage collector run,
against a count taken after a few such waits first (so that caches and pools that
fill on first use are full). A leak leaves one of each per wait; flat is a handful.
Before each count one more request goes to the supervisor: its actor loop holds on
to the last message it handled (a batch of waits) until the next one arrives.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import types
from collections import Counter
from collections.abc import Iterator

import pytest

from actors import SyncReply
from alo_actor import AloSystem, NotFound

WAITS = 600
# Objects of these kinds outlive nothing they should: a few may be in flight when
# counted (a timer thread's frame, the loop's own handles), never one per wait.
SLACK = WAITS // 20


def live(*kinds: type) -> Counter[str]:
    """How many objects of each kind are alive, after a full collection.

    ``gc.get_objects`` sees only objects the collector tracks; the kinds counted
    here are all tracked (and were, on the code that leaked them).
    """
    gc.collect()
    counts: Counter[str] = Counter()
    for obj in gc.get_objects():
        if isinstance(obj, kinds):
            counts[type(obj).__name__] += 1
    return counts


def grown(before: Counter[str], after: Counter[str]) -> dict[str, int]:
    return {kind: after[kind] - before[kind] for kind in after if after[kind] > before[kind]}


@pytest.fixture
def pending(system: AloSystem) -> Iterator[str]:
    """An ALO that never settles during the test: every wait on it runs out."""
    system.start("never", None)
    yield "never"


ASYNC_KINDS = (asyncio.Future, asyncio.TimerHandle, types.FrameType, types.TracebackType)


async def _aio_waits(system: AloSystem, alo_id: str, count: int) -> None:
    # In rounds of fifty at once: quick, and each wait still runs its own timer.
    for first in range(0, count, 50):
        waits = [
            system.aio.get_result(alo_id, timeout=0.001) for _ in range(min(50, count - first))
        ]
        outcomes = await asyncio.gather(*waits, return_exceptions=True)
        assert all(isinstance(outcome, TimeoutError) for outcome in outcomes), outcomes[:3]
    await system.aio.get_info(alo_id)


async def test_timed_out_aio_waits_leave_nothing_behind(system: AloSystem, pending: str) -> None:
    await _aio_waits(system, pending, 50)
    before = live(*ASYNC_KINDS)
    await _aio_waits(system, pending, WAITS)
    after = live(*ASYNC_KINDS)
    leaked = {kind: n for kind, n in grown(before, after).items() if n > SLACK}
    assert leaked == {}, f"after {WAITS} timed-out waits: {leaked}"


async def test_a_wait_that_ends_in_an_error_leaves_nothing_behind(system: AloSystem) -> None:
    """An error set on the future (NotFound here) holds the awaiting frame in its
    traceback: a cycle, which the collector must be able to free."""

    async def missing(count: int) -> None:
        for _ in range(count):
            with pytest.raises(NotFound):
                await system.aio.get_result("nobody", timeout=5)

    await missing(20)
    before = live(*ASYNC_KINDS)
    await missing(WAITS // 2)
    after = live(*ASYNC_KINDS)
    leaked = {kind: n for kind, n in grown(before, after).items() if n > SLACK}
    assert leaked == {}, f"after {WAITS // 2} failed waits: {leaked}"


def test_timed_out_sync_waits_leave_nothing_behind(system: AloSystem, pending: str) -> None:
    kinds = (SyncReply, types.FrameType, types.TracebackType, TimeoutError)

    def waits(count: int) -> None:
        for _ in range(count):
            with pytest.raises(TimeoutError):
                system.get_result(pending, timeout=0.001)
        system.get_info(pending)

    waits(20)
    before = live(*kinds)
    waits(WAITS // 2)
    after = live(*kinds)
    leaked = {kind: n for kind, n in grown(before, after).items() if n > SLACK}
    assert leaked == {}, f"after {WAITS // 2} timed-out waits: {leaked}"


def test_a_profiler_walking_the_heap_on_another_thread_breaks_nothing(
    system: AloSystem,
) -> None:
    """``gc.get_objects()`` on another thread (objgraph, pympler, a leak hunter) while
    the engine works. It takes a reference to every tracked object, a tuple still
    being built among them, and CPython then fails to grow that tuple (SystemError):
    an append the supervisor built from an iterator failed so, in most runs of this test
    before it was built from a list."""
    stop = threading.Event()
    walks = [0]

    def walk() -> None:
        while not stop.is_set():
            gc.get_objects()
            walks[0] += 1

    walker = threading.Thread(target=walk)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # the threads take turns often: more chances to meet
    walker.start()
    try:

        async def flow() -> None:
            aio = system.aio

            async def one(n: int) -> None:
                await aio.start(f"h{n}", input=n)
                await aio.complete(f"h{n}", n)

            # A list, not a generator, unpacked: ``f(*generator)`` grows a tuple too.
            for wave in range(0, 6_000, 500):
                await asyncio.gather(*[one(n) for n in range(wave, wave + 500)])

        asyncio.run(flow())
    finally:
        stop.set()
        walker.join(30)
        sys.setswitchinterval(interval)
    assert walks[0] > 0
    assert system.get_results([f"h{n}" for n in (0, 2_999, 5_999)]) == [0, 2_999, 5_999]
