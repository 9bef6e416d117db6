"""Reopening a log restores every ALO and re-runs what was RUNNING (semantics §4)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from alo_actor import (
    AloSystem,
    HandlerContext,
    ManualClock,
    OperationCancelled,
    OperationFailed,
    OperationTimedOut,
    RetryPolicy,
    Status,
)
from alo_actor._events import CODEC
from tests.conftest import WAIT, wait_until


def _blocking(started: threading.Event, release: threading.Event, attempts: list[int]) -> Any:
    def handler(ctx: HandlerContext, inp: Any) -> Any:
        attempts.append(ctx.attempt)
        started.set()
        release.wait(WAIT)
        return "from a closed system"

    return handler


def test_reopen_restores_statuses_results_failures_and_attempts(db_path: str) -> None:
    def flaky(ctx: HandlerContext, inp: Any) -> Any:
        raise OSError(f"disk on fire, attempt {ctx.attempt}")

    with AloSystem.open(db_path) as system:
        system.register("flaky", flaky, retry=RetryPolicy(max_attempts=2, initial_interval=0.01))
        system.start("running", None, {"in": 1}, metadata={"a": "b"})
        system.start("paused", None)
        system.pause("paused")
        system.start("completed", None)
        system.complete("completed", {"out": [1, 2]}, result_metadata={"rm": "x"})
        system.start("failed", None)
        system.fail("failed", "broken", type="Broken", details={"d": 1}, stack_trace="here")
        system.start("cancelled", None)
        system.cancel("cancelled", "stop")
        system.start("timed-out", None, deadline=time.time() - 1)
        system.start("retried", "flaky")
        with pytest.raises(OperationFailed):
            system.get_result("retried", timeout=WAIT)
        ids = ["running", "paused", "completed", "failed", "cancelled", "timed-out", "retried"]
        before = {alo_id: system.get_info(alo_id) for alo_id in ids}
        position = system.log.last_position()

    assert before["retried"].attempt == 2
    with AloSystem.open(db_path) as system:
        assert system.log.last_position() == position, "opening wrote to the log"
        for alo_id in ids:
            assert system.get_info(alo_id) == before[alo_id], alo_id
        assert system.get_info("running").status is Status.RUNNING
        assert system.get_info("paused").status is Status.PAUSED
        assert system.get_result("completed") == {"out": [1, 2]}
        with pytest.raises(OperationFailed) as failed:
            system.get_result("failed")
        assert failed.value.failure.details == {"d": 1}
        assert failed.value.failure.stack_trace == "here"
        with pytest.raises(OperationCancelled, match="stop"):
            system.get_result("cancelled")
        with pytest.raises(OperationTimedOut):
            system.get_result("timed-out")
        with pytest.raises(OperationFailed, match="disk on fire, attempt 2"):
            system.get_result("retried")
        # The restored external promises still take commands.
        system.complete("running", "finally")
        system.resume("paused")
        system.cancel("paused")
        assert system.log.last_position() > position

    with AloSystem.open(db_path) as system:
        assert system.get_result("running") == "finally"
        assert system.get_info("paused").status is Status.CANCELLED


def test_reopen_reruns_a_running_handler_with_a_higher_attempt(
    db_path: str, release: threading.Event
) -> None:
    started = threading.Event()
    first_attempts: list[int] = []
    system = AloSystem.open(db_path)
    try:
        system.register("work", _blocking(started, release, first_attempts))
        system.start("job", "work", {"task": 7}, metadata={"m": "1"})
        assert started.wait(WAIT)
        assert system.get_info("job").status is Status.RUNNING
    finally:
        system.close()
    release.set()  # the first attempt finishes after its system is gone: nothing is written

    with AloSystem.open(db_path) as system:
        info = system.get_info("job")
        assert info.status is Status.RUNNING
        assert info.attempt == 1  # nothing runs until the handler is registered
        seen: list[tuple[int, Any, dict[str, str]]] = []

        def work(ctx: HandlerContext, inp: Any) -> Any:
            seen.append((ctx.attempt, inp, dict(ctx.metadata)))
            return {"done": inp["task"]}

        system.register("work", work)
        assert system.get_result("job", timeout=WAIT) == {"done": 7}
        assert seen == [(2, {"task": 7}, {"m": "1"})]
        assert system.get_info("job").attempt == 2
    assert first_attempts == [1]


def test_every_restart_sees_a_higher_attempt(db_path: str, release: threading.Event) -> None:
    attempts: list[int] = []
    for _ in range(2):
        started = threading.Event()
        system = AloSystem.open(db_path)
        try:
            system.register("work", _blocking(started, release, attempts))
            if not attempts:
                system.start("job", "work")
            assert started.wait(WAIT)
        finally:
            system.close()
    assert attempts == [1, 2]
    with AloSystem.open(db_path) as system:
        system.register("work", lambda ctx, inp: ctx.attempt)
        assert system.get_result("job", timeout=WAIT) == 3


def test_paused_while_running_then_reopened_and_resumed_starts_a_new_attempt(
    db_path: str, release: threading.Event
) -> None:
    started = threading.Event()
    first_attempts: list[int] = []
    system = AloSystem.open(db_path)
    try:
        system.register("work", _blocking(started, release, first_attempts))
        system.start("job", "work")
        assert started.wait(WAIT)
        assert system.pause("job").status is Status.PAUSED
    finally:
        system.close()
    release.set()

    with AloSystem.open(db_path) as system:
        seen: list[int] = []

        def work(ctx: HandlerContext, inp: Any) -> Any:
            seen.append(ctx.attempt)
            return "resumed and done"

        system.register("work", work)
        system.settle()  # an attempt registering had started would be done by now
        assert seen == [], "a PAUSED ALO started an attempt before resume"
        assert system.get_info("job").status is Status.PAUSED
        assert system.resume("job").status is Status.RUNNING
        # The attempt that ran when it was paused died with the first process: resume
        # must start attempt 2 (semantics §2: "a new attempt starts if none runs").
        assert system.get_result("job", timeout=2.0) == "resumed and done"
        assert seen == [2]


def test_a_pending_retry_waits_out_its_backoff_across_a_restart(db_path: str) -> None:
    failed = threading.Event()

    def fails(ctx: HandlerContext, inp: Any) -> Any:
        failed.set()
        raise RuntimeError("try again later")

    policy = RetryPolicy(max_attempts=3, initial_interval=0.6)
    with AloSystem.open(db_path) as system:
        system.register("work", fails, retry=policy)
        system.start("job", "work")
        assert failed.wait(WAIT)
        wait_until(
            lambda: any(e.type == "AttemptFailed" for e in system.log.read_stream("job")),
            what="the failed attempt to be recorded",
        )
        [attempt_failed] = [e for e in system.log.read_stream("job") if e.type == "AttemptFailed"]
        retry_at = CODEC.decode(attempt_failed.data).retry_at  # type: ignore[attr-defined]

    started_at: list[float] = []
    with AloSystem.open(db_path) as system:

        def succeeds(ctx: HandlerContext, inp: Any) -> Any:
            started_at.append(time.time())
            return ctx.attempt

        system.register("work", succeeds, retry=policy)
        assert system.get_result("job", timeout=WAIT) == 2
    # Not re-run at once on registration: only when the backoff ran out.
    assert started_at[0] >= retry_at


def test_an_overdue_deadline_fires_on_reopen(db_path: str) -> None:
    # A manual clock, so that "later" is not overdue yet however long the reopen takes.
    with AloSystem.open(db_path, clock=ManualClock(1000.0)) as system:
        info = system.start("soon", None, timeout=2.0)
        system.start("later", None, timeout=8.0)
    clock = ManualClock(1005.0)  # "soon"'s deadline passed while the log was closed
    with AloSystem.open(db_path, clock=clock) as system:
        # No command touches "soon": the timer armed at open times it out by itself.
        wait_until(
            lambda: [e.type for e in system.log.read_stream("soon")] == ["Started", "TimedOut"],
            what="the overdue deadline to fire",
        )
        settled = system.get_info("soon")
        assert settled.status is Status.TIMED_OUT
        assert settled.settled_at == info.deadline
        assert system.get_info("later").status is Status.RUNNING
        clock.advance(3.0)  # "later"'s deadline, armed at open, fires: durable on return
        assert [e.type for e in system.log.read_stream("later")] == ["Started", "TimedOut"]
        with pytest.raises(OperationTimedOut):
            system.get_result("later", timeout=0)
