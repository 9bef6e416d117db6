"""Acceptance tests of the sync face of AloSystem: every verb, handlers, retries, cancel.

Real SQLite files, real threads; nothing of ours is mocked.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from alo_actor import (
    AloError,
    AloSystem,
    AlreadyExists,
    Failure,
    HandlerContext,
    HandlerResult,
    InvalidArgument,
    NotFound,
    OperationCancelled,
    OperationFailed,
    OperationTimedOut,
    RetryPolicy,
    Status,
    SystemClosed,
)
from alo_actor._events import CODEC
from tests.conftest import WAIT, actor_thread_names, wait_for_waiters, wait_until

FAST = RetryPolicy(max_attempts=3, initial_interval=0.01, maximum_interval=0.05)


def _unchanged(a: Any, b: Any) -> None:
    """Two infos of one ALO are the same (``created`` aside: only ``start`` sets it)."""
    assert a.__class__ is b.__class__
    for name in a.__struct_fields__:
        if name != "created":
            assert getattr(a, name) == getattr(b, name), name


# -- start ---------------------------------------------------------------------------


def test_start_creates_then_repeats_unchanged_then_conflicts(system: AloSystem) -> None:
    before = system.log.last_position()
    first = system.start("order-1", None, {"name": "Ada"}, metadata={"team": "billing"})
    assert first.created is True
    assert first.id == "order-1"
    assert first.operation is None
    assert first.status is Status.RUNNING
    assert first.metadata == {"team": "billing"}
    assert first.attempt == 0  # an external promise runs no handler
    assert first.settled_at is None and first.failure is None
    after_create = system.log.last_position()
    assert after_create > before

    again = system.start("order-1", None, {"name": "Ada"}, metadata={"team": "billing"})
    assert again.created is False
    _unchanged(first, again)
    # The timeout is not compared: still the same start.
    timed = system.start("order-1", None, {"name": "Ada"}, metadata={"team": "billing"}, timeout=60)
    assert timed.created is False
    assert timed.deadline is None

    with pytest.raises(AlreadyExists, match="input"):
        system.start("order-1", None, {"name": "Bob"}, metadata={"team": "billing"})
    with pytest.raises(AlreadyExists, match="metadata"):
        system.start("order-1", None, {"name": "Ada"}, metadata={"team": "sales"})
    with pytest.raises(AlreadyExists, match="result URLs"):
        system.start(
            "order-1",
            None,
            {"name": "Ada"},
            metadata={"team": "billing"},
            result_urls=["http://127.0.0.1:9/hook"],
        )
    system.register("greeting", lambda ctx, inp: inp)
    with pytest.raises(AlreadyExists, match="operation"):
        system.start("order-1", "greeting", {"name": "Ada"}, metadata={"team": "billing"})
    assert system.log.last_position() == after_create, "a repeat or a conflict wrote something"
    _unchanged(system.get_info("order-1"), first)


def test_start_with_a_handler_runs_it_once_even_when_repeated(system: AloSystem) -> None:
    calls: list[int] = []

    def greet(ctx: HandlerContext, inp: Any) -> Any:
        calls.append(ctx.attempt)
        return {"greeting": f"Hello, {inp['name']}!"}

    system.register("greeting", greet)
    info = system.start("g-1", "greeting", {"name": "Ada"})
    assert info.created is True
    assert info.attempt == 1
    assert system.get_result("g-1", timeout=WAIT) == {"greeting": "Hello, Ada!"}
    assert system.start("g-1", "greeting", {"name": "Ada"}).created is False
    done = system.get_info("g-1")
    assert done.status is Status.COMPLETED
    assert done.settled_at is not None and done.settled_at >= done.created_at
    system.settle()  # an attempt the repeat had started would be done by now
    assert calls == [1]


def test_start_with_a_deadline_already_past_creates_it_timed_out(system: AloSystem) -> None:
    info = system.start("late", None, deadline=time.time() - 5)
    assert info.created is True
    assert info.status is Status.TIMED_OUT
    assert info.settled_at == info.created_at
    with pytest.raises(OperationTimedOut):
        system.get_result("late", timeout=WAIT)


# -- get_info / get_result -------------------------------------------------------------


def test_get_info_and_not_found(system: AloSystem) -> None:
    started = system.start("i-1", None, [1, 2, 3], metadata={"k": "v"}, timeout=30)
    info = system.get_info("i-1")
    assert info.created is None
    assert info.status is Status.RUNNING
    assert info.metadata == {"k": "v"}
    assert info.deadline == pytest.approx(started.created_at + 30)
    _unchanged(info, started)
    with pytest.raises(NotFound, match="nobody"):
        system.get_info("nobody")


def test_get_result_of_each_outcome(system: AloSystem) -> None:
    system.start("ok", None)
    system.complete("ok", {"answer": 42}, result_metadata={"source": "test"})
    assert system.get_result("ok", timeout=WAIT) == {"answer": 42}
    assert system.get_result("ok") == {"answer": 42}  # settled: no timeout needed
    assert system.get_info("ok").result_metadata == {"source": "test"}

    system.start("bad", None)
    system.fail("bad", "card declined", type="PaymentError", details={"code": 51})
    with pytest.raises(OperationFailed) as failed:
        system.get_result("bad", timeout=WAIT)
    assert type(failed.value) is OperationFailed
    assert failed.value.failure == Failure(
        message="card declined", type="PaymentError", details={"code": 51}
    )

    system.start("gone", None)
    system.cancel("gone", reason="user asked")
    with pytest.raises(OperationCancelled) as cancelled:
        system.get_result("gone", timeout=WAIT)
    assert isinstance(cancelled.value, OperationFailed)
    assert cancelled.value.failure.message == "user asked"
    assert cancelled.value.failure.type == "Cancelled"

    info = system.start("slow", None, timeout=0.1)
    with pytest.raises(OperationTimedOut) as timed_out:
        system.get_result("slow", timeout=WAIT)
    assert isinstance(timed_out.value, OperationFailed)
    assert timed_out.value.failure.type == "TimedOut"
    settled = system.get_info("slow")
    assert settled.status is Status.TIMED_OUT
    assert settled.settled_at == info.deadline

    with pytest.raises(NotFound):
        system.get_result("nobody", timeout=0.1)


def test_get_result_times_out_with_the_builtin_error_and_leaves_the_alo(
    system: AloSystem,
) -> None:
    system.start("pending", None)
    began = time.monotonic()
    with pytest.raises(TimeoutError) as waited:
        system.get_result("pending", timeout=0.2)
    elapsed = time.monotonic() - began
    assert not isinstance(waited.value, AloError)
    # Not before its timeout; well before WAIT, whatever the machine's load.
    assert 0.19 <= elapsed < WAIT
    with pytest.raises(TimeoutError):
        system.get_result("pending", timeout=0)
    assert system.get_info("pending").status is Status.RUNNING
    system.complete("pending", "later")
    assert system.get_result("pending", timeout=WAIT) == "later"


def test_get_result_with_no_wait_answers_a_settled_alo(system: AloSystem) -> None:
    """timeout=0 means "do not wait for it to settle", not "fail unless the round trip
    to the supervisor takes no time" (HTTP: 412 only when it is not settled)."""
    system.start("done", None)
    system.complete("done", "here")
    system.start("failed", None)
    system.fail("failed", "no")
    overdue = system.start("overdue", None, timeout=0.05)
    for _ in range(20):
        assert system.get_result("done", timeout=0) == "here"
        assert system.get_result("done", timeout=0.0001) == "here"
        with pytest.raises(OperationFailed):
            system.get_result("failed", timeout=0)
    deadline = overdue.deadline
    assert deadline is not None
    wait_until(lambda: time.time() > deadline, what="the deadline to pass")
    with pytest.raises(OperationTimedOut):  # the deadline is enforced first
        system.get_result("overdue", timeout=0)
    with pytest.raises(NotFound):
        system.get_result("nobody", timeout=0)


