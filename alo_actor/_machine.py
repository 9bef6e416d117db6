"""The ALO state machine as pure functions: ``decide`` (command -> events), ``evolve``
(state, event -> state) and ``transition_fault`` (could the machine have made this event?).

The live actor decides and folds with the first two; recovery and ``alo log
replay`` fold with ``evolve``; the verifier folds every stream with ``evolve`` and
asks ``transition_fault`` of each event, which accepts what ``decide`` makes and
nothing else it can tell from the state (tests/alo_actor/test_machine.py checks
both over random histories). No I/O, no clock: ``now`` is an argument.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import msgspec
from msgspec.structs import replace

from alo_actor._errors import AlreadyExists, NotFound
from alo_actor._events import (
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
    NexusCallback,
    Paused,
    Resumed,
    Started,
    TimedOut,
)
from alo_actor._model import AloInfo, Failure, Status

_RUNNING = Status.RUNNING
_PAUSED = Status.PAUSED
_COMPLETED = Status.COMPLETED
TIMED_OUT_FAILURE = Failure(message="the ALO's deadline passed", type="TimedOut")


class AloState(msgspec.Struct, frozen=True, gc=False):
    """Everything the log says about one ALO, folded from its events."""

    id: str
    operation: str | None
    input: msgspec.Raw
    metadata: dict[str, str]
    result_urls: list[str]
    deadline: float | None
    created_at: float
    status: Status = Status.RUNNING
    attempt: int = 0
    attempt_running: bool = False
    retry_at: float | None = None
    settled_at: float | None = None
    result: msgspec.Raw | None = None
    result_metadata: dict[str, str] | None = None
    failure: Failure | None = None
    # Result URLs delivered or abandoned (the rest are still owed, once terminal).
    resolved_urls: tuple[str, ...] = ()
    version: int = 0
    nexus_callback: NexusCallback | None = None

    @property
    def terminal(self) -> bool:
        status = self.status
        return status is not _RUNNING and status is not _PAUSED

    def info(self, created: bool | None = None) -> AloInfo:
        # Positional, every field in AloInfo's order: keywords cost a third more, for
        # every answer with an info. The containers are copies: an info is the
        # caller's to change, and the state's own would change the ALO the supervisor
        # holds, behind the log's back.
        result_metadata = self.result_metadata
        return AloInfo(
            self.id,  # id
            self.operation,  # operation
            self.status,  # status
            dict(self.metadata),  # metadata
            list(self.result_urls),  # result_urls
            self.attempt,  # attempt
            self.created_at,  # created_at
            self.settled_at,  # settled_at
            self.deadline,  # deadline
            self.failure,  # failure
            None if result_metadata is None else dict(result_metadata),  # result_metadata
            created,  # created
        )


# -- commands: what may be asked of one ALO (not stored) ----------------------------


class Command(msgspec.Struct, frozen=True, gc=False):
    pass


class Start(Command, frozen=True, gc=False):
    """``nexus_callback``, when given, is also the last of ``result_urls``."""

    id: str
    operation: str | None
    input: msgspec.Raw
    metadata: dict[str, str]
    result_urls: list[str]
    deadline: float | None
    nexus_callback: NexusCallback | None = None


class Read(Command, frozen=True, gc=False):
    """get_info / get_result, and a deadline timer firing: only enforces the deadline."""


class Complete(Command, frozen=True, gc=False):
    result: msgspec.Raw
    result_metadata: dict[str, str]


class Fail(Command, frozen=True, gc=False):
    failure: Failure


class Cancel(Command, frozen=True, gc=False):
    reason: str | None = None


class Pause(Command, frozen=True, gc=False):
    pass


class Resume(Command, frozen=True, gc=False):
    """``runnable``: the operation has a registered handler in this process.
    ``attempt_lost``: the log says an attempt runs, but none runs here (it died with
    the process that ran it), so resuming must start a new one."""

    runnable: bool = True
    attempt_lost: bool = False


class BeginAttempt(Command, frozen=True, gc=False):
    """A retry's backoff ran out: start the next attempt if nothing stops it."""


class Recover(Command, frozen=True, gc=False):
    """The handler is (newly) registered in this process: re-run a RUNNING ALO whose
    attempt was lost with the process that ran it."""


class AttemptSucceeded(Command, frozen=True, gc=False):
    attempt: int
    result: msgspec.Raw
    result_metadata: dict[str, str]


class AttemptErrored(Command, frozen=True, gc=False):
    """``retry_at`` is ``None`` when the policy is spent or the error is not retryable."""

    attempt: int
    failure: Failure
    retry_at: float | None


class RecordDelivery(Command, frozen=True, gc=False):
    """The dispatcher is done with one result URL: delivered, or given up on."""

    url: str
    delivered: bool
    reason: str


