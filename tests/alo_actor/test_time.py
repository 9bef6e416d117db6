"""Deadlines, retries and subscribers on the injectable clock (semantics §3, §5, §7)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from alo_actor import (
    AloInfo,
    AloSystem,
    HandlerContext,
    ManualClock,
    OperationFailed,
    OperationTimedOut,
    RetryPolicy,
    Status,
)
from tests.conftest import WAIT, wait_for_waiters, wait_until


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1000.0)


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "alo.db")


@pytest.fixture
def system(db: str, clock: ManualClock) -> Iterator[AloSystem]:
    with AloSystem.open(db, clock=clock) as opened:
        yield opened


# -- deadlines ----------------------------------------------------------------------


def test_deadline_fires_when_the_clock_reaches_it_and_is_durable_on_return(
    system: AloSystem, clock: ManualClock
) -> None:
    system.start("d", timeout=10.0)
    clock.advance(9.999)
    assert system.get_info("d").status is Status.RUNNING
    before = system.log.last_position()
    clock.advance(0.001)
    # advance() returned: the TimedOut event is already in the log, no sleeping.
    assert system.log.last_position() == before + 1
    info = system.get_info("d")
    assert info.status is Status.TIMED_OUT
    assert info.settled_at == 1010.0
    with pytest.raises(OperationTimedOut) as caught:
        system.get_result("d", timeout=1)
    assert caught.value.failure.type == "TimedOut"


def test_absolute_deadline_and_deadline_already_past(system: AloSystem, clock: ManualClock) -> None:
    system.start("abs", deadline=1005.0)
    clock.advance(5.0)
    assert system.get_info("abs").status is Status.TIMED_OUT
    past = system.start("past", deadline=clock.now() - 1)
    assert past.created is True
    assert past.status is Status.TIMED_OUT
    assert past.settled_at == past.created_at


def test_a_waiter_wakes_when_the_deadline_fires(system: AloSystem, clock: ManualClock) -> None:
    system.start("w", timeout=3.0)
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            system.get_result("w", timeout=WAIT)
        except BaseException as exc:
            errors.append(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    wait_for_waiters(system, "w")  # the deadline must wake a waiter, not meet a new call
    clock.advance(3.0)
    waiter.join(WAIT)
    assert not waiter.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], OperationTimedOut)


def test_settled_before_the_deadline_stays_settled(system: AloSystem, clock: ManualClock) -> None:
    system.start("early", timeout=5.0)
    system.complete("early", "done")
    clock.advance(10.0)
    info = system.get_info("early")
    assert info.status is Status.COMPLETED
    assert system.get_result("early") == "done"


def test_deadlines_that_passed_while_closed_fire_on_reopen(db: str, clock: ManualClock) -> None:
    with AloSystem.open(db, clock=clock) as first:
        first.start("overdue", timeout=5.0)
        first.start("later", timeout=500.0)
    clock.advance(60.0)  # nobody has the log open
    with AloSystem.open(db, clock=clock) as second:
        assert second.get_info("overdue").status is Status.TIMED_OUT
        assert second.get_info("overdue").settled_at == 1005.0
        assert second.get_info("later").status is Status.RUNNING
        clock.advance(500.0)
        assert second.get_info("later").status is Status.TIMED_OUT


def test_a_command_past_the_deadline_times_out_first(db: str) -> None:
    # A clock the system has no timers on: only the command-time check can catch it.
    clock = ManualClock(0.0)
    with AloSystem.open(db, clock=clock) as system:
        system.start("x", timeout=1.0)
        clock._now = 5.0  # moved without firing timers, as a late timer would
        info = system.complete("x", "too late")
        assert info.status is Status.TIMED_OUT
        assert info.settled_at == 1.0


# -- retries ------------------------------------------------------------------------


class Flaky:
    """Fails the first ``failures`` attempts, recording each attempt's clock time."""

    def __init__(self, clock: ManualClock, failures: int, error: type[Exception] = RuntimeError):
        self.clock = clock
        self.failures = failures
        self.error = error
        self.attempts: list[tuple[int, float]] = []

    def __call__(self, ctx: HandlerContext, value: Any) -> Any:
        self.attempts.append((ctx.attempt, self.clock.now()))
        if ctx.attempt <= self.failures:
            raise self.error(f"attempt {ctx.attempt} failed")
        return {"attempt": ctx.attempt, "input": value}


def test_retries_follow_the_clock_with_exponential_backoff(
    system: AloSystem, clock: ManualClock
) -> None:
    flaky = Flaky(clock, failures=3)
    policy = RetryPolicy(max_attempts=5, initial_interval=2.0, maximum_interval=5.0)
    system.register("flaky", flaky, retry=policy)
    system.start("r", "flaky", input=7)
    wait_until(lambda: len(flaky.attempts) == 1)
    # The retry is not due before its backoff: nothing runs, however long we wait.
    clock.advance(1.9)
    system.settle()
    assert len(flaky.attempts) == 1
    for step in (0.1, 4.0, 5.0):  # 2 s, then 4 s, then capped at 5 s
        attempts = len(flaky.attempts)
        wait_until(lambda: system.log.read_stream("r")[-1].type == "AttemptFailed")
        clock.advance(step)
        wait_until(lambda n=attempts: len(flaky.attempts) == n + 1)  # type: ignore[misc]
    assert system.get_result("r", timeout=WAIT) == {"attempt": 4, "input": 7}
    assert [a for a, _ in flaky.attempts] == [1, 2, 3, 4]
    assert [t for _, t in flaky.attempts] == [1000.0, 1002.0, 1006.0, 1011.0]
    types = [e.type for e in system.log.read_stream("r")]
    assert types.count("AttemptFailed") == 3
    assert types[-1] == "Completed"


