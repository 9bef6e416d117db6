"""The ALO supervisor: the behaviour of ALO entities hosted on one pykka actor.

It owns id uniqueness (an optimistic create that the log's concurrency check backs
across processes), answers callers only after their events are committed, and fans
each outcome out to waiters; it starts handler attempts and arms timers.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import msgspec
import pykka

from actors import Deliver, Entity, EntityHost, Gather, Reply, Shards, Step
from alo_actor._clock import Clock
from alo_actor._errors import AloError, NotFound, SystemClosed, Unavailable
from alo_actor._events import (
    CODEC,
    AloEvent,
    AttemptFailed,
    AttemptStarted,
    DeliveriesDue,
    Resumed,
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
from alo_actor._model import AloInfo, Status
from alo_actor._stats import EngineStats
from alo_actor._timers import Timers
from alo_actor.delivery import Delivery, Dispatcher, owed_deliveries
from alo_actor.readmodel import project
from eventlog import Fenced, LogUnwritable, NewEvent, RecordedEvent

_log = logging.getLogger("alo_actor")

# What the caller wants back.
INFO = 0  # (state, created)
RESULT = 1  # the terminal state, waiting for it if need be
NOTHING = 2  # internal commands: no one is waiting
SUBSCRIBE = 3  # (state, None) now; ``callback(info)`` once the outcome is durable


class Ask(msgspec.Struct, frozen=True):
    """A command for one ALO, and what to answer with (the caller's reply, and for a
    subscription the subscriber's callback).

    An ask of a batch has the batch's Gather as its reply and its place in the batch
    as ``index``: no reply object per item, while a hundred wait for their commit.
    """

    command: Command
    reply: Reply | Gather | None
    want: int
    callback: Callable[[AloInfo], object] | None = None
    index: int = -1

    def answer(self, value: Any, error: BaseException | None = None) -> None:
        """Answer the caller (nothing, for an ask without a reply)."""
        reply = self.reply
        if isinstance(reply, Gather):
            reply.put(self.index, value, error)
        elif reply is not None:
            reply(value, error)


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
    """States of the non-terminal ALOs of shards just claimed (at open, or later)."""

    states: list[AloState]
    reply: Reply | None


class Unwait(NamedTuple):
    """A caller stopped waiting for the ALO's outcome: drop its reply."""

    entity_id: str
    reply: Reply


class UnwaitMany(NamedTuple):
    """``Unwait`` for a batch: its asks (whose reply is ``gather``) stopped waiting for
    ``entity_ids``."""

    entity_ids: list[str]
    gather: Gather


class DeliveriesOwed(NamedTuple):
    """Terminal ALOs found at open whose outcome some result URL is still owed."""

    states: list[AloState]


class Forget(NamedTuple):
    """These ALOs were purged from the log: drop what the host remembers of them."""

    ids: list[str]
    reply: Reply


class Lost(NamedTuple):
    """This process no longer holds these shards: stop the attempts it runs in them."""

    shards: frozenset[int]


# Commands only the holder of an ALO's shard acts on (semantics §8): they start, end or
# record the work of attempts and deliveries, which run where the shard is held. The
# holder's appends for them carry its lease, so a former holder's are refused.
OWNER_ONLY: frozenset[type[Command]] = frozenset(
    {BeginAttempt, Recover, AttemptSucceeded, AttemptErrored, RecordDelivery}
)
# Events another process may write that call for the holder's work: an attempt to run
# (a start, a resume), a deadline to arm, result URLs owed.
_CALL_FOR_WORK: frozenset[str] = frozenset(
    str(t.__struct_config__.tag) for t in (Started, Resumed, DeliveriesDue)
)


@dataclass(slots=True)
class Attached:
    """Per-ALO data that lives only in memory while the ALO is active."""

    waiters: list[Ask] = field(default_factory=list)  # each answered the outcome
    # Made on first use: most ALOs have none, and one list fewer per waited-on ALO is
    # one object fewer for the garbage collector to walk while it waits.
    subscribers: list[Callable[[AloInfo], object]] | None = None
    stop_attempt: Callable[[], None] | None = None


class AloBehavior:
    def __init__(self, clock: Clock, runner: Runner, timers: Timers) -> None:
        self.clock = clock
        self.runner = runner
        self.timers = timers
        self.dispatcher: Dispatcher | None = None  # set once built: it reports back here
        self.registry: dict[str, Registration] = {}
        self.stats = EngineStats()
        # Non-terminal ALOs found at open whose handler is not registered yet.
        self.orphans: dict[str, set[str]] = {}
        self.host: EntityHost[AloState, AloEvent] | None = None
        # Which shards this process holds; set by the system before the first message.
        self.shards: Shards | None = None
        # Attempts running here (until their outcome is in), by shard.
        self._running: Counter[int] = Counter()
        self._running_lock = threading.Lock()
        # Behavior protocol: plain functions, called for every event.
        self.encode: Callable[[AloEvent], NewEvent] = CODEC.encode
        self.evolve: Callable[[AloState | None, AloEvent], AloState] = evolve
        # The `alos` read model, committed with the events (host's optional hook).
        self.project = project

    def owns(self, alo_id: str) -> bool:
        """Whether this process holds the ALO's shard now (runs its attempts, timers,
        deliveries)."""
        shards = self.shards
        return shards is None or shards.owns(alo_id)

    def fence(self, entity: Entity[AloState], message: Ask) -> tuple[int, int] | None:
        """The lease an append for ``message`` is committed under (host's optional hook)."""
        shards = self.shards
        if shards is None or type(message.command) not in OWNER_ONLY:
            return None
        return shards.fence(entity.id)

    def on_fenced(self, error: Fenced) -> None:
        """The log refused an append made under a lease since moved: it is lost."""
        if self.shards is not None:
            self.shards.fenced(error.shard, error.epoch)

    def running_in(self, shards: Collection[int]) -> int:
        """Attempts still running here in ``shards`` (stopped ones count until they end)."""
        with self._running_lock:
            return sum(self._running[shard] for shard in shards)

    def decode(self, recorded: RecordedEvent) -> AloEvent:
        return CODEC.decode(recorded.data)

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
                    waiter.answer(None, closed)

    def handle(self, entity: Entity[AloState], message: Ask) -> Step[AloEvent]:
        command = message.command
        if type(command) in OWNER_ONLY and not self.owns(entity.id):
            # Another process holds the shard now: the work is its to start or record.
            return (), None if message.reply is None else message
        if isinstance(command, Recover) and _attempt_here(entity):
            command = Read()  # an attempt runs here already: nothing to recover
        if isinstance(command, Resume) and entity.state is not None:
            # Whether a handler can run, and whether the attempt the log calls running
            # really runs here, is the supervisor's knowledge, not the state machine's.
            # Where the shard is held elsewhere, only the resume is written: the holder
            # starts the attempt when it reads it.
            command = Resume(
                runnable=entity.state.operation in self.registry and self.owns(entity.id),
                attempt_lost=not _attempt_here(entity),
            )
        counts = self.stats.commands
        kind = type(command)
        counts[kind] = counts.get(kind, 0) + 1
        if kind is AttemptErrored and entity.state is not None:
            self._count(self.stats.attempt_failures, entity.state.operation)
        decision = decide(entity.state, command, self.clock.now())
        if message.reply is None:
            return decision.events, None
        if decision.error is None and decision.created is (True if kind is Start else None):
            # The ask is its own token when the decision adds nothing to it that ``then``
            # cannot tell from the ask (a start that is its own token created its ALO):
            # one object fewer for the garbage collector while the commit is in flight.
            return decision.events, message
        return decision.events, _Answer(message, decision.error, decision.created)

    def then(
        self,
        entity: Entity[AloState],
        token: _Answer | Ask,
        failure: BaseException | None,
    ) -> None:
        if type(token) is Ask:
            # See handle: such a start created its ALO.
            message, error = token, None
            created = True if type(token.command) is Start else None
        else:
            assert isinstance(token, _Answer)
            message, error, created = token.message, token.error, token.created
        assert message.reply is not None
        if failure is not None:
            message.answer(None, _internal(failure))
        elif error is not None:
            if isinstance(error, NotFound):
                error = NotFound(f"no ALO with id {entity.id!r}")
            message.answer(None, error)
        elif message.want == INFO:
            message.answer((entity.state, created))
        elif message.want == SUBSCRIBE:
            state = entity.state
            callback = message.callback
            assert state is not None and callback is not None
            if state.terminal:
                self.runner.call(callback, state.info())
            else:
                attached = self._attached(entity)
                if attached.subscribers is None:
                    attached.subscribers = []
                attached.subscribers.append(callback)
            message.answer((state, None))
        else:
            state = entity.state
            assert state is not None
            if state.terminal:
                message.answer(state)
            else:
                self._attached(entity).waiters.append(message)

    def on_persisted(self, entity: Entity[AloState], events: Sequence[AloEvent]) -> None:
        state = entity.state
        assert state is not None
        if state.terminal:
            self._settled(entity, state)
            if (
                state.result_urls
                and any(isinstance(e, DeliveriesDue) for e in events)
                and self.owns(entity.id)
            ):
                self._deliver(state)
            return
        # Only the holder of the shard does the work these events call for (elsewhere,
        # it reads them and does it): asked only of events that call for some, since
        # most (a start without a deadline or a handler) call for none.
        for event in events:
            if isinstance(event, Started):
                if event.deadline is not None and self.owns(entity.id):
                    self._arm(event.deadline, entity.id, Read())
                if state.attempt_running:
                    self._launch(entity, state)  # (only where the shard is held)
            elif isinstance(event, AttemptStarted):
                self._launch(entity, state)
            elif isinstance(event, AttemptFailed) and self.owns(entity.id):
                if entity.attached is not None:
                    entity.attached.stop_attempt = None
                self._arm(event.retry_at, entity.id, BeginAttempt())

    def on_foreign(
        self, entity: Entity[AloState], events: Sequence[AloEvent], positions: Sequence[int]
    ) -> None:
        """Another process committed ``events`` (``entity.state`` includes them): wake
        what waits here; where this process holds the shard, do the work they call for.

        Only the work of events committed after this process claimed the shard: what
        came before, the claim's recovery found in the log (see ``claimed``).
        """
        state = entity.state
        assert state is not None
        if state.terminal:
            self._settled(entity, state)
        events = self._since_claim(entity.id, events, positions)
        if not events:
            return
        if state.terminal:
            if state.result_urls and any(isinstance(e, DeliveriesDue) for e in events):
                self._deliver(state)
            return
        running_here = _attempt_here(entity)
        for event in events:
            if isinstance(event, Started) and event.deadline is not None:
                self._arm(event.deadline, entity.id, Read())
        if state.attempt_running and not running_here:
            if any(isinstance(e, Started) for e in events) and state.status is Status.RUNNING:
                self._launch(entity, state)  # begun by a start made elsewhere: run it
        elif any(isinstance(e, Resumed) for e in events) and state.status is Status.RUNNING:
            # Resumed elsewhere: the attempt is this holder's to begin (queued, not
            # handled here: the entity may be in the middle of another message).
            host = self.host
            assert host is not None
            host.actor_ref.tell(Deliver(entity.id, Ask(BeginAttempt(), None, NOTHING)))

    def wants_foreign(self, entity_id: str, recorded: Sequence[RecordedEvent]) -> bool:
        """Whether another process's events for an ALO not active here call for work
        here: where this process holds the shard, a start, a resume or owed URLs
        committed since it claimed the shard (read by type, undecoded)."""
        since = self._claimed_at(entity_id)
        if since is None:
            return False
        return any(e.type in _CALL_FOR_WORK and e.position > since for e in recorded)

    def _claimed_at(self, entity_id: str) -> int | None:
        """The log position from which another process's events for the ALO are this
        process's to act on: after it claimed the ALO's shard (the work of those before
        is its recovery's, which reads the log after the claim); None if it does not
        hold the shard, 0 if nothing is sharded."""
        shards = self.shards
        if shards is None:
            return 0
        return shards.claimed_at(shards.log.shard_of(entity_id))

    def _since_claim(
        self, entity_id: str, events: Sequence[AloEvent], positions: Sequence[int]
    ) -> Sequence[AloEvent]:
        """Of another process's events, those committed after this process claimed the
        ALO's shard (none if it does not hold the shard)."""
        since = self._claimed_at(entity_id)
        if since is None:
            return ()
        return [e for e, position in zip(events, positions, strict=True) if position > since]

    def _settled(self, entity: Entity[AloState], state: AloState) -> None:
        """The ALO is terminal: stop its attempt here, wake its waiters and subscribers."""
        attached: Attached | None = entity.attached
        if attached is None:
            return
        entity.attached = None
        if attached.stop_attempt is not None:
            attached.stop_attempt()
        for waiter in attached.waiters:
            waiter.answer(state)
        if attached.subscribers:
            info = state.info()
            for subscriber in attached.subscribers:
                self.runner.call(subscriber, info)

    def can_passivate(self, entity: Entity[AloState]) -> bool:
        # Any ALO nobody waits on, subscribes to or runs an attempt for: a million
        # pending ALOs then cost memory only for the recently used (the host's cache)
        # and their timers; the rest are replayed from the log when a message comes.
        attached: Attached | None = entity.attached
        return attached is None or (
            not attached.waiters and not attached.subscribers and attached.stop_attempt is None
        )

    def on_crash(self, entity_id: str, message: Any, error: BaseException) -> None:
        if type(message) is Ask:
            message.answer(None, _internal(error))

    def on_message(self, host: EntityHost[AloState, AloEvent], message: Any) -> None:
        if isinstance(message, Unwait):
            self._unwait(host, message.entity_id, message.reply)
        elif isinstance(message, UnwaitMany):
            for entity_id in message.entity_ids:
                self._unwait(host, entity_id, message.gather)
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
        elif isinstance(message, Lost):
            self._lost(host, message.shards)
        else:
            raise TypeError(f"unexpected message {message!r}")

    # -- effects -----------------------------------------------------------------

    @staticmethod
    def _unwait(
        host: EntityHost[AloState, AloEvent], entity_id: str, reply: Reply | Gather
    ) -> None:
        """Drop the ALO's waiters that answer ``reply`` (a caller's, or a batch's)."""
        entity = host.entities.get(entity_id)
        if entity is not None and entity.attached is not None:
            waiters = entity.attached.waiters
            if any(waiter.reply is reply for waiter in waiters):
                waiters[:] = [waiter for waiter in waiters if waiter.reply is not reply]

    def _attached(self, entity: Entity[AloState]) -> Attached:
        attached: Attached | None = entity.attached
        if attached is None:
            attached = entity.attached = Attached()
        return attached

    def _lost(self, host: EntityHost[AloState, AloEvent], shards: frozenset[int]) -> None:
        """Another process holds these shards now (or may soon): stop this one's work."""
        shard_of = host.log.shard_of
        for entity in host.entities.values():
            attached: Attached | None = entity.attached
            stop = None if attached is None else attached.stop_attempt
            if stop is not None and shard_of(entity.id) in shards:
                stop()
                attached.stop_attempt = None  # type: ignore[union-attr]
        for ids in self.orphans.values():
            ids.difference_update([i for i in ids if shard_of(i) in shards])

    def _launch(self, entity: Entity[AloState], state: AloState) -> None:
        operation = state.operation
        reg = self.registry.get(operation) if operation is not None else None
        if reg is None or not self.owns(entity.id):
            return
        ctx = HandlerContext(
            id=state.id,
            operation=reg.operation,
            attempt=state.attempt,
            metadata=dict(state.metadata),  # the handler's to change, not the state's
            deadline=state.deadline,
        )
        attempt = state.attempt
        host = self.host
        assert host is not None
        self._count(self.stats.attempts, reg.operation)

        shard = host.log.shard_of(entity.id)
        with self._running_lock:
            self._running[shard] += 1

        def done(outcome: Outcome) -> None:  # on a worker thread or the handler loop
            with self._running_lock:
                self._running[shard] -= 1
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

    @staticmethod
    def _count(counts: dict[str, int], operation: str | None) -> None:
        key = operation or ""
        counts[key] = counts.get(key, 0) + 1

    def _deliver(self, state: AloState) -> None:
        """POST the outcome to every result URL it is still owed to."""
        dispatcher = self.dispatcher
        assert dispatcher is not None
        for delivery in owed_deliveries(state):
            dispatcher.dispatch(delivery)

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
        """Non-terminal ALOs of shards just claimed: arm their timers, and give those left
        RUNNING by the last holder a new attempt (once their handler is registered)."""
        now = self.clock.now()
        for state in message.states:
            if state.deadline is not None:
                if state.deadline <= now:
                    host.deliver(state.id, Ask(Read(), None, NOTHING))
                    continue
                self._arm(state.deadline, state.id, Read())
            if state.retry_at is not None and state.retry_at > now:
                self._arm(state.retry_at, state.id, BeginAttempt())
            if state.operation in self.registry:
                host.deliver(state.id, Ask(Recover(), None, NOTHING))
            elif state.operation is not None:
                self.orphans.setdefault(state.operation, set()).add(state.id)
        if message.reply is not None:
            message.reply(None)


def _attempt_here(entity: Entity[AloState]) -> bool:
    attached: Attached | None = entity.attached
    return attached is not None and attached.stop_attempt is not None


def _internal(error: BaseException) -> AloError:
    if isinstance(error, AloError):
        return error
    if isinstance(error, LogUnwritable):
        return Unavailable(str(error))
    failure = failure_of(error)
    return AloError(f"internal error: {failure.message}", failure)