class Decision(msgspec.Struct, frozen=True, gc=False):
    """What a command does: the events to persist, then the reply (an error, or info).

    Untracked by the garbage collector: one is made for every command, and nothing it
    holds (events, an error made by ``decide``) can refer back to it.
    """

    events: tuple[AloEvent, ...] = ()
    error: Exception | None = None
    created: bool | None = None


UNCHANGED = Decision()


# -- evolve ---------------------------------------------------------------------------


def evolve(state: AloState | None, event: AloEvent) -> AloState:
    """The state after ``event``; ``state`` is ``None`` before the first event."""
    if type(event) is Started:
        # Positional, every field in order: half the cost of keywords, and a replay
        # builds one of these for every ALO in the log.
        runs = event.operation is not None
        return AloState(
            event.id,  # id
            event.operation,  # operation
            event.input,  # input
            event.metadata,  # metadata
            event.result_urls,  # result_urls
            event.deadline,  # deadline
            event.at,  # created_at
            _RUNNING,  # status
            1 if runs else 0,  # attempt
            runs,  # attempt_running
            None,  # retry_at
            None,  # settled_at
            None,  # result
            None,  # result_metadata
            None,  # failure
            (),  # resolved_urls
            1,  # version
            event.nexus_callback,  # nexus_callback
        )
    if state is None:
        raise ValueError(f"{type(event).__name__} before Started")
    # A table on the event's exact type, not a match on class patterns: those are
    # tried one by one, and replaying a log calls this for every event.
    apply = _EVOLVE.get(type(event))
    if apply is None:
        raise TypeError(f"unknown event {event!r}")
    return apply(state, event, state.version + 1)


def _attempt_started(state: AloState, event: Any, version: int) -> AloState:
    return replace(
        state, attempt=event.attempt, attempt_running=True, retry_at=None, version=version
    )


def _attempt_failed(state: AloState, event: Any, version: int) -> AloState:
    return replace(state, attempt_running=False, retry_at=event.retry_at, version=version)


def _paused(state: AloState, event: Any, version: int) -> AloState:
    return replace(state, status=Status.PAUSED, version=version)


def _resumed(state: AloState, event: Any, version: int) -> AloState:
    return replace(state, status=Status.RUNNING, version=version)


# The settling events call ``replace`` directly, with every field a settle sets: no
# shared helper taking keywords, whose extra call doubled the cost of a replay's
# commonest fold.
def _completed(state: AloState, event: Any, version: int) -> AloState:
    return replace(
        state,
        status=_COMPLETED,
        settled_at=event.at,
        attempt_running=False,
        retry_at=None,
        result=event.result,
        result_metadata=event.result_metadata,
        failure=None,
        version=version,
    )


def _unsuccessful(
    status: Status, failure: Failure | None = None
) -> Callable[[AloState, Any, int], AloState]:
    """The fold of an event that settles an ALO as ``status``, with the event's failure
    (or ``failure``, for an event that carries none)."""

    def settle(state: AloState, event: Any, version: int) -> AloState:
        return replace(
            state,
            status=status,
            settled_at=event.at,
            attempt_running=False,
            retry_at=None,
            result=None,
            result_metadata=None,
            failure=event.failure if failure is None else failure,
            version=version,
        )

    return settle


_failed = _unsuccessful(Status.FAILED)
_cancelled = _unsuccessful(Status.CANCELLED)
_timed_out = _unsuccessful(Status.TIMED_OUT, TIMED_OUT_FAILURE)


def _url_resolved(state: AloState, event: Any, version: int) -> AloState:
    return replace(state, resolved_urls=(*state.resolved_urls, event.url), version=version)


def _recorded(state: AloState, event: Any, version: int) -> AloState:
    return replace(state, version=version)


_EVOLVE: dict[type[AloEvent], Callable[[AloState, Any, int], AloState]] = {
    AttemptStarted: _attempt_started,
    AttemptFailed: _attempt_failed,
    Paused: _paused,
    Resumed: _resumed,
    Completed: _completed,
    Failed: _failed,
    Cancelled: _cancelled,
    TimedOut: _timed_out,
    Delivered: _url_resolved,
    DeliveryAbandoned: _url_resolved,
    DeliveriesDue: _recorded,
    DeliveriesFinished: _recorded,
}


def fold(events: Sequence[AloEvent], state: AloState | None = None) -> AloState | None:
    """The state after ``events``, from ``state`` (None: before the first event)."""
    for event in events:
        state = evolve(state, event)
    return state


# -- transition_fault -------------------------------------------------------------------


