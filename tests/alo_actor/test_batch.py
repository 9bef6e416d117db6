"""The batch verbs: start_many, complete_many, get_results (sync and aio), each item its
own command with its own answer, in the order asked."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from alo_actor import (
    AloCompletion,
    AloInfo,
    AloStart,
    AloSystem,
    AlreadyExists,
    HandlerContext,
    InvalidArgument,
    NotFound,
    OperationCancelled,
    OperationFailed,
    Status,
)
from tests.conftest import WAIT, wait_for_waiters, wait_until, waiters


def test_start_many_answers_each_item_as_start_would(system: AloSystem) -> None:
    system.register("double", lambda ctx, n: n * 2)
    system.start("taken", None, input=1)
    answers = system.start_many(
        [
            AloStart("a"),
            ("b", "double", 21),
            AloStart("taken", input=2),  # another start with the id: refused alone
            ("taken", None, 1),  # the same start again: unchanged
            ("bad id", None),
            ("c", "no-such-operation"),
            AloStart("d", metadata={"team": "x"}, timeout=60),
        ]
    )
    assert [type(a) for a in answers] == [
        AloInfo,
        AloInfo,
        AlreadyExists,
        AloInfo,
        InvalidArgument,
        NotFound,
        AloInfo,
    ]
    a, b, _, again, _, _, d = answers
    assert isinstance(a, AloInfo) and a.created and a.status is Status.RUNNING
    assert isinstance(b, AloInfo) and b.created and b.operation == "double"
    assert isinstance(again, AloInfo) and again.created is False
    assert isinstance(d, AloInfo) and d.metadata == {"team": "x"} and d.deadline is not None
    assert system.get_result("b", timeout=WAIT) == 42
    with pytest.raises(NotFound):
        system.get_info("c")


def test_complete_many_and_get_results(system: AloSystem) -> None:
    system.start_many([(f"e{i}",) for i in range(5)])
    system.cancel("e4")
    answers = system.complete_many(
        [(f"e{i}", {"n": i}) for i in range(4)]
        + [AloCompletion("e4", 4), AloCompletion("nobody", 0), ("e0", "again")]
    )
    statuses = [a.status if isinstance(a, AloInfo) else type(a) for a in answers]
    assert statuses == [Status.COMPLETED] * 4 + [Status.CANCELLED, NotFound, Status.COMPLETED]
    results = system.get_results(["e0", "e3", "e4", "nobody", "e0"], timeout=WAIT)
    assert results[:2] == [{"n": 0}, {"n": 3}]  # first completion wins
    assert isinstance(results[2], OperationCancelled)
    assert isinstance(results[3], NotFound)
    assert results[4] == {"n": 0}


def test_get_results_waits_for_all_and_times_out_each_one_still_running(
    system: AloSystem,
) -> None:
    system.start_many([("w1",), ("w2",), ("w3",)])
    got: list[Any] = []
    waiting = threading.Thread(
        target=lambda: got.extend(system.get_results(["w1", "w2"], timeout=WAIT))
    )
    waiting.start()
    system.complete("w1", 1)
    system.fail("w2", "no")
    waiting.join(WAIT)
    assert not waiting.is_alive()
    assert got[0] == 1 and isinstance(got[1], OperationFailed)
    answers = system.get_results(["w1", "w3"], timeout=0.05)
    assert answers[0] == 1
    assert isinstance(answers[1], TimeoutError)
    assert waiters(system, "w3") == 0  # withdrawn (before the reads that answered)
    # The wait that ran out changed nothing: w3 settles as any other.
    system.complete("w3", 3)
    assert system.get_results(["w3"], timeout=0) == [3]


def test_a_batch_that_runs_out_withdraws_only_its_own_waits(system: AloSystem) -> None:
    system.start("shared")
    got: list[Any] = []
    other = threading.Thread(target=lambda: got.append(system.get_result("shared", timeout=WAIT)))
    other.start()
    wait_for_waiters(system, "shared")
    # The same ALO twice in one batch: both its waits go, the other caller's stays.
    answers = system.get_results(["shared", "shared"], timeout=0.05)
    assert [type(answer) for answer in answers] == [TimeoutError, TimeoutError]
    assert waiters(system, "shared") == 1
    system.complete("shared", 7)
    other.join(WAIT)
    assert got == [7]


def test_the_async_batch_verbs(system: AloSystem) -> None:
    release = threading.Event()

    def gated(ctx: HandlerContext, n: int) -> int:
        release.wait(WAIT)
        return n + 1

    system.register("gated", gated)

    async def run() -> None:
        aio = system.aio
        started = await aio.start_many([(f"g{i}", "gated", i) for i in range(10)])
        assert all(isinstance(info, AloInfo) and info.created for info in started)
        waiter = asyncio.ensure_future(aio.get_results([f"g{i}" for i in range(10)], timeout=WAIT))
        await asyncio.sleep(0)
        assert not waiter.done()
        release.set()
        assert await waiter == list(range(1, 11))
        await aio.start_many([("x",)])
        done = await aio.complete_many([("x", "done"), ("missing", 1)])
        assert isinstance(done[0], AloInfo) and isinstance(done[1], NotFound)
        late = await aio.get_results(["x", "never"], timeout=0.05)
        assert late[0] == "done" and isinstance(late[1], NotFound)
        await aio.start_many([("slow",)])
        timed = await aio.get_results(["slow"], timeout=0.05)
        assert isinstance(timed[0], TimeoutError)
        assert waiters(system, "slow") == 0
        gone = asyncio.ensure_future(aio.get_results(["slow", "g0"], timeout=WAIT))
        deadline = time.monotonic() + WAIT
        while waiters(system, "slow") == 0:  # the wait has reached the supervisor
            assert time.monotonic() < deadline, "the batch's wait never arrived"
            await asyncio.sleep(0.001)
        gone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone
        await aio.get_info("slow")  # after the withdrawal, in the supervisor's inbox
        assert waiters(system, "slow") == 0

    asyncio.run(run())


def test_a_bad_batch_is_refused_whole(system: AloSystem) -> None:
    for bad in ("abc", {"id": "x"}, b"xy"):
        with pytest.raises(InvalidArgument):
            system.start_many(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="at most"):
        system.get_results([f"i{n}" for n in range(10_001)])
    assert system.start_many([]) == []
    assert system.get_results([]) == []
    with pytest.raises(NotFound):
        system.get_info("x")


def test_a_batch_item_of_the_wrong_shape_is_refused_alone(system: AloSystem) -> None:
    answers = system.start_many([("ok",), (), ("too", None, 1, None, None, None, None, 9)])
    assert isinstance(answers[0], AloInfo)
    assert all(isinstance(a, InvalidArgument) for a in answers[1:])
    wait_until(lambda: system.get_info("ok").status is Status.RUNNING)


def test_async_batches_answer_refused_items_in_their_places(system: AloSystem) -> None:
    # Refused items leave gaps: each answer must still land in its own item's place.
    async def run() -> None:
        aio = system.aio
        started = await aio.start_many([("a1", None, 1), ("", None, 2), (), ("a3", None, 3)])
        assert [type(a) for a in started] == [AloInfo, InvalidArgument, InvalidArgument, AloInfo]
        assert [started[0].id, started[3].id] == ["a1", "a3"]  # type: ignore[union-attr]
        reading = asyncio.ensure_future(aio.get_results(["a3", "bad\n", "a1"], timeout=WAIT))
        done = await aio.complete_many([("a3", "three"), (), ("nope", 0), ("a1", "one")])
        assert [type(a) for a in done] == [AloInfo, InvalidArgument, NotFound, AloInfo]
        assert [done[0].id, done[3].id] == ["a3", "a1"]  # type: ignore[union-attr]
        results = await reading
        assert results[0] == "three" and results[2] == "one"
        assert isinstance(results[1], InvalidArgument)
        assert await aio.start_many([]) == [] and await aio.get_results([]) == []
        refused = await aio.complete_many([(), ("",)])  # nothing left to send
        assert [type(a) for a in refused] == [InvalidArgument, InvalidArgument]

    asyncio.run(run())
