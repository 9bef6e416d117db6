"""The ALO supervisor: the behaviour of ALO entities hosted on one pykka actor.

It owns id uniqueness (an optimistic create that the log's concurrency check backs
across processes), answers callers only after their events are committed, and fans
each outcome out to waiters; it starts handler attempts and arms timers.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import msgspec
import pykka

from actors import Deliver, Entity, EntityHost, Reply, Step
from alo_actor._clock import Clock
from alo_actor._errors import AloError, NotFound, SystemClosed
from alo_actor._events import (
    CODEC,
    AloEvent,
    AttemptFailed,
    AttemptStarted,
    DeliveriesDue,
    Started,
)
from alo_actor._handlers import (
    HandlerContext,
    Outcome,
    Registration,
    Runner,
    failure_of,
)
from alo_actor._machine import (
    AloState,
    AttemptErrored,
    AttemptSucceeded,
    BeginAttempt,
    Command,
    Read,
    RecordDelivery,
    Recover,
    Resume,
    Start,
    decide,
    evolve,
)
from alo_actor._model import AloInfo
from alo_actor._timers import Timers
from alo_actor.delivery import Delivery, Dispatcher, outcome_delivery
from alo_actor.readmodel import project
from eventlog import NewEvent, RecordedEvent

_log = logging.getLogger("alo_actor")

# What the caller wants back.
INFO = 0  # (state, created)
RESULT = 1  # the terminal state, waiting for it if need be
NOTHING = 2  # internal commands: no one is waiting
SUBSCRIBE = 3  # (state, None) now; ``callback(info)`` once the outcome is durable


class Ask(msgspec.Struct, frozen=True):
    """A command for one ALO, and what to answer with (the caller's reply, and for a
    subscription the subscriber's callback)."""

    command: Command
    reply: Reply | None
    want: int
    callback: Callable[[AloInfo], object] | None = None


class _Answer(msgspec.Struct, frozen=True):
    """What to answer once a command's events are committed (the host's token): the
    decision's reply, not the decision, which need not live as long as the commit."""

    message: Ask
    error: Exception | None
    created: bool | None


class Register(NamedTuple):
    registration: Registration
    reply: Reply


class Recovered(NamedTuple):
    """States of the non-terminal ALOs found in the log at open."""

    states: list[AloState]
    reply: Reply


class Unwait(NamedTuple):
    entity_id: str
    reply: Reply


class DeliveriesOwed(NamedTuple):
    """Terminal ALOs found at open whose outcome some result URL is still owed."""

    states: list[AloState]


class Forget(NamedTuple):
    """These ALOs were purged from the log: drop what the host remembers of them."""

    ids: list[str]
    reply: Reply


@dataclass(slots=True)
class Attached:
    """Per-ALO data that lives only in memory while the ALO is active."""

    waiters: list[Reply] = field(default_factory=list)
    subscribers: list[Callable[[AloInfo], object]] = field(default_factory=list)
    stop_attempt: Callable[[], None] | None = None


class AloBehavior:
    def __init__(self, clock: Clock, runner: Runner, timers: Timers) -> None:
        self.clock = clock
        self.runner = runner
        self.timers = timers
        self.dispatcher: Dispatcher | None = None  # set once built: it reports back here
        self.registry: dict[str, Registration] = {}
        # Non-terminal ALOs found at open whose handler is not registered yet.
        self.orphans: dict[str, set[str]] = {}
        self.host: EntityHost[AloState, AloEvent] | None = None
        # Behavior protocol: plain functions, called for every event.
        self.encode: Callable[[AloEvent], NewEvent] = CODEC.encode
        self.evolve: Callable[[AloState | None, AloEvent], AloState] = evolve
        # The `alos` read model, committed with the events (host's optional hook).
        self.project = project

    # -- Behavior protocol -------------------------------------------------------

    def replay(self, entity_id: str, events: Sequence[RecordedEvent]) -> AloState | None:
        state: AloState | None = None
        decode = CODEC.decode
        for recorded in events:
            state = evolve(state, decode(recorded.data))
        return state

    def needs_replay(self, message: Any) -> bool:
        return not isinstance(message.command, Start)

    def on_start(self, host: EntityHost[AloState, AloEvent]) -> None:
        self.host = host

    def on_stop(self, host: EntityHost[AloState, AloEvent]) -> None:
        closed = SystemClosed("the ALO system was closed while waiting")
        for entity in host.entities.values():
            attached: Attached | None = entity.attached
            if attached is not None:
                if attached.stop_attempt is not None:
                    attached.stop_attempt()
                for waiter in attached.waiters:
                    waiter(None, closed)

    def handle(self, entity: Entity[AloState], message: Ask) -> Step[AloEvent]:
        command = message.command
        if isinstance(command, Resume) and entity.state is not None:
            # Whether a handler can run, and whether the attempt the log calls running
            # really runs here, is the supervisor's knowledge, not the state machine's.
            attached: Attached | None = entity.attached
            command = Resume(
                runnable=entity.state.operation in self.registry,
                attempt_lost=attached is None or attached.stop_attempt is None,
            )
        decision = decide(entity.state, command, self.clock.now())
        if message.reply is None:
            return decision.events, None
        if decision.error is None and decision.created is None:
            # The ask is its own token when the decision adds nothing to it: one object
            # fewer for the garbage collector while the commit is in flight.
            return decision.events, message
        return decision.events, _Answer(message, decision.error, decision.created)

    def then(
        self,
        entity: Entity[AloState],
        token: _Answer | Ask,
        failure: BaseException | None,
    ) -> None:
        if type(token) is Ask:
            message, error, created = token, None, None
        else:
            assert isinstance(token, _Answer)
            message, error, created = token.message, token.error, token.created
        reply = message.reply
        assert reply is not None
        if failure is not None:
            reply(None, _internal(failure))
        elif error is not None:
            if isinstance(error, NotFound):
                error = NotFound(f"no ALO with id {entity.id!r}")
            reply(None, error)
        elif message.want == INFO:
            reply((entity.state, created))
        elif message.want == SUBSCRIBE:
            state = entity.state
            callback = message.callback
            assert state is not None and callback is not None
            if state.terminal:
                self.runner.call(callback, state.info())
            else:
                self._attached(entity).subscribers.append(callback)
            reply((state, None))
        else:
            state = entity.state
            assert state is not None
            if state.terminal:
                reply(state)
            else:
                self._attached(entity).waiters.append(reply)

    def on_persisted(self, entity: Entity[AloState], events: Sequence[AloEvent]) -> None:
        state = entity.state
        assert state is not None
        if state.terminal:
            attached: Attached | None = entity.attached
            if attached is not None:
                entity.attached = None
                if attached.stop_attempt is not None:
                    attached.stop_attempt()
                for waiter in attached.waiters:
                    waiter(state)
                if attached.subscribers:
                    info = state.info()
                    for subscriber in attached.subscribers:
                        self.runner.call(subscriber, info)
            if state.result_urls and any(isinstance(e, DeliveriesDue) for e in events):
                self._deliver(state)
            return
        for event in events:
            if isinstance(event, Started):
                if event.deadline is not None:
                    self._arm(event.deadline, entity.id, Read())
                if state.attempt_running:
                    self._launch(entity, state)
            elif isinstance(event, AttemptStarted):
                self._launch(entity, state)
            elif isinstance(event, AttemptFailed):
                if entity.attached is not None:
                    entity.attached.stop_attempt = None
                self._arm(event.retry_at, entity.id, BeginAttempt())

    def can_passivate(self, entity: Entity[AloState]) -> bool:
        # Any ALO nobody waits on, subscribes to or runs an attempt for: a million
        # pending ALOs then cost memory only for the recently used (the host's cache)
        # and their timers; the rest are replayed from the log when a message comes.
        attached: Attached | None = entity.attached
        return attached is None or (
            not attached.waiters and not attached.subscribers and attached.stop_attempt is None
        )

    def on_crash(self, entity_id: str, message: Any, error: BaseException) -> None:
        reply = getattr(message, "reply", None)
        if reply is not None:
            reply(None, _internal(error))

    def on_message(self, host: EntityHost[AloState, AloEvent], message: Any) -> None:
        if isinstance(message, Unwait):
            entity = host.entities.get(message.entity_id)
            if entity is not None and entity.attached is not None:
                waiters = entity.attached.waiters
                if message.reply in waiters:
                    waiters.remove(message.reply)
        elif isinstance(message, Register):
            self._register(host, message)
        elif isinstance(message, Recovered):
            self._recovered(host, message)
        elif isinstance(message, DeliveriesOwed):
            for state in message.states:
                self._deliver(state)
        elif isinstance(message, Forget):
            host.forget(message.ids)
            message.reply(None)
        else:
            raise TypeError(f"unexpected message {message!r}")

    # -- effects -----------------------------------------------------------------

    def _attached(self, entity: Entity[AloState]) -> Attached:
        attached: Attached | None = entity.attached
        if attached is None:
            attached = entity.attached = Attached()
        return attached

    def _launch(self, entity: Entity[AloState], state: AloState) -> None:
        operation = state.operation
        reg = self.registry.get(operation) if operation is not None else None
        if reg is None:
            return
        ctx = HandlerContext(
            id=state.id,
            operation=reg.operation,
            attempt=state.attempt,
            metadata=state.metadata,
            deadline=state.deadline,
        )
        attempt = state.attempt
        host = self.host
        assert host is not None

        def done(outcome: Outcome) -> None:  # on a worker thread or the handler loop
            command: Command
            if outcome.error is None:
                assert outcome.result is not None
                command = AttemptSucceeded(attempt, outcome.result, outcome.result_metadata)
            else:
                retry_at = reg.retry.retry_at(attempt, outcome.error, self.clock.now())
                command = AttemptErrored(attempt, failure_of(outcome.error), retry_at)
            # If the system closed meanwhile, the ALO stays RUNNING and re-runs on reopen.
            with contextlib.suppress(pykka.ActorDeadError):
                host.actor_ref.tell(Deliver(ctx.id, Ask(command, None, NOTHING)))

        self._attached(entity).stop_attempt = self.runner.run(reg, ctx, state.input, done)

    def _deliver(self, state: AloState) -> None:
        """POST the outcome to every result URL it is still owed to."""
        dispatcher = self.dispatcher
        assert dispatcher is not None
        info = state.info()
        result = msgspec.msgpack.decode(state.result) if state.result is not None else None
        for url in state.result_urls:
            if url not in state.resolved_urls:
                dispatcher.dispatch(outcome_delivery(info, result, url))

    def delivery_final(self, delivery: Delivery, delivered: bool, reason: str) -> None:
        """The dispatcher is done with one URL (on its thread): record it in the log."""
        host = self.host
        if host is None:
            return
        command = RecordDelivery(delivery.url, delivered, reason)
        # Closing: the delivery stays owed and is resumed on the next open.
        with contextlib.suppress(pykka.ActorDeadError):
            host.actor_ref.tell(Deliver(delivery.alo_id, Ask(command, None, NOTHING)))

    def _arm(self, at: float, entity_id: str, command: Command) -> None:
        self.timers.schedule(at, self._fire, (entity_id, command))

    def _fire(self, arg: tuple[str, Command], done: Callable[[], None]) -> None:
        """A timer fell due (on the timer thread): deliver its command to the ALO."""
        host = self.host
        assert host is not None
        entity_id, command = arg

        def replied(value: Any, error: BaseException | None = None) -> None:
            done()

        with contextlib.suppress(pykka.ActorDeadError):  # closing: replayed on reopen
            host.actor_ref.tell(Deliver(entity_id, Ask(command, replied, INFO)))

    def _register(self, host: EntityHost[AloState, AloEvent], message: Register) -> None:
        reg = message.registration
        self.registry[reg.operation] = reg
        for entity_id in sorted(self.orphans.pop(reg.operation, ())):
            host.deliver(entity_id, Ask(Recover(), None, NOTHING))
        message.reply(None)

    def _recovered(self, host: EntityHost[AloState, AloEvent], message: Recovered) -> None:
        now = self.clock.now()
        for state in message.states:
            if state.deadline is not None:
                if state.deadline <= now:
                    host.deliver(state.id, Ask(Read(), None, NOTHING))
                    continue
                self._arm(state.deadline, state.id, Read())
            if state.retry_at is not None and state.retry_at > now:
                self._arm(state.retry_at, state.id, BeginAttempt())
            if state.operation is not None:
                self.orphans.setdefault(state.operation, set()).add(state.id)
        message.reply(None)


def _internal(error: BaseException) -> AloError:
    if isinstance(error, AloError):
        return error
    failure = failure_of(error)
    return AloError(f"internal error: {failure.message}", failure)