def transition_fault(state: AloState | None, event: AloEvent) -> str | None:
    """Why no command could have made ``event`` happen to an ALO in ``state`` (None:
    before its first event), or None if one could.

    For logs the engine did not just write (the verifier reads any log). It judges
    each event against the state before it, as ``decide`` would have made it:
    creation first and once, attempts one at a time and numbered in turn, pause and
    resume in turn, nothing but delivery records once settled, and those only for
    the ALO's own result URLs. What a single event cannot show (a settlement's time
    against the deadline) is the verifier's own check.
    """
    kind = type(event)
    name = kind.__name__
    if state is None:
        return None if kind is Started else f"{name} before Started"
    if kind is Started:
        return "a second Started"
    if state.terminal:
        return _after_settling(state, event)
    if kind in _DELIVERY_RECORDS:
        return f"{name} before the ALO settled"
    status = state.status
    if kind is AttemptStarted:
        attempt = event.attempt  # type: ignore[attr-defined]
        if state.operation is None:
            return "an attempt of an external promise (it has no operation)"
        if status is not _RUNNING:
            return f"an attempt started while {status.name}"
        if attempt != state.attempt + 1:
            return f"attempt {attempt} started after attempt {state.attempt}"
        if state.retry_at is not None and event.at < state.retry_at:
            return f"attempt {attempt} started before its retry was due ({state.retry_at!r})"
        return None
    if kind is AttemptFailed:
        attempt = event.attempt  # type: ignore[attr-defined]
        if not state.attempt_running or attempt != state.attempt:
            running = f"attempt {state.attempt} runs" if state.attempt_running else "none runs"
            return f"attempt {attempt} failed, but {running}"
        return None
    if kind is Paused and status is not _RUNNING:
        return f"Paused while {status.name}"
    if kind is Resumed and status is not _PAUSED:
        return f"Resumed while {status.name}"
    return None  # a settling event: any ALO that has not settled may settle


_DELIVERY_RECORDS = (DeliveriesDue, Delivered, DeliveryAbandoned, DeliveriesFinished)


def _after_settling(state: AloState, event: AloEvent) -> str | None:
    kind = type(event)
    urls = state.result_urls
    if kind is DeliveriesDue:
        if not urls:
            return "DeliveriesDue, but the ALO has no result URLs"
        if state.resolved_urls:
            return "DeliveriesDue after a delivery was recorded"
        return None
    if kind is Delivered or kind is DeliveryAbandoned:
        url = event.url  # type: ignore[attr-defined]
        if url not in urls:
            return f"{kind.__name__} for {url!r}, not one of the ALO's result URLs"
        if url in state.resolved_urls:
            return f"{kind.__name__} for {url!r}, whose delivery was recorded already"
        return None
    if kind is DeliveriesFinished:
        owed = [url for url in urls if url not in state.resolved_urls]
        return f"DeliveriesFinished with {owed[0]!r} still owed" if owed else None
    return f"{kind.__name__} after the ALO settled"


# -- decide ---------------------------------------------------------------------------


def decide(state: AloState | None, command: Command, now: float) -> Decision:
    """The command table of semantics §2, with the deadline enforced first."""
    if state is None:
        if isinstance(command, Start):
            return _create(command, now)
        return Decision(error=NotFound("no ALO with that id"))
    if state.deadline is not None and not state.terminal and now >= state.deadline:
        timed_out = TimedOut(at=max(state.deadline, state.created_at))
        if isinstance(command, RecordDelivery):
            # A delivery is of an outcome already settled; this one settles only now
            # (an ALO started anew under a purged one's id, say): nothing to record.
            command = Read()
        then = _decide_existing(evolve(state, timed_out), command, now)
        return _owe_deliveries(state, replace(then, events=(timed_out, *then.events)), now)
    return _owe_deliveries(state, _decide_existing(state, command, now), now)


def owed_urls(state: AloState) -> list[str]:
    """The result URLs that a settled ALO's outcome is owed to: all of them, but a
    Nexus callback whose start request was answered with the outcome itself."""
    callback = state.nexus_callback
    settled_at = state.settled_at
    if callback is None or settled_at is None or settled_at >= callback.answer_until:
        return state.result_urls
    return [url for url in state.result_urls if url != callback.url]


def _owes(state: AloState, events: Sequence[AloEvent]) -> bool:
    """Whether ``events``, which settle the ALO in ``state``, leave its outcome owed
    to some result URL."""
    if state.nexus_callback is None:
        return bool(state.result_urls)
    settled = fold(events, state)
    return settled is not None and bool(owed_urls(settled))


def _owe_deliveries(state: AloState, decision: Decision, now: float) -> Decision:
    """An outcome owed to result URLs is recorded as owed in the same append."""
    if (
        state.result_urls
        and not state.terminal
        and _settles(decision.events)
        and _owes(state, decision.events)
    ):
        return replace(decision, events=(*decision.events, DeliveriesDue(now)))
    return decision


def _settles(events: tuple[AloEvent, ...]) -> bool:
    return any(isinstance(e, Completed | Failed | Cancelled | TimedOut) for e in events)


