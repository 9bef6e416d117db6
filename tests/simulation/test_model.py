"""The reference model against the command table of semantics §2, cell by cell."""

from __future__ import annotations

from typing import Any

import pytest

from tests.simulation.answers import Rejected, allowed, observe
from tests.simulation.handlers import OPERATIONS, SYNC_OPERATION, Handlers
from tests.simulation.model import DEADLINE, Alo, Context, Span, handler_settles, transitions
from tests.simulation.protocol import (
    CANCELLED,
    COMPLETED,
    FAILED,
    PAUSED,
    RUNNING,
    TIMED_OUT,
    AnyCommand,
    Cancel,
    Complete,
    Fail,
    FailureView,
    GetInfo,
    GetResult,
    Info,
    Pause,
    Raised,
    Resume,
    Start,
    Value,
)

CTX = Context(OPERATIONS, Handlers(seed=1))
T0 = 1000.0
DEADLINE_AT = T0 + 10
NOW = Span(T0 + 1, T0 + 1)  # before the deadline
LATE = Span(T0 + 20, T0 + 20)  # after it
START = Start("a", None, {"x": 1}, {"team": "a"}, [], DEADLINE_AT)
COLUMNS = ("none", RUNNING, PAUSED, COMPLETED, FAILED, CANCELLED, TIMED_OUT)


def state(column: str) -> Alo | None:
    """The model's state for a column of the table, reached through the model itself."""
    if column == "none":
        return None
    alo: Alo | None = _only(None, START, Span(T0, T0))[0]
    step: AnyCommand | None = {
        RUNNING: None,
        PAUSED: Pause("a"),
        COMPLETED: Complete("a", "done"),
        FAILED: Fail("a", "boom"),
        CANCELLED: Cancel("a"),
        TIMED_OUT: GetInfo("a"),
    }[column]
    if step is None:
        return alo
    after: Alo | None = _only(alo, step, LATE if column == TIMED_OUT else NOW)[0]
    return after


def _only(alo: Alo | None, cmd: AnyCommand, now: Span) -> tuple[Any, Any]:
    branches = transitions(alo, cmd, now, CTX)
    assert len(branches) == 1, branches
    _, after, expect = branches[0]
    return after, expect


# The table, one row per command: for each column, (status after, reply).
# Replies: "info" (created None), "created", "not created", or an error's name;
# "result" for get_result (checked below); "same" = unchanged state.
T = "same"
TABLE: dict[str, tuple[tuple[str | None, str], ...]] = {
    "start (same)": (
        (RUNNING, "created"),
        (T, "not created"),
        (T, "not created"),
        (T, "not created"),
        (T, "not created"),
        (T, "not created"),
        (T, "not created"),
    ),
    "start (different)": (
        (RUNNING, "created"),
        (T, "AlreadyExists"),
        (T, "AlreadyExists"),
        (T, "AlreadyExists"),
        (T, "AlreadyExists"),
        (T, "AlreadyExists"),
        (T, "AlreadyExists"),
    ),
    "get_info": ((None, "NotFound"),) + ((T, "info"),) * 6,
    "get_result": ((None, "NotFound"),) + ((T, "result"),) * 6,
    "complete": (
        (None, "NotFound"),
        (COMPLETED, "info"),
        (COMPLETED, "info"),
        (T, "info"),
        (T, "info"),
        (T, "info"),
        (T, "info"),
    ),
    "fail": (
        (None, "NotFound"),
        (FAILED, "info"),
        (FAILED, "info"),
        (T, "info"),
        (T, "info"),
        (T, "info"),
        (T, "info"),
    ),
    "cancel": (
        (None, "NotFound"),
        (CANCELLED, "info"),
        (CANCELLED, "info"),
        (T, "info"),
        (T, "info"),
        (T, "info"),
        (T, "info"),
    ),
    "pause": ((None, "NotFound"), (PAUSED, "info")) + ((T, "info"),) * 5,
    "resume": ((None, "NotFound"), (T, "info"), (RUNNING, "info")) + ((T, "info"),) * 4,
    # A read after the deadline: it passes first (the "deadline passes" row).
    "deadline passes": (
        (None, "NotFound"),
        (TIMED_OUT, "info"),
        (TIMED_OUT, "info"),
        (T, "info"),
        (T, "info"),
        (T, "info"),
        (T, "info"),
    ),
}


def command(row: str) -> tuple[AnyCommand, Span]:
    rows: dict[str, tuple[AnyCommand, Span]] = {
        "start (same)": (START, NOW),
        "start (different)": (Start("a", None, {"x": 2}, {"team": "a"}, [], DEADLINE_AT), NOW),
        "get_info": (GetInfo("a"), NOW),
        "get_result": (GetResult("a"), NOW),
        "complete": (Complete("a", "late"), NOW),
        "fail": (Fail("a", "late"), NOW),
        "cancel": (Cancel("a"), NOW),
        "pause": (Pause("a"), NOW),
        "resume": (Resume("a"), NOW),
        "deadline passes": (GetInfo("a"), LATE),
    }
    return rows[row]


CELLS = [
    (row, column, expected)
    for row, cells in TABLE.items()
    for column, expected in zip(COLUMNS, cells, strict=True)
]