def test_waiters_on_several_threads_all_wake(system: AloSystem) -> None:
    system.start("shared", None)
    results: dict[int, Any] = {}
    asked: dict[int, float] = {}

    def wait(n: int) -> None:
        asked[n] = time.monotonic()
        results[n] = system.get_result("shared", timeout=WAIT)

    threads = [threading.Thread(target=wait, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    wait_for_waiters(system, "shared", 8)  # they are all blocked in get_result now
    assert results == {}
    completed_at = time.monotonic()
    system.complete("shared", {"v": 1})
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive()
    assert results == {n: {"v": 1} for n in range(8)}
    assert all(t < completed_at for t in asked.values())


# -- complete / fail / cancel / pause / resume ------------------------------------------


def test_pause_and_resume_an_external_promise(system: AloSystem) -> None:
    system.start("p", None)
    paused = system.pause("p")
    assert paused.status is Status.PAUSED
    position = system.log.last_position()
    _unchanged(system.pause("p"), paused)  # pause on PAUSED: unchanged
    assert system.log.last_position() == position
    resumed = system.resume("p")
    assert resumed.status is Status.RUNNING
    position = system.log.last_position()
    _unchanged(system.resume("p"), resumed)  # resume on RUNNING: unchanged
    assert system.log.last_position() == position
    system.pause("p")
    done = system.complete("p", "from paused")
    assert done.status is Status.COMPLETED
    assert system.get_result("p") == "from paused"


def test_fail_takes_a_failure_value_and_a_stack_trace(system: AloSystem) -> None:
    system.start("f", None)
    failure = Failure(message="no", type="Nope", details=[1, "two"], stack_trace="at line 3")
    info = system.fail("f", failure)
    assert info.status is Status.FAILED
    assert info.failure == failure
    system.start("f2", None)
    system.pause("f2")
    assert system.fail("f2", "while paused").status is Status.FAILED
    system.start("c2", None)
    system.pause("c2")
    assert system.cancel("c2").status is Status.CANCELLED


def test_a_failures_details_are_kept_as_stored_not_as_the_callers_object(
    db_path: str,
) -> None:
    details: dict[str, Any] = {"codes": (1, 2), "note": "first"}
    with AloSystem.open(db_path) as system:
        system.start("f", None)
        info = system.fail("f", "no", details=details)
        details["note"] = "changed afterwards"
        assert info.failure is not None
        assert info.failure.details == {"codes": [1, 2], "note": "first"}  # as stored
        assert system.get_info("f").failure == info.failure
    with AloSystem.open(db_path) as reopened:  # the same after a replay of the log
        assert reopened.get_info("f").failure == info.failure


def _settle_each_way(system: AloSystem) -> list[str]:
    system.start("t-completed", None)
    system.complete("t-completed", {"first": True}, result_metadata={"m": "1"})
    system.start("t-failed", None)
    system.fail("t-failed", "first failure", type="First")
    system.start("t-cancelled", None)
    system.cancel("t-cancelled", "first reason")
    system.start("t-timed-out", None, timeout=0.05)
    with pytest.raises(OperationTimedOut):
        system.get_result("t-timed-out", timeout=WAIT)
    return ["t-completed", "t-failed", "t-cancelled", "t-timed-out"]


def test_every_verb_leaves_a_terminal_alo_unchanged(system: AloSystem) -> None:
    ids = _settle_each_way(system)
    before = {alo_id: system.get_info(alo_id) for alo_id in ids}
    position = system.log.last_position()
    for alo_id in ids:
        _unchanged(system.complete(alo_id, {"second": True}), before[alo_id])
        _unchanged(system.fail(alo_id, "second failure", type="Second"), before[alo_id])
        _unchanged(system.cancel(alo_id, "second reason"), before[alo_id])
        _unchanged(system.pause(alo_id), before[alo_id])
        _unchanged(system.resume(alo_id), before[alo_id])
        _unchanged(system.get_info(alo_id), before[alo_id])
    assert system.log.last_position() == position, "a command on a terminal ALO wrote"
    assert system.get_result("t-completed") == {"first": True}
    with pytest.raises(OperationFailed, match="first failure"):
        system.get_result("t-failed")
    with pytest.raises(OperationCancelled, match="first reason"):
        system.get_result("t-cancelled")
    with pytest.raises(OperationTimedOut):
        system.get_result("t-timed-out")


def test_every_verb_on_an_unknown_id_is_not_found(system: AloSystem) -> None:
    position = system.log.last_position()
    calls: list[Callable[[], Any]] = [
        lambda: system.get_info("ghost"),
        lambda: system.get_result("ghost", timeout=0.1),
        lambda: system.complete("ghost", 1),
        lambda: system.fail("ghost", "x"),
        lambda: system.cancel("ghost"),
        lambda: system.pause("ghost"),
        lambda: system.resume("ghost"),
    ]
    for call in calls:
        with pytest.raises(NotFound, match="ghost"):
            call()
    assert system.log.last_position() == position


def _settle(
    system: AloSystem, alo_id: str, kind: str, go: threading.Barrier, answers: list[Any]
) -> None:
    go.wait()
    if kind == "complete":
        answers.append(system.complete(alo_id, "won"))
    elif kind == "fail":
        answers.append(system.fail(alo_id, "lost"))
    else:
        answers.append(system.cancel(alo_id, "cancelled"))


def test_concurrent_settlers_first_writer_wins(system: AloSystem) -> None:
    for round_ in range(20):
        alo_id = f"contest-{round_}"
        system.start(alo_id, None)
        go = threading.Barrier(3, timeout=WAIT)
        answers: list[Any] = []
        threads = [
            threading.Thread(target=_settle, args=(system, alo_id, kind, go, answers))
            for kind in ("complete", "fail", "cancel")
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
        assert len(answers) == 3
        final = system.get_info(alo_id)
        assert final.status in (Status.COMPLETED, Status.FAILED, Status.CANCELLED)
        # Every caller sees the one outcome that won, whoever's it was.
        for answer in answers:
            _unchanged(answer, final)
        types = [e.type for e in system.log.read_stream(alo_id)]
        assert types in (["Started", "Completed"], ["Started", "Failed"], ["Started", "Cancelled"])


# -- handlers --------------------------------------------------------------------------


def test_sync_and_async_handlers_complete_their_alos(system: AloSystem) -> None:
    def sync_handler(ctx: HandlerContext, inp: Any) -> Any:
        return HandlerResult({"sync": inp}, {"kind": "sync"})

    async def async_handler(ctx: HandlerContext, inp: Any) -> Any:
        await asyncio.sleep(0.01)
        return {"async": inp}

    system.register("sync", sync_handler)
    system.register("async", async_handler)
    system.start("s", "sync", 1)
    system.start("a", "async", 2)
    assert system.get_result("s", timeout=WAIT) == {"sync": 1}
    assert system.get_result("a", timeout=WAIT) == {"async": 2}
    assert system.get_info("s").result_metadata == {"kind": "sync"}
    assert system.get_info("a").status is Status.COMPLETED
    assert system.get_info("a").attempt == 1


def test_handlers_never_run_on_the_supervisor_thread(system: AloSystem) -> None:
    seen: dict[str, tuple[str, int]] = {}

    def sync_handler(ctx: HandlerContext, inp: Any) -> Any:
        thread = threading.current_thread()
        seen[ctx.id] = (thread.name, threading.get_ident())
        return None

    async def async_handler(ctx: HandlerContext, inp: Any) -> Any:
        thread = threading.current_thread()
        seen[ctx.id] = (thread.name, threading.get_ident())
        return None

    system.register("sync", sync_handler)
    system.register("async", async_handler)
    actors = actor_thread_names()
    assert actors, "no pykka actor thread found to compare with"
    actor_idents = {t.ident for t in threading.enumerate() if t.name in actors}
    for n in range(5):
        system.start(f"s{n}", "sync")
        system.start(f"a{n}", "async")
    for n in range(5):
        system.get_result(f"s{n}", timeout=WAIT)
        system.get_result(f"a{n}", timeout=WAIT)
    assert len(seen) == 10
    for alo_id, (name, ident) in seen.items():
        assert not name.startswith("EntityHost"), (alo_id, name)
        assert name not in actors, (alo_id, name)
        assert ident not in actor_idents, (alo_id, name)
        assert name != threading.main_thread().name


def test_the_handler_context(system: AloSystem) -> None:
    got: dict[str, Any] = {}

    def inspect(ctx: HandlerContext, inp: Any) -> Any:
        got.update(
            id=ctx.id,
            operation=ctx.operation,
            attempt=ctx.attempt,
            metadata=dict(ctx.metadata),
            deadline=ctx.deadline,
            cancelled=ctx.cancelled.is_set(),
            input=inp,
        )
        return "ok"

    system.register("inspect", inspect)
    info = system.start("ctx-1", "inspect", {"x": [1, 2]}, metadata={"team": "a"}, timeout=30)
    assert system.get_result("ctx-1", timeout=WAIT) == "ok"
    assert got == {
        "id": "ctx-1",
        "operation": "inspect",
        "attempt": 1,
        "metadata": {"team": "a"},
        "deadline": info.deadline,
        "cancelled": False,
        "input": {"x": [1, 2]},
    }
    assert info.deadline == pytest.approx(info.created_at + 30)
    system.start("ctx-2", "inspect")
    system.get_result("ctx-2", timeout=WAIT)
    assert got["deadline"] is None and got["metadata"] == {} and got["input"] is None


def test_a_raising_handler_is_retried_then_completes(system: AloSystem) -> None:
    attempts: list[int] = []

    def flaky(ctx: HandlerContext, inp: Any) -> Any:
        attempts.append(ctx.attempt)
        if ctx.attempt < 3:
            raise ConnectionError(f"try {ctx.attempt}")
        return "third time lucky"

    system.register("flaky", flaky, retry=FAST)
    system.start("r", "flaky")
    assert system.get_result("r", timeout=WAIT) == "third time lucky"
    assert attempts == [1, 2, 3]
    info = system.get_info("r")
    assert info.attempt == 3
    assert info.failure is None
    types = [e.type for e in system.log.read_stream("r")]
    assert types == [
        "Started",
        "AttemptFailed",
        "AttemptStarted",
        "AttemptFailed",
        "AttemptStarted",
        "Completed",
    ]


class QuotaError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.details = {"quota": 3}


def _always_raises(ctx: HandlerContext, inp: Any) -> Any:
    raise QuotaError(f"over quota on attempt {ctx.attempt}")


def test_a_handler_that_keeps_raising_ends_failed_with_its_error(system: AloSystem) -> None:
    calls: list[float] = []

    def handler(ctx: HandlerContext, inp: Any) -> Any:
        calls.append(time.monotonic())
        _always_raises(ctx, inp)

    policy = RetryPolicy(max_attempts=3, initial_interval=0.05, backoff_coefficient=2.0)
    system.register("doomed", handler, retry=policy)
    system.start("d", "doomed")
    with pytest.raises(OperationFailed) as failed:
        system.get_result("d", timeout=WAIT)
    failure = failed.value.failure
    assert failure.type == "QuotaError"
    assert failure.message == "over quota on attempt 3"
    assert failure.details == {"quota": 3}
    assert failure.stack_trace is not None
    assert "Traceback (most recent call last)" in failure.stack_trace
    assert "_always_raises" in failure.stack_trace
    assert "QuotaError: over quota on attempt 3" in failure.stack_trace
    info = system.get_info("d")
    assert info.status is Status.FAILED
    assert info.attempt == 3
    assert len(calls) == 3
    # Exponential backoff: 0.05 s, then 0.1 s (a little slack for clock reads).
    assert calls[1] - calls[0] >= 0.045
    assert calls[2] - calls[1] >= 0.09
    system.settle()  # a retry the spent policy had started would be done by now
    assert len(calls) == 3, "a spent policy retried"


@pytest.mark.parametrize(
    ("non_retryable", "error"),
    [
        (["PermissionError"], PermissionError("denied")),
        ([QuotaError], QuotaError("over")),
        (["LookupError"], KeyError("missing")),  # by the name of a base class
    ],
)
def test_a_non_retryable_error_fails_at_once(
    system: AloSystem, non_retryable: list[Any], error: Exception
) -> None:
    calls: list[int] = []

    def handler(ctx: HandlerContext, inp: Any) -> Any:
        calls.append(ctx.attempt)
        raise error

    policy = RetryPolicy(
        max_attempts=5, initial_interval=0.01, non_retryable_error_types=non_retryable
    )
    system.register("once", handler, retry=policy)
    system.start("n", "once")
    with pytest.raises(OperationFailed) as failed:
        system.get_result("n", timeout=WAIT)
    assert failed.value.failure.type == type(error).__name__
    system.settle()
    assert calls == [1]
    assert system.get_info("n").attempt == 1


def test_an_unencodable_handler_result_fails_the_attempt(system: AloSystem) -> None:
    system.register("weird", lambda ctx, inp: object(), retry=RetryPolicy(max_attempts=1))
    system.start("w", "weird")
    with pytest.raises(OperationFailed) as failed:
        system.get_result("w", timeout=WAIT)
    assert failed.value.failure.type == "InvalidArgument"
    assert "handler result" in failed.value.failure.message


def test_bad_result_metadata_from_a_handler_fails_the_attempt(db_path: str) -> None:
    """What a handler returns is checked like what a caller passes: stored unchecked,
    non-string result metadata would make the log impossible to replay."""
    with AloSystem.open(db_path) as system:
        system.register(
            "meta",
            lambda ctx, inp: HandlerResult("value", inp),
            retry=RetryPolicy(max_attempts=1),
        )
        system.start("bad", "meta", {"n": 1})
        with pytest.raises(OperationFailed) as failed:
            system.get_result("bad", timeout=WAIT)
        assert failed.value.failure.type == "InvalidArgument"
        assert "metadata" in failed.value.failure.message
        system.start("good", "meta", {"n": "1"})
        assert system.get_result("good", timeout=WAIT) == "value"
    with AloSystem.open(db_path) as system:
        assert system.get_info("bad").status is Status.FAILED
        assert system.get_info("good").result_metadata == {"n": "1"}


def test_cancel_tells_a_running_sync_handler_to_stop(system: AloSystem) -> None:
    entered = threading.Event()
    finished = threading.Event()
    observed: dict[str, bool] = {}

    def worker(ctx: HandlerContext, inp: Any) -> Any:
        entered.set()
        observed["told"] = ctx.cancelled.wait(WAIT)
        finished.set()
        return "too late"

    system.register("work", worker)
    system.start("job", "work")
    assert entered.wait(WAIT)
    assert not finished.is_set()
    info = system.cancel("job", "stop it")
    assert info.status is Status.CANCELLED
    assert info.failure is not None and info.failure.message == "stop it"
    assert finished.wait(WAIT)
    assert observed["told"] is True
    position = system.log.last_position()
    system.settle()  # the attempt's late outcome reaches the supervisor and is discarded
    assert system.log.last_position() == position
    with pytest.raises(OperationCancelled, match="stop it"):
        system.get_result("job", timeout=WAIT)


def test_cancel_cancels_an_async_handlers_task(system: AloSystem) -> None:
    entered = threading.Event()
    finished = threading.Event()
    observed: dict[str, bool] = {}

    async def worker(ctx: HandlerContext, inp: Any) -> Any:
        entered.set()
        try:
            await asyncio.sleep(WAIT * 3)
        except asyncio.CancelledError:
            observed["task_cancelled"] = True
            observed["flag_set"] = ctx.cancelled.is_set()
            finished.set()
            raise
        finished.set()
        return "never"

    system.register("work", worker)
    system.start("job", "work")
    assert entered.wait(WAIT)
    assert system.cancel("job").status is Status.CANCELLED
    assert finished.wait(WAIT)
    assert observed == {"task_cancelled": True, "flag_set": True}
    system.settle()
    assert system.get_info("job").status is Status.CANCELLED
    assert len(system.log.read_stream("job")) == 2


def test_settling_a_running_alo_stops_its_handler_and_drops_its_result(
    system: AloSystem,
) -> None:
    entered = threading.Event()
    told = threading.Event()

    def worker(ctx: HandlerContext, inp: Any) -> Any:
        entered.set()
        if ctx.cancelled.wait(WAIT):
            told.set()
        return "handler's result"

    system.register("work", worker)
    system.start("job", "work")
    assert entered.wait(WAIT)
    system.complete("job", "external result")
    assert told.wait(WAIT)
    system.settle()  # the handler's own result reaches the supervisor and is dropped
    assert system.get_result("job", timeout=WAIT) == "external result"
    assert [e.type for e in system.log.read_stream("job")] == ["Started", "Completed"]


def test_a_deadline_stops_a_running_handler(system: AloSystem) -> None:
    told = threading.Event()

    def worker(ctx: HandlerContext, inp: Any) -> Any:
        if ctx.cancelled.wait(WAIT):
            told.set()
        return "too late"

    system.register("work", worker)
    info = system.start("job", "work", timeout=0.1)
    with pytest.raises(OperationTimedOut):
        system.get_result("job", timeout=WAIT)
    assert told.wait(WAIT)
    system.settle()
    settled = system.get_info("job")
    assert settled.status is Status.TIMED_OUT
    assert settled.settled_at == info.deadline


def test_an_attempt_that_ends_while_paused_is_accepted(
    system: AloSystem, release: threading.Event
) -> None:
    entered = threading.Event()
    calls: list[int] = []

    def worker(ctx: HandlerContext, inp: Any) -> Any:
        calls.append(ctx.attempt)
        entered.set()
        assert release.wait(WAIT)
        return "done while paused"

    system.register("work", worker)
    system.start("job", "work")
    assert entered.wait(WAIT)
    assert system.pause("job").status is Status.PAUSED
    # Resuming while the attempt still runs must not start a second one.
    assert system.resume("job").status is Status.RUNNING
    assert system.pause("job").status is Status.PAUSED
    release.set()
    assert system.get_result("job", timeout=WAIT) == "done while paused"
    assert calls == [1]
    assert system.get_info("job").attempt == 1


def test_a_retry_after_a_failure_while_paused_waits_for_resume(
    system: AloSystem, release: threading.Event
) -> None:
    entered = threading.Event()
    calls: list[int] = []

    def worker(ctx: HandlerContext, inp: Any) -> Any:
        calls.append(ctx.attempt)
        if ctx.attempt == 1:
            entered.set()
            assert release.wait(WAIT)
            raise RuntimeError("first attempt fails")
        return f"attempt {ctx.attempt}"

    system.register("work", worker, retry=FAST)
    system.start("job", "work")
    assert entered.wait(WAIT)
    system.pause("job")
    release.set()
    wait_until(
        lambda: any(e.type == "AttemptFailed" for e in system.log.read_stream("job")),
        what="the failed attempt to be recorded",
    )
    [failed] = [e for e in system.log.read_stream("job") if e.type == "AttemptFailed"]
    retry_at = CODEC.decode(failed.data).retry_at  # type: ignore[attr-defined]
    wait_until(lambda: time.time() > retry_at, what="the backoff to run out")
    system.settle()  # the retry's timer has fired, and found the ALO paused
    assert calls == [1]
    assert system.get_info("job").status is Status.PAUSED
    system.resume("job")
    assert system.get_result("job", timeout=WAIT) == "attempt 2"
    assert calls == [1, 2]


def test_starting_an_unregistered_operation_is_not_found(system: AloSystem) -> None:
    with pytest.raises(NotFound, match=r"billing\.charge"):
        system.start("x", "billing.charge")
    with pytest.raises(NotFound):
        system.get_info("x")


# -- lifetime --------------------------------------------------------------------------


def test_close_is_idempotent_and_refuses_later_commands(db_path: str) -> None:
    with AloSystem.open(db_path) as system:
        system.start("a", None)
    assert system.closed
    system.close()
    with pytest.raises(SystemClosed):
        system.start("b", None)
    with pytest.raises(SystemClosed):
        system.get_info("a")


def test_close_wakes_a_blocked_waiter(db_path: str) -> None:
    system = AloSystem.open(db_path)
    system.start("a", None)
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            system.get_result("a")
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=wait)
    thread.start()
    wait_for_waiters(system, "a")
    system.close()
    thread.join(WAIT)
    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], SystemClosed)


def test_invalid_retry_policies_are_refused() -> None:
    with pytest.raises(InvalidArgument):
        RetryPolicy(max_attempts=0)
    with pytest.raises(InvalidArgument):
        RetryPolicy(initial_interval=-1)
    with pytest.raises(InvalidArgument):
        RetryPolicy(backoff_coefficient=0.5)