def _create(command: Start, now: float) -> Decision:
    decision = _created(command, now)
    events = decision.events
    if command.result_urls and _settles(events) and _owes(evolve(None, events[0]), events[1:]):
        return replace(decision, events=(*events, DeliveriesDue(now)))
    return decision


def _created(command: Start, now: float) -> Decision:
    # Positional, every field in order: keywords cost a third more, for every start.
    started = Started(
        now,  # at
        command.id,  # id
        command.operation,  # operation
        command.input,  # input
        command.metadata,  # metadata
        command.result_urls,  # result_urls
        command.deadline,  # deadline
        command.nexus_callback,  # nexus_callback
    )
    if command.deadline is not None and command.deadline <= now:
        return Decision((started, TimedOut(at=now)), None, True)
    return Decision((started,), None, True)


def _decide_existing(state: AloState, command: Command, now: float) -> Decision:
    match command:
        case Start():
            if (
                command.operation == state.operation
                and bytes(command.input) == bytes(state.input)
                and command.metadata == state.metadata
                and command.result_urls == state.result_urls
                and _same_callback(command.nexus_callback, state.nexus_callback)
            ):
                return Decision(created=False)
            return Decision(
                error=AlreadyExists(
                    f"ALO {state.id!r} already exists with a different "
                    f"{_difference(state, command)}"
                )
            )
        case Read():
            return UNCHANGED
        case RecordDelivery():
            return _record_delivery(state, command, now)
    if state.terminal:
        return UNCHANGED
    match command:
        case Complete():
            return Decision(events=(Completed(now, command.result, command.result_metadata),))
        case Fail():
            return Decision(events=(Failed(now, command.failure),))
        case Cancel():
            failure = Failure(message=command.reason or "cancelled", type="Cancelled")
            return Decision(events=(Cancelled(now, failure),))
        case Pause():
            return Decision(events=(Paused(now),)) if state.status is Status.RUNNING else UNCHANGED
        case Resume():
            if state.status is not Status.PAUSED:
                return UNCHANGED
            if command.runnable and _attempt_due(state, now, command.attempt_lost):
                return Decision(events=(Resumed(now), AttemptStarted(now, state.attempt + 1)))
            return Decision(events=(Resumed(now),))
        case BeginAttempt():
            if state.status is Status.RUNNING and _attempt_due(state, now):
                return Decision(events=(AttemptStarted(now, state.attempt + 1),))
            return UNCHANGED
        case Recover():
            pending_retry = state.retry_at is not None and state.retry_at > now
            if state.status is Status.RUNNING and state.operation is not None and not pending_retry:
                return Decision(events=(AttemptStarted(now, state.attempt + 1),))
            return UNCHANGED
        case AttemptSucceeded():
            if command.attempt != state.attempt or not state.attempt_running:
                return UNCHANGED
            return Decision(events=(Completed(now, command.result, command.result_metadata),))
        case AttemptErrored():
            if command.attempt != state.attempt or not state.attempt_running:
                return UNCHANGED
            if command.retry_at is None:
                return Decision(events=(Failed(now, command.failure),))
            failed = AttemptFailed(now, command.attempt, command.failure, command.retry_at)
            return Decision(events=(failed,))
    raise TypeError(f"unknown command {command!r}")


def _record_delivery(state: AloState, command: RecordDelivery, now: float) -> Decision:
    url = command.url
    if not state.terminal:
        return UNCHANGED
    urls = owed_urls(state)
    if url not in urls or url in state.resolved_urls:
        return UNCHANGED
    record: AloEvent = (
        Delivered(now, url) if command.delivered else DeliveryAbandoned(now, url, command.reason)
    )
    owed = set(urls) - set(state.resolved_urls) - {url}
    if owed:
        return Decision(events=(record,))
    return Decision(events=(record, DeliveriesFinished(now)))


def _attempt_due(state: AloState, now: float, attempt_lost: bool = False) -> bool:
    return (
        state.operation is not None
        and (attempt_lost or not state.attempt_running)
        and (state.retry_at is None or state.retry_at <= now)
    )


def _same_callback(given: NexusCallback | None, stored: NexusCallback | None) -> bool:
    """The same Nexus callback: its window is not compared (a retry of the start
    request comes later, so its window would end later)."""
    if given is None or stored is None:
        return given is stored
    return given.url == stored.url and given.headers == stored.headers


def _difference(state: AloState, command: Start) -> str:
    if command.operation != state.operation:
        return f"operation ({state.operation!r}, not {command.operation!r})"
    if bytes(command.input) != bytes(state.input):
        return "input"
    if command.metadata != state.metadata:
        return "metadata"
    if command.result_urls != state.result_urls:
        return "result URLs"
    return "Nexus callback"