@pytest.mark.parametrize(
    ("row", "column", "expected"), CELLS, ids=[f"{r}-{c}" for r, c, _ in CELLS]
)
def test_every_cell_of_the_command_table(
    row: str, column: str, expected: tuple[str | None, str]
) -> None:
    before = state(column)
    cmd, now = command(row)
    after, expect = _only(before, cmd, now)
    status, reply = expected
    if status == T:
        assert after == before, "a command that changes nothing writes nothing"
    elif status is None:
        assert after is None
    else:
        assert after is not None and after.status == status
    if reply in ("NotFound", "AlreadyExists"):
        assert expect.kind == "error" and expect.error == reply
    elif reply == "result":
        assert expect.kind == "result"
    else:
        assert expect.kind == "info"
        assert expect.created is {"created": True, "not created": False, "info": None}[reply]


def info_of(alo: Alo, **changes: Any) -> Info:
    """The Info an engine would answer for ``alo`` (times made exact)."""
    settled = None
    if alo.terminal:
        settled = DEADLINE_AT if alo.by == DEADLINE else T0 + 1
    fields: dict[str, Any] = {
        "status": alo.status,
        "created": None,
        "operation": alo.operation,
        "metadata": dict(alo.metadata),
        "result_urls": list(alo.result_urls),
        "attempt": 0,
        "created_at": T0,
        "settled_at": settled,
        "deadline": alo.deadline,
        "failure": {
            FAILED: FailureView("boom", "Error"),
            CANCELLED: FailureView("cancelled", "Cancelled"),
            TIMED_OUT: FailureView("deadline", "TimedOut"),
        }.get(alo.status),
        "result_metadata": {} if alo.status == COMPLETED else None,
    }
    fields.update(changes)
    return Info(**fields)


@pytest.mark.parametrize(
    ("column", "good", "bad"),
    [
        (RUNNING, Raised("TimeoutError"), Value("done")),
        (PAUSED, Raised("TimeoutError"), Raised("OperationCancelled")),
        (COMPLETED, Value("done"), Value("other")),
        (FAILED, Raised("OperationFailed", FailureView("boom", "Error")), Value("done")),
        (
            CANCELLED,
            Raised("OperationCancelled", FailureView("x", "Cancelled")),
            Raised("OperationFailed", FailureView("x", "Cancelled")),
        ),
        (
            TIMED_OUT,
            Raised("OperationTimedOut", FailureView("x", "TimedOut")),
            Raised("TimeoutError"),
        ),
    ],
)
def test_get_result_answers_as_the_table_says(column: str, good: Any, bad: Any) -> None:
    alo = state(column)
    assert alo is not None
    assert allowed(alo, GetResult("a"), NOW, good, CTX)
    assert not allowed(alo, GetResult("a"), NOW, bad, CTX)


def test_the_info_of_each_state_is_checked_field_by_field() -> None:
    for column in COLUMNS[1:]:
        alo = state(column)
        assert alo is not None
        good = info_of(alo)
        assert allowed(alo, GetInfo("a"), NOW, good, CTX), column
        changes: list[dict[str, Any]] = [
            {"status": RUNNING if alo.status != RUNNING else PAUSED},
            {"created": True},
            {"metadata": {}},
            {"deadline": None},
            {"attempt": 1},
            {"created_at": T0 + 0.5},
            {"settled_at": None if alo.terminal else T0},
        ]
        for change in changes:
            assert not allowed(alo, GetInfo("a"), NOW, info_of(alo, **change), CTX), (
                column,
                change,
            )


def test_a_start_whose_deadline_is_not_after_now_creates_it_timed_out() -> None:
    after, expect = _only(None, Start("a", deadline=T0), Span(T0, T0))
    assert after.status == TIMED_OUT and expect.created is True
    timed = Info(TIMED_OUT, True, None, {}, [], 0, T0, T0, T0, FailureView("x", "TimedOut"), None)
    assert observe(after, expect, timed, Span(T0, T0), CTX) is not None


def test_the_timeout_is_not_compared_on_a_repeat_start() -> None:
    alo = state(RUNNING)
    again = Start("a", None, {"x": 1}, {"team": "a"}, [], DEADLINE_AT + 99)
    assert _only(alo, again, NOW)[1].created is False


def test_an_unregistered_operation_is_not_found_and_writes_nothing() -> None:
    after, expect = _only(None, Start("a", "no-such-operation"), NOW)
    assert after is None and expect.error == "NotFound"


def test_first_writer_wins_and_the_outcome_never_changes() -> None:
    alo = state(COMPLETED)
    assert alo is not None
    seen = observe(alo, _only(alo, GetInfo("a"), NOW)[1], info_of(alo), NOW, CTX)
    assert seen is not None
    with pytest.raises(Rejected):
        observe(seen, _only(seen, GetInfo("a"), NOW)[1], info_of(seen, settled_at=T0 + 2), NOW, CTX)
    with pytest.raises(Rejected):
        observe(seen, _only(seen, GetResult("a"), NOW)[1], Value("other"), NOW, CTX)


def test_handlers_settle_only_what_runs_an_operation() -> None:
    assert handler_settles(state(RUNNING), T0) == []  # an external promise
    ran = _only(None, Start("h", SYNC_OPERATION), Span(T0, T0))[0]
    outcomes = handler_settles(ran, T0)
    assert sorted(a.status for a in outcomes) == [COMPLETED, FAILED]
    assert handler_settles(state(COMPLETED), T0) == []
