"""The checker catches what the model forbids: bugs planted in histories and in the engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import alo_actor._machine as machine
from alo_actor._events import Completed
from tests.simulation.check import Call, check, linearize
from tests.simulation.handlers import OPERATIONS, SYNC_OPERATION, Handlers
from tests.simulation.model import Context
from tests.simulation.protocol import (
    CANCELLED,
    COMPLETED,
    PAUSED,
    RUNNING,
    TIMED_OUT,
    AnyCommand,
    Cancel,
    Complete,
    FailureView,
    GetInfo,
    GetResult,
    Info,
    Pause,
    Raised,
    Response,
    Resume,
    Start,
    Value,
)
from tests.simulation.run import run_workload
from tests.simulation.workload import OWN_THREAD, Lane, Phase, Workload

HANDLERS = Handlers(seed=1)
CTX = Context(OPERATIONS, HANDLERS)
T0 = 1000.0
CANCEL_FAILURE = FailureView("cancelled", "Cancelled")
TIMEOUT_FAILURE = FailureView("the ALO's deadline passed", "TimedOut")


def info(
    status: str = RUNNING,
    *,
    created: bool | None = None,
    created_at: float = T0,
    settled_at: float | None = None,
    deadline: float | None = None,
    failure: FailureView | None = None,
    result_metadata: dict[str, str] | None = None,
    operation: str | None = None,
    attempt: int = 0,
) -> Info:
    return Info(
        status=status,
        created=created,
        operation=operation,
        metadata={},
        result_urls=[],
        attempt=attempt,
        created_at=created_at,
        settled_at=settled_at,
        deadline=deadline,
        failure=failure,
        result_metadata=result_metadata,
    )


class History:
    """Calls on one id, stamped by hand; each ``add`` or ``seq`` returns a new history."""

    def __init__(self, calls: tuple[Call, ...] = ()) -> None:
        self.calls = calls

    def add(
        self,
        cmd: AnyCommand,
        response: Response | None,
        inv: int,
        res: int,
        now: tuple[float, float] = (T0, T0),
    ) -> History:
        call = Call(f"lane{len(self.calls)}", cmd, inv, res, now[0], now[1], response)
        return History((*self.calls, call))

    def seq(self, cmd: AnyCommand, response: Response | None, now: float = T0) -> History:
        """A call after every call so far."""
        t = max((c.res for c in self.calls), default=0) + 10
        return self.add(cmd, response, t, t + 5, (now, now))

    def problem(self) -> str | None:
        return linearize(self.calls, CTX)


def started() -> History:
    return History().seq(Start("a"), info(created=True))


def completed(result: Any = 1) -> History:
    return started().seq(Complete("a", result), info(COMPLETED, settled_at=T0, result_metadata={}))


# -- sequential histories ----------------------------------------------------------------


def test_a_sound_history_passes() -> None:
    history = (
        completed({"v": 1})
        .seq(
            Complete("a", {"v": 2}, {"k": "x"}), info(COMPLETED, settled_at=T0, result_metadata={})
        )
        .seq(Cancel("a"), info(COMPLETED, settled_at=T0, result_metadata={}))
        .seq(Start("a"), info(COMPLETED, created=False, settled_at=T0, result_metadata={}))
        .seq(GetResult("a"), Value({"v": 1}))
        .seq(Start("a", input="other"), Raised("AlreadyExists"))
    )
    assert history.problem() is None


def test_a_second_completed_outcome_with_another_result_is_caught() -> None:
    history = completed({"v": 1}).seq(GetResult("a"), Value({"v": 2}))
    problem = history.problem()
    assert problem is not None
    assert "is not the one stored" in problem


def test_a_second_outcome_overwriting_the_first_is_caught() -> None:
    history = completed().seq(
        Complete("a", 2, {"k": "x"}), info(COMPLETED, settled_at=T0, result_metadata={"k": "x"})
    )
    assert history.problem() is not None


def test_a_settled_alo_that_changes_status_is_caught() -> None:
    history = completed().seq(Cancel("a"), info(CANCELLED, settled_at=T0, failure=CANCEL_FAILURE))
    assert history.problem() is not None


def test_resume_of_a_settled_alo_that_runs_again_is_caught() -> None:
    history = completed().seq(Resume("a"), info(RUNNING))
    assert history.problem() is not None


def test_pause_and_resume_follow_the_table() -> None:
    good = (
        started()
        .seq(Resume("a"), info(RUNNING))
        .seq(Pause("a"), info(PAUSED))
        .seq(Pause("a"), info(PAUSED))
        .seq(Resume("a"), info(RUNNING))
    )
    assert good.problem() is None
    assert started().seq(Pause("a"), info(RUNNING)).problem() is not None


def test_an_error_the_table_does_not_allow_is_caught() -> None:
    assert started().seq(Complete("a", 1), Raised("NotFound")).problem() is not None
    assert History().seq(Complete("a", 1), info(COMPLETED)).problem() is not None


# -- deadlines and the uncertain clock -------------------------------------------------


def test_a_command_past_the_deadline_must_see_it_timed_out() -> None:
    begun = History().seq(Start("a", deadline=T0 + 5), info(created=True, deadline=T0 + 5))
    late = T0 + 6
    running = begun.seq(GetInfo("a"), info(deadline=T0 + 5), now=late)
    assert running.problem() is not None
    timed = info(TIMED_OUT, deadline=T0 + 5, settled_at=T0 + 5, failure=TIMEOUT_FAILURE)
    assert begun.seq(GetInfo("a"), timed, now=late).problem() is None
    wrong_time = info(TIMED_OUT, deadline=T0 + 5, settled_at=late, failure=TIMEOUT_FAILURE)
    assert begun.seq(GetInfo("a"), wrong_time, now=late).problem() is not None


def test_while_the_clock_moves_past_the_deadline_either_answer_is_allowed() -> None:
    begun = History().seq(Start("a", deadline=T0 + 5), info(created=True, deadline=T0 + 5))
    moving = (T0 + 4, T0 + 6)
    won = info(COMPLETED, deadline=T0 + 5, settled_at=T0 + 4.5, result_metadata={})
    assert begun.add(Complete("a", 1), won, 100, 110, moving).problem() is None
    timed = info(TIMED_OUT, deadline=T0 + 5, settled_at=T0 + 5, failure=TIMEOUT_FAILURE)
    assert begun.add(Complete("a", 1), timed, 100, 110, moving).problem() is None
    too_late = info(COMPLETED, deadline=T0 + 5, settled_at=T0 + 5.5, result_metadata={})
    assert begun.add(Complete("a", 1), too_late, 100, 110, moving).problem() is not None


# -- races ---------------------------------------------------------------------------------


def test_of_racing_starts_exactly_one_creates() -> None:
    one = (
        History()
        .add(Start("a"), info(created=True), 0, 10)
        .add(Start("a"), info(created=False), 1, 9)
    )
    assert one.problem() is None
    both = (
        History()
        .add(Start("a"), info(created=True), 0, 10)
        .add(Start("a"), info(created=True), 1, 9)
    )
    assert both.problem() is not None


def test_of_racing_settles_exactly_one_wins() -> None:
    won = info(COMPLETED, settled_at=T0, result_metadata={})
    lost = info(CANCELLED, settled_at=T0, failure=CANCEL_FAILURE)
    ok = started().add(Complete("a", 1), won, 100, 110).add(Cancel("a"), won, 101, 109)
    assert ok.problem() is None
    ok = started().add(Complete("a", 1), lost, 100, 110).add(Cancel("a"), lost, 101, 109)
    assert ok.problem() is None
    both = started().add(Complete("a", 1), won, 100, 110).add(Cancel("a"), lost, 101, 109)
    assert both.problem() is not None


def test_acknowledgement_order_is_respected() -> None:
    # The cancel was answered before the complete began, so the complete cannot win.
    won = info(COMPLETED, settled_at=T0, result_metadata={})
    lost = info(CANCELLED, settled_at=T0, failure=CANCEL_FAILURE)
    history = started().add(Cancel("a"), lost, 100, 110).add(Complete("a", 1), won, 120, 130)
    assert history.problem() is not None


def test_a_call_without_an_answer_may_or_may_not_have_happened() -> None:
    done = info(COMPLETED, settled_at=T0, result_metadata={})
    for later in (info(RUNNING), done):
        history = started().add(Complete("a", 7), None, 100, 200).seq(GetInfo("a"), later)
        assert history.problem() is None
    forged = started().add(Complete("a", 7), None, 100, 200).seq(GetResult("a"), Value(8))
    assert forged.problem() is not None


# -- handlers -----------------------------------------------------------------------------


def _ok_attempt() -> int:
    return next(a for a in range(1, 50) if HANDLERS.outcome("a", a) == "ok")


def test_a_handler_result_is_judged_by_the_oracle() -> None:
    attempt = _ok_attempt()
    begun = History().seq(
        Start("a", SYNC_OPERATION), info(created=True, operation=SYNC_OPERATION, attempt=1)
    )
    result = {"id": "a", "attempt": attempt, "by": SYNC_OPERATION}
    assert begun.seq(GetResult("a"), Value(result)).problem() is None
    forged = {"id": "a", "attempt": attempt, "by": "someone else"}
    assert begun.seq(GetResult("a"), Value(forged)).problem() is not None


def test_check_groups_calls_by_id() -> None:
    calls = [
        *completed().calls,
        Call("x", GetInfo("b"), 1, 2, T0, T0, info(RUNNING)),  # b was never started
        Call("y", GetInfo("c"), 1, 2, T0, T0, Raised("NotFound")),
    ]
    problems = check(calls, CTX)
    assert [p.alo_id for p in problems] == ["b"]


# -- a bug planted in the engine --------------------------------------------------------


def test_a_run_catches_a_bug_planted_in_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = machine._decide_existing

    def last_writer_wins(state: Any, command: Any, now: float) -> Any:
        if isinstance(command, machine.Complete) and state.terminal:
            events = (Completed(now, command.result, command.result_metadata),)
            return machine.Decision(events=events)
        return real(state, command, now)

    monkeypatch.setattr(machine, "_decide_existing", last_writer_wins)
    steps: list[Any] = [
        Start("alo-0"),
        Complete("alo-0", {"v": 1}),
        Complete("alo-0", {"v": 2}),
        GetResult("alo-0", 1.0),
    ]
    workload = Workload(1, T0, ["alo-0"], [Phase([Lane("t", OWN_THREAD, steps)])])
    report = run_workload(workload, "planted", tmp_path)
    model_problems = [p for p in report.problems if p.startswith("ALO alo-0:")]
    assert model_problems, report.problems
    assert any("single-terminal" in p for p in report.problems)  # the verifier agrees


def test_the_same_workload_passes_without_the_bug(tmp_path: Path) -> None:
    steps: list[Any] = [
        Start("alo-0"),
        Complete("alo-0", {"v": 1}),
        Complete("alo-0", {"v": 2}),
        GetResult("alo-0", 1.0),
    ]
    workload = Workload(1, T0, ["alo-0"], [Phase([Lane("t", OWN_THREAD, steps)])])
    report = run_workload(workload, "planted", tmp_path)
    assert report.ok, report.problems
