"""Tests of the pure ALO state machine (``decide`` / ``evolve``) against semantics §2-§4."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from alo_actor._errors import AloError, AlreadyExists, NotFound
from alo_actor._events import (
    DELIVERY_EVENTS,
    TERMINAL_EVENTS,
    AloEvent,
    AttemptFailed,
    AttemptStarted,
    Cancelled,
    Completed,
    Delivered,
    DeliveriesDue,
    DeliveriesFinished,
    DeliveryAbandoned,
    Failed,
    Paused,
    Resumed,
    Started,
    TimedOut,
)
from alo_actor._machine import (
    AloState,
    AttemptErrored,
    AttemptSucceeded,
    BeginAttempt,
    Cancel,
    Command,
    Complete,
    Decision,
    Fail,
    Pause,
    Read,
    RecordDelivery,
    Recover,
    Resume,
    Start,
    decide,
    evolve,
    fold,
    transition_fault,
)
from alo_actor._model import Failure, Status


def raw(value: object) -> msgspec.Raw:
    return msgspec.Raw(msgspec.msgpack.encode(value))


ALO_ID = "order-42"
OP = "greeting"
INPUT = raw({"name": "Ada"})
METADATA = {"tenant": "acme", "region": "eu"}
# The table's ALOs own no result URLs: what an outcome owes to result URLs is tested
# on its own below.
URLS: list[str] = []
HOOK = "https://example.com/hook"
RESULT = raw("hello Ada")
FAILURE = Failure(message="boom", type="ValueError")

T0 = 100.0  # created_at of every prepared ALO
NOW = 110.0  # when the commands of the table arrive
DEADLINE = 105.0  # a deadline between T0 and NOW


def start(
    *,
    operation: str | None = OP,
    input: msgspec.Raw = INPUT,
    metadata: dict[str, str] | None = None,
    result_urls: list[str] | None = None,
    deadline: float | None = None,
) -> Start:
    return Start(
        id=ALO_ID,
        operation=operation,
        input=input,
        metadata=dict(METADATA) if metadata is None else metadata,
        result_urls=list(URLS) if result_urls is None else result_urls,
        deadline=deadline,
    )


def started(
    at: float = T0, *, operation: str | None = OP, deadline: float | None = None
) -> Started:
    return Started(
        at=at,
        id=ALO_ID,
        operation=operation,
        input=INPUT,
        metadata=dict(METADATA),
        result_urls=list(URLS),
        deadline=deadline,
    )


def build(*events: AloEvent) -> AloState:
    state = fold(events)
    assert state is not None
    return state


ABSENT = "ABSENT"  # ⊥: no ALO with that id
NON_TERMINAL = ("RUNNING", "PAUSED")
TERMINALS = ("COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT")
STATE_NAMES = (ABSENT, *NON_TERMINAL, *TERMINALS)


def prepared_events(name: str, deadline: float | None = None) -> tuple[AloEvent, ...]:
    """The log of an ALO of operation OP, created at T0, in the state ``name``.

    Attempt 1 (begun by Started) is still running in RUNNING and PAUSED.
    """
    first = started(deadline=deadline)
    return {
        "RUNNING": (first,),
        "PAUSED": (first, Paused(T0 + 1)),
        "COMPLETED": (first, Completed(T0 + 1, raw("done"), {})),
        "FAILED": (first, Failed(T0 + 1, FAILURE)),
        "CANCELLED": (first, Cancelled(T0 + 1, Failure("stop", "Cancelled"))),
        "TIMED_OUT": (started(deadline=DEADLINE), TimedOut(DEADLINE)),
    }[name]


def prepared(name: str) -> AloState | None:
    return None if name == ABSENT else build(*prepared_events(name))


# -- the command table of semantics §2 ------------------------------------------------

COMMANDS: dict[str, Command] = {
    # the deadline differs from every stored one: it is not compared
    "start-same": start(deadline=NOW + 100),
    "start-other-input": start(input=raw({"name": "Bob"})),
    "read": Read(),
    "complete": Complete(RESULT, {"lang": "en"}),
    "fail": Fail(FAILURE),
    "cancel": Cancel("user asked"),
    "pause": Pause(),
    "resume": Resume(),
    "begin-attempt": BeginAttempt(),
    "recover": Recover(),
    "attempt-succeeded": AttemptSucceeded(1, RESULT, {"lang": "en"}),
    "attempt-errored": AttemptErrored(1, FAILURE, retry_at=None),
    "record-delivery": RecordDelivery(HOOK, delivered=True, reason="HTTP 200"),
}


@dataclass(frozen=True)
class Expect:
    """One cell: the events, the reply, and the status after (``None``: nothing changed)."""

    events: tuple[AloEvent, ...] = ()
    error: type[AloError] | None = None
    created: bool | None = None
    then: Status | None = None


UNCHANGED = Expect()
NOT_FOUND = Expect(error=NotFound)


def row(absent: Expect, running: Expect, paused: Expect, terminal: Expect) -> dict[str, Expect]:
    return {
        ABSENT: absent,
        "RUNNING": running,
        "PAUSED": paused,
        **dict.fromkeys(TERMINALS, terminal),
    }


def settles(event: AloEvent, status: Status) -> Expect:
    return Expect(events=(event,), then=status)


CREATED_SAME = Started(NOW, ALO_ID, OP, INPUT, dict(METADATA), list(URLS), NOW + 100)
CREATED_OTHER = Started(NOW, ALO_ID, OP, raw({"name": "Bob"}), dict(METADATA), list(URLS), None)
COMPLETED_NOW = Completed(NOW, RESULT, {"lang": "en"})
FAILED_NOW = Failed(NOW, FAILURE)
CANCELLED_NOW = Cancelled(NOW, Failure("user asked", "Cancelled"))

TABLE: dict[str, dict[str, Expect]] = {
    "start-same": row(
        absent=Expect(events=(CREATED_SAME,), created=True, then=Status.RUNNING),
        running=Expect(created=False),
        paused=Expect(created=False),
        terminal=Expect(created=False),
    ),
    "start-other-input": row(
        absent=Expect(events=(CREATED_OTHER,), created=True, then=Status.RUNNING),
        running=Expect(error=AlreadyExists),
        paused=Expect(error=AlreadyExists),
        terminal=Expect(error=AlreadyExists),
    ),
    "read": row(NOT_FOUND, UNCHANGED, UNCHANGED, UNCHANGED),
    "complete": row(
        NOT_FOUND,
        settles(COMPLETED_NOW, Status.COMPLETED),
        settles(COMPLETED_NOW, Status.COMPLETED),
        UNCHANGED,  # first writer wins
    ),
    "fail": row(
        NOT_FOUND,
        settles(FAILED_NOW, Status.FAILED),
        settles(FAILED_NOW, Status.FAILED),
        UNCHANGED,
    ),
    "cancel": row(
        NOT_FOUND,
        settles(CANCELLED_NOW, Status.CANCELLED),
        settles(CANCELLED_NOW, Status.CANCELLED),
        UNCHANGED,
    ),
    "pause": row(NOT_FOUND, settles(Paused(NOW), Status.PAUSED), UNCHANGED, UNCHANGED),
    # attempt 1 still runs in PAUSED, so resuming starts no new attempt
    "resume": row(NOT_FOUND, UNCHANGED, settles(Resumed(NOW), Status.RUNNING), UNCHANGED),
    # attempt 1 still runs: nothing to begin
    "begin-attempt": row(NOT_FOUND, UNCHANGED, UNCHANGED, UNCHANGED),
    "recover": row(
        NOT_FOUND, settles(AttemptStarted(NOW, 2), Status.RUNNING), UNCHANGED, UNCHANGED
    ),
    "attempt-succeeded": row(
        NOT_FOUND,
        settles(COMPLETED_NOW, Status.COMPLETED),
        settles(COMPLETED_NOW, Status.COMPLETED),
        UNCHANGED,  # an outcome after the ALO became terminal is discarded
    ),
    "attempt-errored": row(
        NOT_FOUND,
        settles(FAILED_NOW, Status.FAILED),
        settles(FAILED_NOW, Status.FAILED),
        UNCHANGED,
    ),
    # a URL the ALO does not own is never recorded
    "record-delivery": row(NOT_FOUND, UNCHANGED, UNCHANGED, UNCHANGED),
}

CELLS = [(command, state) for command in TABLE for state in STATE_NAMES]


def assert_reply(decision: Decision, expected: Expect) -> None:
    if expected.error is None:
        assert decision.error is None
    else:
        assert type(decision.error) is expected.error
    assert decision.created is expected.created


def test_table_covers_every_command_and_state() -> None:
    assert {type(command) for command in COMMANDS.values()} == set(Command.__subclasses__())
    assert TABLE.keys() == COMMANDS.keys()
    for cells in TABLE.values():
        assert tuple(cells) == STATE_NAMES


@pytest.mark.parametrize(("command_name", "state_name"), CELLS, ids=[f"{c}@{s}" for c, s in CELLS])
def test_command_table(command_name: str, state_name: str) -> None:
    state = prepared(state_name)
    expected = TABLE[command_name][state_name]

    decision = decide(state, COMMANDS[command_name], NOW)

    assert decision.events == expected.events
    assert_reply(decision, expected)
    after = fold(decision.events, state)
    if expected.then is None:
        assert after == state  # unchanged: nothing written
    else:
        assert after is not None
        assert after.status is expected.then
        assert after.version == (state.version if state else 0) + len(expected.events)


@pytest.mark.parametrize("command_name", ["complete", "attempt-succeeded"])
def test_completion_records_result(command_name: str) -> None:
    after = build(
        *prepared_events("RUNNING"),
        *decide(prepared("RUNNING"), COMMANDS[command_name], NOW).events,
    )
    assert after.result == RESULT
    assert after.result_metadata == {"lang": "en"}
    assert after.failure is None
    assert after.settled_at == NOW
    assert not after.attempt_running


@pytest.mark.parametrize(
    ("command", "failure"),
    [
        (Fail(FAILURE), FAILURE),
        (AttemptErrored(1, FAILURE, retry_at=None), FAILURE),
        (Cancel("user asked"), Failure("user asked", "Cancelled")),
    ],
)
def test_unsuccessful_settlement_records_failure(command: Command, failure: Failure) -> None:
    state = build(*prepared_events("PAUSED"))
    after = fold(decide(state, command, NOW).events, state)
    assert after is not None
    assert after.failure == failure
    assert after.result is None
    assert after.settled_at == NOW


def test_not_found_writes_nothing_and_carries_a_failure() -> None:
    decision = decide(None, Complete(RESULT, {}), NOW)
    assert decision.events == ()
    assert isinstance(decision.error, NotFound)
    assert decision.error.failure.type == "NotFound"


# -- deadlines ------------------------------------------------------------------------


def with_deadline(name: str, deadline: float = DEADLINE) -> AloState:
    return build(*prepared_events(name, deadline=deadline))


@pytest.mark.parametrize("state_name", NON_TERMINAL)
@pytest.mark.parametrize("command_name", list(COMMANDS))
def test_deadline_is_enforced_before_any_command(command_name: str, state_name: str) -> None:
    state = with_deadline(state_name)
    command = COMMANDS[command_name]

    decision = decide(state, command, NOW)

    timed_out = TimedOut(at=DEADLINE)
    assert decision.events[:1] == (timed_out,)
    # ... then the command applies to the timed-out ALO
    then = decide(evolve(state, timed_out), command, NOW)
    assert decision.events[1:] == then.events
    assert type(decision.error) is type(then.error)
    assert decision.created is then.created
    # which, per the table, changes nothing more
    assert decision.events == (timed_out,)
    assert_reply(decision, TABLE[command_name]["TIMED_OUT"])
    after = fold(decision.events, state)
    assert after is not None
    assert after.status is Status.TIMED_OUT
    assert after.settled_at == DEADLINE
    assert after.failure is not None
    assert after.failure.type == "TimedOut"
    assert after.result is None
    assert not after.attempt_running


def test_complete_after_deadline_is_unchanged_after_timing_out() -> None:
    state = with_deadline("RUNNING")
    decision = decide(state, Complete(RESULT, {}), NOW)
    assert decision.events == (TimedOut(DEADLINE),)
    assert decision.error is None
    after = fold(decision.events, state)
    assert after is not None
    assert after.status is Status.TIMED_OUT
    assert after.result is None


def test_deadline_equal_to_now_has_passed() -> None:
    decision = decide(with_deadline("RUNNING"), Complete(RESULT, {}), DEADLINE)
    assert decision.events == (TimedOut(DEADLINE),)


@pytest.mark.parametrize("state_name", NON_TERMINAL)
def test_command_just_before_deadline_applies(state_name: str) -> None:
    state = with_deadline(state_name)
    now = DEADLINE - 0.001
    decision = decide(state, Complete(RESULT, {}), now)
    assert decision.events == (Completed(now, RESULT, {}),)
    after = fold(decision.events, state)
    assert after is not None
    assert after.settled_at is not None
    assert after.settled_at <= DEADLINE


def test_timed_out_at_is_max_of_deadline_and_created_at() -> None:
    # a log may hold a deadline before the creation time; the timeout is then at created_at
    state = build(started(at=T0, deadline=T0 - 3))
    decision = decide(state, Read(), NOW)
    assert decision.events == (TimedOut(at=T0),)
    after = fold(decision.events, state)
    assert after is not None
    assert after.settled_at == T0


@pytest.mark.parametrize("state_name", TERMINALS)
def test_terminal_alo_past_its_deadline_does_not_time_out(state_name: str) -> None:
    state = build(*prepared_events(state_name, deadline=T0 + 2))
    for command in COMMANDS.values():
        assert decide(state, command, NOW).events == ()


@pytest.mark.parametrize("operation", [OP, None])
@pytest.mark.parametrize("deadline", [NOW - 50, NOW - 0.5, NOW], ids=["long-ago", "just", "now"])
def test_start_with_deadline_not_after_now_is_already_timed_out(
    deadline: float, operation: str | None
) -> None:
    decision = decide(None, start(operation=operation, deadline=deadline), NOW)

    assert decision.created is True
    assert decision.error is None
    assert decision.events == (
        started(NOW, operation=operation, deadline=deadline),
        TimedOut(at=NOW),
    )
    state = build(*decision.events)
    assert state.status is Status.TIMED_OUT
    assert state.created_at == NOW
    assert state.settled_at == state.created_at == max(deadline, state.created_at)
    assert state.failure is not None
    assert state.failure.type == "TimedOut"
    assert not state.attempt_running


def test_start_with_deadline_after_now_is_running() -> None:
    decision = decide(None, start(deadline=NOW + 0.001), NOW)
    assert decision.events == (started(NOW, deadline=NOW + 0.001),)
    state = build(*decision.events)
    assert state.status is Status.RUNNING
    assert state.deadline == NOW + 0.001
    assert state.settled_at is None


# -- start on an existing ALO ---------------------------------------------------------

EXISTING = (*NON_TERMINAL, *TERMINALS)


@pytest.mark.parametrize("state_name", EXISTING)
@pytest.mark.parametrize(
    "command",
    [
        start(),
        start(deadline=NOW + 1),
        start(deadline=NOW - 1),  # even a passed one: the timeout is not compared
        start(input=msgspec.Raw(bytes(INPUT))),  # equal bytes, another object
        start(metadata={"region": "eu", "tenant": "acme"}),  # same pairs, other order
    ],
    ids=["identical", "later-deadline", "passed-deadline", "equal-input-bytes", "metadata-order"],
)
def test_start_same_is_unchanged(state_name: str, command: Start) -> None:
    state = prepared(state_name)
    decision = decide(state, command, NOW)
    assert decision == Decision(created=False)
    assert fold(decision.events, state) == state


def test_start_same_external_promise_is_unchanged() -> None:
    state = build(started(operation=None))
    assert decide(state, start(operation=None), NOW) == Decision(created=False)


@pytest.mark.parametrize("state_name", EXISTING)
@pytest.mark.parametrize(
    "command",
    [
        start(operation="billing.charge"),
        start(operation=None),
        start(input=raw({"name": "Bob"})),
        start(input=raw({"name": "Ada", "x": None})),
        start(input=raw(None)),
        start(metadata={}),
        start(metadata={**METADATA, "extra": "1"}),
        start(metadata={**METADATA, "tenant": "other"}),
        start(result_urls=[HOOK]),
        start(result_urls=["https://example.com/other"]),
        start(result_urls=[*URLS, "https://example.com/second"]),
    ],
    ids=[
        "operation",
        "operation-none",
        "input",
        "input-extra-key",
        "input-none",
        "metadata-empty",
        "metadata-extra",
        "metadata-value",
        "urls-added",
        "urls-other",
        "urls-extra",
    ],
)
def test_start_different_is_already_exists(state_name: str, command: Start) -> None:
    decision = decide(prepared(state_name), command, NOW)
    assert decision.events == ()
    assert isinstance(decision.error, AlreadyExists)
    assert decision.created is None


def test_start_compares_input_as_encoded_bytes() -> None:
    state = build(started())  # INPUT is {"name": "Ada"}
    same_value_other_bytes = msgspec.Raw(msgspec.json.encode({"name": "Ada"}))
    assert bytes(same_value_other_bytes) != bytes(INPUT)
    decision = decide(state, start(input=same_value_other_bytes), NOW)
    assert isinstance(decision.error, AlreadyExists)


# -- handler attempts (semantics §3) --------------------------------------------------


def test_attempt_numbers_at_creation() -> None:
    assert build(started()).attempt == 1
    assert build(started()).attempt_running
    assert build(started(operation=None)).attempt == 0
    assert not build(started(operation=None)).attempt_running


RETRY_AT = T0 + 4

# attempt 1 failed and waits for its retry at RETRY_AT
BACKING_OFF = (started(), AttemptFailed(T0 + 1, 1, FAILURE, RETRY_AT))


@pytest.mark.parametrize("state_name", NON_TERMINAL)
@pytest.mark.parametrize("attempt", [0, 2, 7])
def test_outcome_of_another_attempt_is_discarded(state_name: str, attempt: int) -> None:
    state = prepared(state_name)
    assert decide(state, AttemptSucceeded(attempt, RESULT, {}), NOW) == Decision()
    assert decide(state, AttemptErrored(attempt, FAILURE, None), NOW) == Decision()
    assert decide(state, AttemptErrored(attempt, FAILURE, NOW + 1), NOW) == Decision()


def test_outcome_of_an_attempt_already_failed_is_discarded() -> None:
    state = build(*BACKING_OFF)  # attempt 1 is no longer running
    assert decide(state, AttemptSucceeded(1, RESULT, {}), T0 + 2) == Decision()
    assert decide(state, AttemptErrored(1, FAILURE, None), T0 + 2) == Decision()


@pytest.mark.parametrize("state_name", TERMINALS)
@pytest.mark.parametrize("retry_at", [None, NOW + 1])
def test_outcome_after_terminal_is_discarded(state_name: str, retry_at: float | None) -> None:
    state = prepared(state_name)
    assert decide(state, AttemptSucceeded(1, RESULT, {}), NOW) == Decision()
    assert decide(state, AttemptErrored(1, FAILURE, retry_at), NOW) == Decision()


@pytest.mark.parametrize("state_name", NON_TERMINAL)
def test_attempt_errored_without_retry_fails(state_name: str) -> None:
    state = prepared(state_name)
    decision = decide(state, AttemptErrored(1, FAILURE, retry_at=None), NOW)
    assert decision.events == (Failed(NOW, FAILURE),)
    after = fold(decision.events, state)
    assert after is not None
    assert after.status is Status.FAILED
    assert after.failure == FAILURE


@pytest.mark.parametrize("state_name", NON_TERMINAL)
def test_attempt_errored_with_retry_is_recorded(state_name: str) -> None:
    state = prepared(state_name)
    decision = decide(state, AttemptErrored(1, FAILURE, retry_at=NOW + 2), NOW)
    assert decision.events == (AttemptFailed(NOW, 1, FAILURE, NOW + 2),)
    after = fold(decision.events, state)
    assert after is not None
    assert after.status is Status(state_name.lower())  # a retry does not settle or resume
    assert after.attempt == 1
    assert not after.attempt_running
    assert after.retry_at == NOW + 2
    assert after.settled_at is None
    assert after.failure is None


def test_outcome_while_paused_is_accepted() -> None:
    state = prepared("PAUSED")
    decision = decide(state, AttemptSucceeded(1, RESULT, {}), NOW)
    assert decision.events == (Completed(NOW, RESULT, {}),)


@pytest.mark.parametrize(
    ("log", "runnable", "now", "starts"),
    [
        # no attempt runs, backoff over: a new attempt starts
        ((*BACKING_OFF, Paused(T0 + 2)), True, RETRY_AT, True),
        ((*BACKING_OFF, Paused(T0 + 2)), True, RETRY_AT + 1, True),
        # attempt failed while paused: its retry waited for resume
        ((started(), Paused(T0 + 1), AttemptFailed(T0 + 2, 1, FAILURE, RETRY_AT)), True, NOW, True),
        # backoff still pending: the retry timer will begin it
        ((*BACKING_OFF, Paused(T0 + 2)), True, RETRY_AT - 0.5, False),
        # no handler registered in this process
        ((*BACKING_OFF, Paused(T0 + 2)), False, NOW, False),
        # an attempt still runs
        ((started(), Paused(T0 + 1)), True, NOW, False),
        # an external promise has no attempts
        ((started(operation=None), Paused(T0 + 1)), True, NOW, False),
    ],
    ids=[
        "due",
        "overdue",
        "failed-while-paused",
        "backoff-pending",
        "not-runnable",
        "attempt-running",
        "external",
    ],
)
def test_resume_starts_attempt_only_if_due(
    log: tuple[AloEvent, ...], runnable: bool, now: float, starts: bool
) -> None:
    state = build(*log)
    decision = decide(state, Resume(runnable=runnable), now)
    expected: tuple[AloEvent, ...] = (Resumed(now),)
    if starts:
        expected = (*expected, AttemptStarted(now, state.attempt + 1))
    assert decision.events == expected
    after = fold(decision.events, state)
    assert after is not None
    assert after.status is Status.RUNNING
    if starts:
        assert after.attempt == state.attempt + 1
        assert after.attempt_running
        assert after.retry_at is None


def test_begin_attempt_when_backoff_runs_out() -> None:
    state = build(*BACKING_OFF)
    assert decide(state, BeginAttempt(), RETRY_AT - 0.5) == Decision()
    decision = decide(state, BeginAttempt(), RETRY_AT)
    assert decision.events == (AttemptStarted(RETRY_AT, 2),)
    after = fold(decision.events, state)
    assert after is not None
    assert (after.attempt, after.attempt_running, after.retry_at) == (2, True, None)
    # attempt 2 runs: a duplicate timer begins nothing
    assert decide(after, BeginAttempt(), RETRY_AT + 1) == Decision()
    # only attempt 2's outcome counts now
    assert decide(after, AttemptSucceeded(1, RESULT, {}), RETRY_AT + 1) == Decision()
    outcome = decide(after, AttemptSucceeded(2, RESULT, {}), RETRY_AT + 1)
    assert outcome.events == (Completed(RETRY_AT + 1, RESULT, {}),)


@pytest.mark.parametrize(
    "log",
    [
        (*BACKING_OFF, Paused(T0 + 2)),  # retry waits for resume
        (started(operation=None),),  # nothing to run
        (started(),),  # attempt 1 runs
    ],
    ids=["paused", "external", "attempt-running"],
)
def test_begin_attempt_is_unchanged(log: tuple[AloEvent, ...]) -> None:
    assert decide(build(*log), BeginAttempt(), NOW) == Decision()


def test_begin_attempt_after_resume_with_pending_backoff() -> None:
    state = build(*BACKING_OFF, Paused(T0 + 2))
    resumed = fold(decide(state, Resume(), T0 + 3).events, state)
    assert resumed is not None
    assert resumed.status is Status.RUNNING
    assert not resumed.attempt_running
    assert decide(resumed, BeginAttempt(), RETRY_AT).events == (AttemptStarted(RETRY_AT, 2),)


def test_recover_bumps_attempt_and_stales_the_lost_one() -> None:
    state = build(started())  # attempt 1 was running when the process died
    decision = decide(state, Recover(), NOW)
    assert decision.events == (AttemptStarted(NOW, 2),)
    after = fold(decision.events, state)
    assert after is not None
    assert (after.attempt, after.attempt_running) == (2, True)
    assert decide(after, AttemptSucceeded(1, RESULT, {}), NOW + 1) == Decision()
    # another restart: the re-run sees a higher number again
    again = fold(decide(after, Recover(), NOW + 2).events, after)
    assert again is not None
    assert again.attempt == 3


@pytest.mark.parametrize(
    ("log", "now", "events"),
    [
        (BACKING_OFF, RETRY_AT - 0.5, ()),  # the retry timer will begin it
        (BACKING_OFF, RETRY_AT, (AttemptStarted(RETRY_AT, 2),)),
        ((started(operation=None),), NOW, ()),
        ((started(), Paused(T0 + 1)), NOW, ()),
    ],
    ids=["backoff-pending", "backoff-over", "external", "paused"],
)
def test_recover(log: tuple[AloEvent, ...], now: float, events: tuple[AloEvent, ...]) -> None:
    assert decide(build(*log), Recover(), now) == Decision(events=events)


# -- invariants of semantics §4, over random histories --------------------------------

TIME_STEPS = [0.0, 0.25, 1.0, 3.0]
DEADLINE_OFFSETS = [None, None, None, -1.0, 0.0, 10.0, 30.0, 60.0]
RETRY_ATS = [None, T0 + 1, T0 + 5, T0 + 15]  # absolute, so some have passed when drawn
HOOK2 = "https://example.com/other-hook"
URL_LISTS: list[list[str]] = [[], [], [HOOK], [HOOK, HOOK2]]

# every command a random history draws from: a flat list keeps drawing fast; the
# lifecycle commands are repeated so that histories pause, resume and retry often
# before they settle
RANDOM_COMMANDS: list[Command] = [
    start(),
    start(operation=None),
    start(input=raw("x")),
    start(result_urls=[]),
    Read(),
    Complete(RESULT, {}),
    Fail(FAILURE),
    Cancel(),
    *[Pause(), Resume(runnable=True)] * 6,
    *[BeginAttempt(), Recover()] * 3,
    Resume(runnable=False),
    *(AttemptSucceeded(n, RESULT, {}) for n in (1, 2, 3)),
    *(AttemptErrored(n, FAILURE, at) for n in (1, 2, 3) for at in RETRY_ATS),
    *[RecordDelivery(HOOK, True, "HTTP 200"), RecordDelivery(HOOK2, False, "HTTP 410")] * 2,
    RecordDelivery("https://example.com/not-its-own", True, "HTTP 200"),
]


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[float, Command]]:
    """(time, command) pairs at non-decreasing times; the ALO is started at T0."""
    any_command = st.sampled_from(RANDOM_COMMANDS)
    # a few commands may reach the id before it exists
    steps = [(T0, command) for command in draw(st.lists(any_command, max_size=2))]
    offset = draw(st.sampled_from(DEADLINE_OFFSETS))
    operation = draw(st.sampled_from([OP, OP, None]))
    urls = draw(st.sampled_from(URL_LISTS))
    deadline = None if offset is None else T0 + offset
    steps.append((T0, start(operation=operation, deadline=deadline, result_urls=urls)))
    now = T0
    for step, command in draw(
        st.lists(st.tuples(st.sampled_from(TIME_STEPS), any_command), min_size=5, max_size=30)
    ):
        now += step
        steps.append((now, command))
    return steps


def check_log(log: list[AloEvent], state: AloState) -> None:
    assert isinstance(log[0], Started)
    assert sum(isinstance(e, Started) for e in log) == 1
    terminal = [i for i, e in enumerate(log) if isinstance(e, TERMINAL_EVENTS)]
    assert len(terminal) <= 1
    if terminal:
        # nothing after the terminal event but delivery records
        assert all(isinstance(e, DELIVERY_EVENTS) for e in log[terminal[0] + 1 :])
        assert state.terminal
    else:
        assert not state.terminal
    assert [e.at for e in log] == sorted(e.at for e in log)
    if state.settled_at is not None:
        assert state.terminal
        assert state.created_at <= state.settled_at
        if state.deadline is not None:
            assert state.settled_at <= max(state.deadline, state.created_at)
    if state.status is Status.TIMED_OUT:
        assert state.deadline is not None
        assert state.settled_at == max(state.deadline, state.created_at)


@settings(max_examples=200, deadline=None)
@given(histories())
def test_random_histories_keep_the_invariants(steps: list[tuple[float, Command]]) -> None:
    state: AloState | None = None
    log: list[AloEvent] = []
    for now, command in steps:
        decision = decide(state, command, now)
        if state is None:
            if isinstance(command, Start):
                assert decision.created is True
            else:
                assert decision == Decision(error=decision.error)
                assert isinstance(decision.error, NotFound)
        else:
            assert decision.created is (
                False if isinstance(command, Start) and not decision.error else None
            )
        if decision.error is not None:
            # an error writes nothing, except the timeout enforced before the command
            # (and the record that its outcome is owed to the result URLs)
            assert all(isinstance(e, TimedOut | DeliveriesDue) for e in decision.events)
        if state is not None and state.terminal:
            # a terminal ALO never changes, but for the record of its deliveries
            assert all(isinstance(e, DELIVERY_EVENTS) for e in decision.events)
        for event in decision.events:
            before = state
            # the verifier's judge accepts every event the machine makes
            assert transition_fault(before, event) is None, (before, event)
            state = evolve(state, event)
            log.append(event)
            assert state.version == len(log)  # gapless from 1
            if isinstance(event, AttemptStarted):
                assert before is not None
                assert event.attempt == before.attempt + 1
        if state is not None:
            check_log(log, state)
            if state.terminal and not isinstance(command, RecordDelivery):
                assert fold(decide(state, command, now + 1).events, state) == state
    assert state is not None  # the history always starts the ALO
    if state.deadline is not None and not state.terminal:
        # the timer firing (a Read) times it out at the deadline
        final = fold(decide(state, Read(), max(state.deadline, steps[-1][0])).events, state)
        assert final is not None
        assert final.status is Status.TIMED_OUT
        assert final.settled_at == max(state.deadline, state.created_at)


@pytest.mark.parametrize("operation", ["billing.charge", None])
def test_evolve_builds_a_new_state_field_by_field(operation: str | None) -> None:
    # evolve builds it positionally (for speed): a field added or moved must not
    # shift the others.
    started = Started(
        T0, ALO_ID, operation, msgspec.Raw(b"\x01"), {"k": "v"}, ["http://h/x"], T0 + 5
    )
    assert evolve(None, started) == AloState(
        id=ALO_ID,
        operation=operation,
        input=started.input,
        metadata={"k": "v"},
        result_urls=["http://h/x"],
        deadline=T0 + 5,
        created_at=T0,
        status=Status.RUNNING,
        attempt=1 if operation else 0,
        attempt_running=operation is not None,
        version=1,
    )


def test_evolve_rejects_events_before_started() -> None:
    with pytest.raises(ValueError, match="before Started"):
        evolve(None, Paused(T0))


def test_state_info_reflects_the_state() -> None:
    state = build(*prepared_events("PAUSED"))
    info = state.info(created=False)
    assert (info.id, info.status, info.attempt, info.created) == (
        ALO_ID,
        Status.PAUSED,
        1,
        False,
    )
    assert replace(state, status=Status.RUNNING).info().status is Status.RUNNING


def test_resume_starts_a_new_attempt_when_the_running_one_was_lost() -> None:
    # The log says attempt 1 runs, but it died with the process that ran it.
    paused = fold(
        [
            Started(1.0, "a", "op", INPUT, {}, [], None),
            Paused(2.0),
        ]
    )
    assert paused is not None and paused.attempt_running
    kept = decide(paused, Resume(runnable=True), 3.0)
    assert [type(e) for e in kept.events] == [Resumed]
    lost = decide(paused, Resume(runnable=True, attempt_lost=True), 3.0)
    assert [type(e) for e in lost.events] == [Resumed, AttemptStarted]
    assert lost.events[1] == AttemptStarted(3.0, 2)


# -- what an outcome owes to result URLs ------------------------------------------------

SECOND = "https://example.com/second"


def owning_urls(*more: AloEvent) -> AloState:
    first = Started(T0, ALO_ID, OP, INPUT, {}, [HOOK, SECOND], DEADLINE)
    return build(first, *more)


@pytest.mark.parametrize(
    "command", [Complete(RESULT, {}), Fail(FAILURE), Cancel("no"), AttemptErrored(1, FAILURE, None)]
)
def test_an_outcome_owes_itself_to_the_result_urls_in_the_same_append(command: Command) -> None:
    decision = decide(owning_urls(), command, T0 + 1)
    assert decision.events[-1] == DeliveriesDue(T0 + 1)
    assert len(decision.events) == 2


def test_a_timeout_owes_itself_too_and_creation_timed_out_as_well() -> None:
    timed_out = decide(owning_urls(), Read(), NOW)
    assert timed_out.events == (TimedOut(DEADLINE), DeliveriesDue(NOW))
    created = decide(None, start(result_urls=[HOOK], deadline=NOW), NOW)
    assert [type(e) for e in created.events] == [Started, TimedOut, DeliveriesDue]


def test_no_delivery_is_owed_without_result_urls() -> None:
    decision = decide(prepared("RUNNING"), COMMANDS["complete"], NOW)
    assert decision.events == (COMPLETED_NOW,)


def test_deliveries_are_recorded_once_each_then_finished() -> None:
    done = owning_urls(Completed(T0 + 1, RESULT, {}), DeliveriesDue(T0 + 1))
    first = decide(done, RecordDelivery(HOOK, delivered=True, reason="HTTP 200"), T0 + 2)
    assert first.events == (Delivered(T0 + 2, HOOK),)
    after_first = fold(first.events, done)
    assert after_first is not None and after_first.resolved_urls == (HOOK,)
    again = decide(after_first, RecordDelivery(HOOK, delivered=True, reason="HTTP 200"), T0 + 3)
    assert again.events == ()
    last = decide(after_first, RecordDelivery(SECOND, delivered=False, reason="HTTP 400"), T0 + 3)
    assert last.events == (
        DeliveryAbandoned(T0 + 3, SECOND, "HTTP 400"),
        DeliveriesFinished(T0 + 3),
    )
    finished = fold(last.events, after_first)
    assert finished is not None
    assert finished.status is Status.COMPLETED
    assert finished.info() == done.info()  # delivery records change no public field


def test_a_delivery_before_the_outcome_is_not_recorded() -> None:
    assert decide(owning_urls(), RecordDelivery(HOOK, True, "HTTP 200"), T0 + 1).events == ()


# -- transition_fault: what the verifier refuses ------------------------------------------

LATER = T0 + 20


def _running(**changes: object) -> AloState:
    state = evolve(None, started())
    return replace(state, **changes) if changes else state


IMPOSSIBLE: list[tuple[str, AloState | None, AloEvent, str]] = [
    ("before Started", None, Paused(LATER), "before Started"),
    ("a second Started", _running(), started(LATER), "a second Started"),
    (
        "an attempt of an external promise",
        evolve(None, started(operation=None)),
        AttemptStarted(LATER, 1),
        "external promise",
    ),
    ("an attempt skipped", _running(attempt_running=False), AttemptStarted(LATER, 3), "after"),
    (
        "an attempt before its retry",
        _running(attempt_running=False, retry_at=LATER + 5),
        AttemptStarted(LATER, 2),
        "before its retry",
    ),
    (
        "an attempt while paused",
        _running(status=Status.PAUSED, attempt_running=False),
        AttemptStarted(LATER, 2),
        "while PAUSED",
    ),
    (
        "a failure of another attempt",
        _running(),
        AttemptFailed(LATER, 2, FAILURE, LATER + 1),
        "but attempt 1 runs",
    ),
    (
        "a failure with none running",
        _running(attempt_running=False),
        AttemptFailed(LATER, 1, FAILURE, LATER + 1),
        "none runs",
    ),
    ("paused twice", _running(status=Status.PAUSED), Paused(LATER), "while PAUSED"),
    ("resumed while running", _running(), Resumed(LATER), "while RUNNING"),
    ("a delivery before settling", _running(result_urls=[HOOK]), Delivered(LATER, HOOK), "before"),
    (
        "a second settling",
        _running(status=Status.COMPLETED),
        Failed(LATER, FAILURE),
        "after the ALO settled",
    ),
    (
        "owed with no URLs",
        _running(status=Status.COMPLETED),
        DeliveriesDue(LATER),
        "no result URLs",
    ),
    (
        "a delivery to another URL",
        _running(status=Status.COMPLETED, result_urls=[HOOK]),
        Delivered(LATER, "https://example.com/elsewhere"),
        "not one of",
    ),
    (
        "a delivery recorded twice",
        _running(status=Status.COMPLETED, result_urls=[HOOK], resolved_urls=(HOOK,)),
        DeliveryAbandoned(LATER, HOOK, "HTTP 410"),
        "recorded already",
    ),
    (
        "finished with a URL owed",
        _running(status=Status.COMPLETED, result_urls=[HOOK, "https://example.com/b"]),
        DeliveriesFinished(LATER),
        "still owed",
    ),
]


@pytest.mark.parametrize(
    ("state", "event", "why"),
    [case[1:] for case in IMPOSSIBLE],
    ids=[case[0] for case in IMPOSSIBLE],
)
def test_transition_fault_names_what_the_machine_never_does(
    state: AloState | None, event: AloEvent, why: str
) -> None:
    fault = transition_fault(state, event)
    assert fault is not None and why in fault, fault


def test_a_delivery_record_for_an_alo_that_settles_only_now_records_nothing() -> None:
    """Found by the random histories: a RecordDelivery that reached an ALO past its
    deadline recorded a delivery of the outcome its own timeout had just made,
    before that outcome was even owed (TimedOut, Delivered, DeliveriesDue)."""
    state = evolve(None, replace(started(deadline=T0 + 5), result_urls=[HOOK]))
    decision = decide(state, RecordDelivery(HOOK, True, "HTTP 200"), T0 + 10)
    assert decision.events == (TimedOut(T0 + 5), DeliveriesDue(T0 + 10))


def test_transition_fault_accepts_an_attempt_after_a_lost_one() -> None:
    """Recover (and resume) start a new attempt while the log says one runs: it died
    with the process that ran it."""
    running = _running()
    assert running.attempt_running
    assert transition_fault(running, AttemptStarted(LATER, 2)) is None