def test_a_spent_policy_fails_with_the_last_error(system: AloSystem, clock: ManualClock) -> None:
    flaky = Flaky(clock, failures=10)
    system.register("flaky", flaky, retry=RetryPolicy(max_attempts=2, initial_interval=1.0))
    system.start("spent", "flaky")
    wait_until(lambda: system.log.read_stream("spent")[-1].type == "AttemptFailed")
    clock.advance(1.0)
    with pytest.raises(OperationFailed) as caught:
        system.get_result("spent", timeout=WAIT)
    failure = caught.value.failure
    assert failure.type == "RuntimeError"
    assert failure.message == "attempt 2 failed"
    assert failure.stack_trace is not None and "RuntimeError: attempt 2 failed" in (
        failure.stack_trace
    )
    assert system.get_info("spent").attempt == 2


class PaymentError(Exception):
    pass


@pytest.mark.parametrize("kind", [PaymentError, "PaymentError"])
def test_a_non_retryable_error_fails_at_once(
    system: AloSystem, clock: ManualClock, kind: type[Exception] | str
) -> None:
    flaky = Flaky(clock, failures=10, error=PaymentError)
    policy = RetryPolicy(max_attempts=5, non_retryable_error_types=[kind])
    system.register("pay", flaky, retry=policy)
    system.start("p", "pay")
    with pytest.raises(OperationFailed) as caught:
        system.get_result("p", timeout=WAIT)
    assert caught.value.failure.type == "PaymentError"
    assert len(flaky.attempts) == 1


def test_a_retry_pending_at_close_is_resumed_after_reopen(db: str, clock: ManualClock) -> None:
    first_flaky = Flaky(clock, failures=1)
    with AloSystem.open(db, clock=clock) as first:
        first.register("flaky", first_flaky, retry=RetryPolicy(initial_interval=30.0))
        first.start("resume-me", "flaky")
        wait_until(lambda: first.log.read_stream("resume-me")[-1].type == "AttemptFailed")
    second_flaky = Flaky(clock, failures=1)
    with AloSystem.open(db, clock=clock) as second:
        second.register("flaky", second_flaky, retry=RetryPolicy(initial_interval=30.0))
        second.settle()
        assert second_flaky.attempts == []  # the backoff is still pending
        clock.advance(30.0)
        assert second.get_result("resume-me", timeout=WAIT) == {"attempt": 2, "input": None}
        assert second_flaky.attempts == [(2, 1030.0)]


def test_a_retry_while_paused_waits_for_resume(system: AloSystem, clock: ManualClock) -> None:
    flaky = Flaky(clock, failures=1)
    system.register("flaky", flaky, retry=RetryPolicy(initial_interval=1.0))
    system.start("pz", "flaky")
    wait_until(lambda: system.log.read_stream("pz")[-1].type == "AttemptFailed")
    system.pause("pz")
    clock.advance(5.0)
    system.settle()
    assert len(flaky.attempts) == 1
    system.resume("pz")
    assert system.get_result("pz", timeout=WAIT) == {"attempt": 2, "input": None}


# -- subscribers --------------------------------------------------------------------


def test_subscribers_get_the_durable_outcome_off_the_actor_thread(system: AloSystem) -> None:
    seen: list[tuple[str, Status, str]] = []
    done = threading.Event()

    def record(name: str) -> Callable[[AloInfo], None]:
        def callback(info: AloInfo) -> None:
            # The outcome is durable before any subscriber hears of it.
            assert system.log.read_stream(info.id)[-1].type == "Completed"
            seen.append((name, info.status, threading.current_thread().name))
            if len(seen) == 2:
                done.set()

        return callback

    def broken(info: AloInfo) -> None:
        raise RuntimeError("a broken subscriber")

    system.start("s")
    system.subscribe("s", record("first"))
    system.subscribe("s", broken)
    system.subscribe("s", record("second"))
    system.complete("s", 1)
    assert done.wait(WAIT)
    assert sorted(name for name, _, _ in seen) == ["first", "second"]
    assert all(status is Status.COMPLETED for _, status, _ in seen)
    assert all(not thread.startswith("EntityHost") for _, _, thread in seen)


def test_subscribing_to_a_settled_alo_calls_back_at_once(system: AloSystem) -> None:
    system.start("done")
    system.cancel("done", "no")
    got: list[AloInfo] = []
    event = threading.Event()

    def callback(info: AloInfo) -> None:
        got.append(info)
        event.set()

    system.subscribe("done", callback)
    assert event.wait(WAIT)
    assert got[0].status is Status.CANCELLED


async def test_async_subscribe(system: AloSystem) -> None:
    system.start("a")
    event = threading.Event()
    info = await system.aio.subscribe("a", lambda _: event.set())
    assert info.status is Status.RUNNING
    await system.aio.complete("a", None)
    assert event.wait(WAIT)
