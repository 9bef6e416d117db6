"""A toy behaviour for the host's tests: counters that know nothing of ALOs.

Each entity is a counter whose events add to it. Messages carry a ``SyncReply``;
the behaviour answers each after its events are committed, and can be told to fail
at any of the host's hooks, for one entity id at a time.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from actors import Entity, EntityHost, Step, SyncReply
from eventlog import Codec, NewEvent, RecordedEvent


class Added(msgspec.Struct, frozen=True, tag=True):
    n: int


class Created(msgspec.Struct, frozen=True, tag=True):
    pass


CODEC: Codec[Added | Created] = Codec((Added, Created))
Event = Added | Created


@dataclass(frozen=True)
class Add:
    """Add ``n``; answered with the count after it."""

    n: int
    reply: SyncReply


@dataclass(frozen=True)
class Get:
    """Answered with the count (no events)."""

    reply: SyncReply


@dataclass(frozen=True)
class Create:
    """Create the counter, assuming it is new (no replay: the log's concurrency check
    says otherwise); answered True if this created it, False if it existed."""

    reply: SyncReply


@dataclass(frozen=True)
class Watch:
    """Answered once the count reaches ``at``: kept in the entity until then."""

    at: int
    reply: SyncReply


@dataclass(frozen=True)
class Peek:
    """Not for an entity: answered with ``look(host)``, run on the host's thread."""

    look: Callable[[EntityHost[int, Event]], Any]
    reply: SyncReply


class Boom(Exception):
    """What the behaviour raises when told to fail."""


@dataclass
class Attached:
    watchers: list[Watch] = field(default_factory=list)


class CounterBehavior:
    """The counters' behaviour. ``fail`` maps a hook's name (``replay``, ``handle``,
    ``on_persisted``, ``then``) to the entity ids it raises Boom for."""

    def __init__(self, *, passivate: bool = True) -> None:
        self.passivate = passivate
        self.fail: dict[str, set[str]] = {}
        self.replays: Counter[str] = Counter()  # replays per entity id
        self.handled: list[tuple[str, Any]] = []
        self.persisted: list[tuple[str, list[Event]]] = []
        self.foreign: list[tuple[str, list[Event], list[int]]] = []  # others' events read
        self.crashes: list[tuple[str, Any, BaseException]] = []
        self.others: list[Any] = []
        self.started = threading.Event()
        self.stopped = threading.Event()
        # Called in handle, before deciding (to make another writer race this one).
        self.before_handle: dict[str, Any] = {}

    def _maybe_fail(self, hook: str, entity_id: str) -> None:
        if entity_id in self.fail.get(hook, ()):
            raise Boom(f"{hook} failed for {entity_id}")

    # -- Behavior protocol ----------------------------------------------------------

    def encode(self, event: Event) -> NewEvent:
        return CODEC.encode(event)

    def decode(self, recorded: RecordedEvent) -> Event:
        return CODEC.decode(recorded.data)

    def replay(self, entity_id: str, events: Sequence[RecordedEvent]) -> int | None:
        self.replays[entity_id] += 1
        self._maybe_fail("replay", entity_id)
        state: int | None = None
        for recorded in events:
            state = self.evolve(state, CODEC.decode(recorded.data))
        return state

    def evolve(self, state: int | None, event: Event) -> int:
        if isinstance(event, Created):
            return 0
        return (state or 0) + event.n

    def needs_replay(self, message: Any) -> bool:
        return not isinstance(message, Create)

    def handle(self, entity: Entity[int], message: Any) -> Step[Event]:
        self.handled.append((entity.id, message))
        hook = self.before_handle.get(entity.id)
        if hook is not None:
            hook(entity)
        self._maybe_fail("handle", entity.id)
        if isinstance(message, Add):
            return [Added(message.n)], message
        if isinstance(message, Create):
            if entity.state is None:
                return [Created()], (True, message)
            return [], (False, message)
        if isinstance(message, Watch):
            return [], message
        return [], message

    def then(self, entity: Entity[int], token: Any, error: BaseException | None) -> None:
        self._maybe_fail("then", entity.id)
        if isinstance(token, tuple):  # a Create's: (whether it creates, the message)
            created, create = token
            if error is not None:
                create.reply(None, error)
            else:
                create.reply(created)
        elif error is not None:
            token.reply(None, error)
        elif isinstance(token, Watch):
            if (entity.state or 0) >= token.at:
                token.reply(entity.state)
            else:
                self._attached(entity).watchers.append(token)
        else:
            token.reply(entity.state)

    def on_persisted(self, entity: Entity[int], events: Sequence[Event]) -> None:
        self.persisted.append((entity.id, list(events)))
        self._maybe_fail("on_persisted", entity.id)
        self._wake_watchers(entity)

    def _wake_watchers(self, entity: Entity[int]) -> None:
        attached: Attached | None = entity.attached
        if attached is not None:
            due = [w for w in attached.watchers if (entity.state or 0) >= w.at]
            for watch in due:
                attached.watchers.remove(watch)
                watch.reply(entity.state)

    def on_foreign(
        self, entity: Entity[int], events: Sequence[Event], positions: Sequence[int]
    ) -> None:
        """Another writer's events, folded into the entity: they may reach a watcher."""
        self.foreign.append((entity.id, list(events), list(positions)))
        self._wake_watchers(entity)

    def wants_foreign(self, entity_id: str, recorded: Sequence[RecordedEvent]) -> bool:
        return False  # a counter has no work to do for what others wrote

    def can_passivate(self, entity: Entity[int]) -> bool:
        attached: Attached | None = entity.attached
        return self.passivate and (attached is None or not attached.watchers)

    def on_crash(self, entity_id: str, message: Any, error: BaseException) -> None:
        self.crashes.append((entity_id, message, error))
        message.reply(None, error)

    def on_message(self, host: EntityHost[int, Event], message: Any) -> None:
        if isinstance(message, Peek):
            message.reply(message.look(host))
            return
        self.others.append(message)
        reply = getattr(message, "reply", None)
        if reply is not None:
            reply(len(host.entities))

    def on_start(self, host: EntityHost[int, Event]) -> None:
        self.started.set()

    def on_stop(self, host: EntityHost[int, Event]) -> None:
        self.stopped.set()

    def _attached(self, entity: Entity[int]) -> Attached:
        attached: Attached | None = entity.attached
        if attached is None:
            attached = entity.attached = Attached()
        return attached
