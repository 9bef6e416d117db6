"""Many logical, event-sourced actors hosted on one pykka thread.

Each entity is an actor in all but thread: private state, addressed by id, its
messages handled one at a time, its state changes persisted as events before it
answers, rebuilt by replay when a message activates it, dropped (passivated) when
its behaviour says so. While one entity waits for its events to commit, its next
messages wait in its stash and other entities go on, so one commit carries many
entities' events (Akka's persist-then-reply, Orleans' virtual actors).
"""

from __future__ import annotations

import itertools
import logging
import queue
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from gc import is_tracked
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

import msgspec
import pykka

from eventlog import (
    Append,
    ConcurrencyError,
    EventLog,
    Fenced,
    Head,
    NewEvent,
    RecordedEvent,
    Statement,
)

S = TypeVar("S")
E = TypeVar("E")

_log = logging.getLogger("actors")

# How many times a message is re-decided after losing an optimistic-concurrency race
# to another process before its sender is told of the conflict.
MAX_CONFLICT_RETRIES = 5


class Entity(msgspec.Struct, Generic[S], eq=False):
    """One hosted actor: its state, the version it was rebuilt to, its stash.

    Tracked by the garbage collector: ``attached`` and the stash hold the
    behaviour's objects (callers' replies, callbacks), which may refer back to it.
    """

    id: str
    state: S | None
    version: int
    busy: bool = False
    # Made on first use: most entities never stash, and there may be very many.
    stash: deque[Any] | None = None
    attached: Any = None  # the behaviour's own per-entity data (waiters, …)
    # Another process wrote the stream while this entity's own append was in flight:
    # read what it wrote once that append is answered.
    stale: bool = False
    # Replayed past what the follower had applied: the last position read then. Another
    # process's events up to it are in ``state`` but have not had their effects here;
    # they do when the follower hands them on (see ``_apply_foreign``).
    unrun: int = 0
    # Such events handed on while an append was in flight: their effects run after it.
    late: list[RecordedEvent] | None = None


# A behaviour's answer to a message: the events to persist, and a token that the host
# hands back to ``behavior.then(entity, token, error)`` once they are committed (error
# None) or could not be (the error); no token, no call. A plain tuple, not a closure:
# this is built for every message.
Step = tuple[Sequence[E], Any]


class Behavior(Protocol[S, E]):
    """What the host needs to know of the entities it hosts."""

    def encode(self, event: E) -> NewEvent: ...

    def decode(self, recorded: RecordedEvent) -> E: ...

    def replay(self, entity_id: str, events: Sequence[RecordedEvent]) -> S | None: ...

    def evolve(self, state: S | None, event: E) -> S: ...

    def needs_replay(self, message: Any) -> bool:
        """False when the message may assume the entity is new (an optimistic create:
        the log's concurrency check catches the case where it is not)."""
        ...

    def handle(self, entity: Entity[S], message: Any) -> Step[E]: ...

    def then(self, entity: Entity[S], token: Any, error: BaseException | None) -> None:
        """Answer a handled message once its events are committed (or failed to be)."""
        ...

    def on_persisted(self, entity: Entity[S], events: Sequence[E]) -> None:
        """Effects of newly committed events (called before the step's continuation)."""
        ...

    def on_foreign(self, entity: Entity[S], events: Sequence[E], positions: Sequence[int]) -> None:
        """Effects of events another process committed to an entity active here (its
        state already includes them), with their log positions."""
        ...

    def wants_foreign(self, entity_id: str, recorded: Sequence[RecordedEvent]) -> bool:
        """Whether events another process committed to an entity not active here call
        for effects here (the host then activates it and calls ``on_foreign``). Given
        as stored (their ``type`` and ``position`` say enough): most are not wanted, and
        are never decoded."""
        ...

    def can_passivate(self, entity: Entity[S]) -> bool: ...

    def on_crash(self, entity_id: str, message: Any, error: BaseException) -> None:
        """A message made the behaviour raise: answer its sender; the entity is reset."""
        ...

    def on_message(self, host: EntityHost[S, E], message: Any) -> None:
        """A message not addressed to one entity."""
        ...


# ``behavior.project(entity, events, after)``, if the behaviour has it: SQL statements
# to commit in the same transaction as the events (``eventlog.Append.extra``), called
# with the entity as it was before them and the state they lead to. For a read model
# that must never lag the log.
Project = Callable[[Entity[Any], Sequence[Any], Any], Sequence[Statement]]


# Messages are msgspec Structs, tracked by the garbage collector: ``message`` is the
# behaviour's (a caller's reply, a callback), and an untracked object that a cycle
# runs through makes the whole cycle uncollectable (msgspec's docs: gc=False only
# where no cycle can ever form).
class Deliver(msgspec.Struct, frozen=True):
    """A message for the entity ``entity_id``."""

    entity_id: str
    message: Any


class DeliverMany(msgspec.Struct, frozen=True):
    """Several deliveries in one pykka message (one per caller batch): ``messages[i]``
    for the entity ``entity_ids[i]``. Two lists rather than a Deliver each: fewer
    objects for the garbage collector while a batch waits in the inbox."""

    entity_ids: Sequence[str]
    messages: Sequence[Any]


# ``behavior.fence(entity, message)``, if the behaviour has it: the ``(shard, epoch)``
# an append for this message must be committed under (``eventlog.Append.fence``), or
# None. A fenced append the log refuses fails with ``eventlog.Fenced``, handed to
# ``then`` like any error, and ``behavior.on_fenced(error)`` is told.
Fence = Callable[[Entity[Any], Any], "tuple[int, int] | None"]


class _Committed(NamedTuple):
    appends: list[Append]


class Foreign(NamedTuple):
    """Events other processes committed, up to ``head`` (from the log's follower)."""

    events: Sequence[RecordedEvent]
    head: Head


class _Pending(msgspec.Struct, gc=False):
    """What an append in flight carries back to the host: the entity, the message, the
    events and the state they lead to, the behaviour's token, the retries so far.

    Untracked by the garbage collector (one per write, alive until its commit): only
    its ``Append`` (untracked too) refers to it, and nothing it holds refers back to
    either, so no cycle runs through it. What it holds stays tracked.
    """

    entity: Entity[Any]
    message: Any
    events: Sequence[Any]
    after: Any
    then: Any
    retries: int


class EntityHost(pykka.ThreadingActor, Generic[S, E]):
    """A pykka actor hosting many entities of one behaviour, persisting to ``log``."""

    def __init__(
        self,
        log: EventLog,
        behavior: Behavior[S, E],
        *,
        cache_size: int = 10_000,
    ) -> None:
        super().__init__()
        self.log = log
        self.behavior = behavior
        self.entities: dict[str, Entity[S]] = {}
        # States of passivated entities, the most recently used first to go back in.
        # One another process has changed since is no worse than an active entity's:
        # the log's concurrency check catches it on the next write (reload, decide
        # again).
        # The idle entity object itself (nothing stashed, and nothing the behaviour
        # keeps it active for), so that going back in costs no new object; or a
        # copy of its state and version, if it ever held something the garbage
        # collector tracks (see _maybe_passivate).
        self._cache: OrderedDict[str, Entity[S]] = OrderedDict()
        self._cache_size = cache_size
        self._sink = self._committed_sink
        self._encode = behavior.encode
        self._handle = behavior.handle
        self._then = behavior.then
        self._evolve = behavior.evolve
        # Optional: SQL statements committed with each append (a read model, say).
        self._project: Project | None = getattr(behavior, "project", None)
        # Optional: the lease an append must be committed under.
        self._fence: Fence | None = getattr(behavior, "fence", None)
        # Messages that wait for the log's follower: each came when this process had not
        # yet seen every event another process committed before it (the head it saw).
        self._parked: deque[tuple[Head, Deliver]] = deque()
        self._frontier = log.frontier
        # Set by ``follow``: without a follower nothing applies the others' events, and
        # a read cannot wait for them (a host alone on its log needs none).
        self._poke: Callable[[], None] | None = None
        self._head: Head | None = None  # the log's head as read for the current message
        # Whether this process had seen all of ``_head`` when last asked: once it has,
        # it has for good (the frontier only moves on), so a message's later reads
        # need not ask the frontier (and take its lock) again.
        self._head_covered = False
        # Appends made while handling the current message, submitted together after it
        # (one lock for them all, and none of submit's checks: the host builds them).
        self._appends: list[Append] = []

    def _committed_sink(self, appends: list[Append]) -> None:
        # Runs on the writer thread: one message per committed batch.
        try:
            self.actor_ref.tell(_Committed(appends))
        except pykka.ActorDeadError:
            # Stopped while these were in flight: the events are durable; what is left
            # undone is the host's own bookkeeping. (AloSystem.close lets no request in
            # once it begins and waits for those in flight, so these come from the
            # system's own work: a handler's outcome, a delivery record.)
            _log.debug("%d appends committed after the host stopped", len(appends))

    # -- messages --------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        # Every request in this message was made before it is handled: one look at the
        # log's head, when the first of them needs it, serves them all (see _fresh).
        self._head = None
        self._head_covered = False
        kind = type(message)
        try:
            if kind is DeliverMany:
                deliver = self.deliver
                for entity_id, item in zip(message.entity_ids, message.messages, strict=True):
                    deliver(entity_id, item)
            elif kind is _Committed:
                self._on_committed(message.appends)
            elif kind is Deliver:
                self.deliver(message.entity_id, message.message)
            elif kind is Foreign:
                self._on_foreign(message.events, message.head)
            else:
                self.behavior.on_message(self, message)
        finally:
            if self._appends:
                self._submit()
        return None

    def _submit(self) -> None:
        appends, self._appends = self._appends, []
        try:
            self.log.submit_many(appends)
        except Exception as exc:  # closed: none was queued, each is answered so
            for append in appends:
                pending: _Pending = append.token  # type: ignore[assignment]
                entity = pending.entity
                entity.busy = False
                if pending.then is not None:
                    self._run_then(entity, pending.message, pending.then, exc)

    def follow(self, poke: Callable[[], None]) -> None:
        """The log has a follower that sends this host the others' events (``Foreign``);
        ``poke`` asks it to look at once. From now on a decision that writes nothing
        waits until this host has seen every event committed before it."""
        self._poke = poke

    def deliver(self, entity_id: str, message: Any) -> None:
        """Handle ``message`` for the entity now, or after its in-flight commit."""
        parked = self._parked
        if parked:  # in order behind the messages waiting for the follower
            parked.append((parked[-1][0], Deliver(entity_id, message)))
            return
        self._deliver_now(entity_id, message)

    def _deliver_now(self, entity_id: str, message: Any) -> None:
        entity = self.entities.get(entity_id)
        if entity is None:
            try:
                entity = self._activate(entity_id, message)
            except Exception as exc:
                self.behavior.on_crash(entity_id, message, exc)
                return
        elif entity.busy:
            if entity.stash is None:
                entity.stash = deque()
            entity.stash.append(message)
            return
        self._process(entity, message, 0)
        if not entity.busy:  # one that is waits for its commit: see _on_committed
            self._maybe_passivate(entity)

    def _activate(self, entity_id: str, message: Any) -> Entity[S]:
        entity = self._cache.pop(entity_id, None)
        if entity is None:
            if self.behavior.needs_replay(message):
                entity = self._replayed(entity_id)
            else:
                entity = Entity(entity_id, None, 0)
        self.entities[entity_id] = entity
        return entity

    def _replayed(self, entity_id: str) -> Entity[S]:
        events = self.log.read_stream(entity_id)
        state = self.behavior.replay(entity_id, events)
        if not events:
            return Entity(entity_id, state, 0)
        entity = Entity(entity_id, state, events[-1].version)
        last = events[-1].position
        if self._poke is not None and last > self._frontier.covered:
            entity.unrun = last  # ahead of the follower: see _apply_foreign
        return entity

    def _process(self, entity: Entity[S], message: Any, retries: int) -> None:
        try:
            events, then = self._handle(entity, message)
            if not events:
                # A decision that writes nothing answers from what this process knows:
                # only once it knows every event committed anywhere before now (a
                # decision that writes is checked by the log's version check instead).
                if then is not None and not self._fresh(entity, message):
                    return
                if then is not None:
                    self._then(entity, then, None)
                return
            # A tuple: of untracked events, it leaves the collector's lists on its
            # first pass (a list never does), while it waits for the commit. Made from
            # a list, not from an iterator: a tuple grown while Python code runs (the
            # encoder) can be seen half-built by gc.get_objects() on another thread (a
            # memory profiler's), and CPython then fails to grow it (SystemError).
            encode = self._encode
            encoded = tuple([encode(event) for event in events])
            # Folded once, here: the projection's row and the state after the commit
            # are the same fold.
            evolve = self._evolve
            after = entity.state
            for event in events:
                after = evolve(after, event)
            project = self._project
            extra = () if project is None else project(entity, events, after)
            fence = None if self._fence is None else self._fence(entity, message)
        except Exception as exc:
            self._crash(entity, message, exc)
            return
        entity.busy = True
        pending = _Pending(entity, message, events, after, then, retries)
        # Positional, every field: keywords cost a third more, for every write.
        self._appends.append(
            Append(entity.id, entity.version, encoded, self._sink, pending, (), None, extra, fence)
        )

    def _on_committed(self, appends: list[Append]) -> None:
        on_persisted = self.behavior.on_persisted
        for append in appends:
            pending: _Pending = append.token  # type: ignore[assignment]
            entity = pending.entity
            message = pending.message
            events = pending.events
            then = pending.then
            entity.busy = False
            error = append.error
            if error is None:
                entity.state = pending.after
                entity.version += len(events)
                try:
                    on_persisted(entity, events)
                except Exception:
                    _log.exception(
                        "on_persisted failed for %r", entity.id, extra={"entity_id": entity.id}
                    )
                if then is not None:
                    self._run_then(entity, message, then, None)
            elif isinstance(error, ConcurrencyError) and pending.retries < MAX_CONFLICT_RETRIES:
                # Another process wrote this stream: read what it wrote, decide again.
                entity.stale = False
                self._refresh(entity)
                self._process(entity, message, pending.retries + 1)
            else:
                if isinstance(error, Fenced):
                    on_fenced = getattr(self.behavior, "on_fenced", None)
                    if on_fenced is not None:
                        on_fenced(error)
                if then is not None:
                    self._run_then(entity, message, then, error)
            if entity.stale and not entity.busy:
                entity.stale = False
                self._refresh(entity)
            stash = entity.stash
            while stash and not entity.busy:
                self._process(entity, stash.popleft(), 0)
            self._maybe_passivate(entity)

    # -- other processes' writes ----------------------------------------------------

    def _fresh(self, entity: Entity[S], message: Any) -> bool:
        """Whether this process has seen every event committed before now, anywhere; if
        not, the message waits (parked) for the follower and is handled again then."""
        if self._poke is None:
            return True
        if self._head_covered:
            return True
        head = self._head
        if head is None:
            head = self._head = self.log.head()
        if self._frontier.covers(head):
            self._head_covered = True
            return True
        parked = self._parked
        parked.append((head, Deliver(entity.id, message)))
        stash = entity.stash
        while stash:  # the entity's later messages wait behind it, in order
            parked.append((head, Deliver(entity.id, stash.popleft())))
        self._poke()
        return False

    def _on_foreign(self, recorded: Sequence[RecordedEvent], head: Head) -> None:
        if head.deletions > self._frontier.deletions:
            # Streams were deleted elsewhere (a purge): what is cached may be gone.
            self._cache.clear()
            for entity in list(self.entities.values()):
                if not entity.busy and not entity.stash and entity.attached is None:
                    del self.entities[entity.id]
        for entity_id, group in itertools.groupby(recorded, key=lambda event: event.stream_id):
            try:
                self._apply_foreign(entity_id, list(group))
            except Exception:
                _log.exception("could not apply another process's events to %r", entity_id)
                self.entities.pop(entity_id, None)
                self._cache.pop(entity_id, None)
        self._frontier.applied(head)
        parked = self._parked
        covers = self._frontier.covers
        ready = []
        while parked and covers(parked[0][0]):
            ready.append(parked.popleft()[1])
        for item in ready:
            # One that parks again (the log moved on meanwhile) holds back the rest.
            self.deliver(item.entity_id, item.message)

    def _apply_foreign(self, entity_id: str, recorded: list[RecordedEvent]) -> None:
        entity = self.entities.get(entity_id)
        if entity is None:
            cached = self._cache.pop(entity_id, None)
            if cached is not None:
                # Folded on from where it is: what it has read already (in a conflict's
                # refresh, say) has had its effects, and must not have them twice.
                entity = self.entities[entity_id] = cached
            else:
                if self.behavior.wants_foreign(entity_id, recorded):
                    entity = self.entities[entity_id] = self._replayed(entity_id)
                    self._run_foreign(entity, recorded)
                    self._maybe_passivate(entity)
                return
        late = self._late(entity, recorded)
        if entity.busy:
            if late:
                entity.late = (entity.late or []) + late
            entity.stale = True  # its append will conflict, or follow these: see then
            return
        if late:
            self._run_foreign(entity, late)
        fresh = [event for event in recorded if event.version > entity.version]
        if not fresh:  # written here, or already read
            self._maybe_passivate(entity)  # (one just taken from the cache goes back)
            return
        if fresh[0].version != entity.version + 1:
            self._refresh(entity)
        else:
            self._fold(entity, fresh)
        self._maybe_passivate(entity)

    @staticmethod
    def _late(entity: Entity[S], recorded: Sequence[RecordedEvent]) -> list[RecordedEvent]:
        """Of another process's events, those ``entity`` read in its replay before the
        follower handed them on: in its state, but their effects have not run here."""
        unrun = entity.unrun
        if not unrun:
            return []
        if recorded[-1].position >= unrun:
            entity.unrun = 0  # the follower has reached what the replay read
        version = entity.version
        return [e for e in recorded if e.position <= unrun and e.version <= version]

    def _run_foreign(self, entity: Entity[S], recorded: Sequence[RecordedEvent]) -> None:
        """The effects of another process's events, which ``entity.state`` includes."""
        decode = self.behavior.decode
        events = [decode(event) for event in recorded]
        self.behavior.on_foreign(entity, events, [event.position for event in recorded])

    def _refresh(self, entity: Entity[S]) -> None:
        """Bring an entity up to the log: fold what was committed since its version (by
        another process), then run the effects of that (and of any such events it had
        read already, handed on while its append was in flight)."""
        late, entity.late = entity.late, None
        if late:
            self._run_foreign(entity, late)
        self._fold(entity, self.log.read_stream(entity.id, entity.version + 1))

    def _fold(self, entity: Entity[S], recorded: Sequence[RecordedEvent]) -> None:
        if not recorded:
            return
        decode, evolve = self.behavior.decode, self._evolve
        events = [decode(event) for event in recorded]
        state = entity.state
        for event in events:
            state = evolve(state, event)
        entity.state = state
        entity.version = recorded[-1].version
        self.behavior.on_foreign(entity, events, [event.position for event in recorded])

    def _run_then(
        self, entity: Entity[S], message: Any, then: Any, error: BaseException | None
    ) -> None:
        try:
            self._then(entity, then, error)
        except Exception as exc:
            self._crash(entity, message, exc)

    def _crash(self, entity: Entity[S], message: Any, error: BaseException) -> None:
        _log.exception(
            "entity %r failed on %r",
            entity.id,
            type(message).__name__,
            extra={"entity_id": entity.id},
        )
        if entity.busy:
            self.behavior.on_crash(entity.id, message, error)
            return
        if self.entities.get(entity.id) is entity:
            del self.entities[entity.id]
        self._cache.pop(entity.id, None)
        self.behavior.on_crash(entity.id, message, error)
        # Reset: the state is rebuilt from the log. What waits on the entity (the
        # messages stashed behind this one, what the behaviour attached) goes to the
        # rebuilt entity, in order. Handled on the dropped one instead, they would
        # commit beside a second entity that a later message rebuilds for the id.
        stash, attached = entity.stash, entity.attached
        entity.stash = entity.attached = None
        queued = list(stash or ())
        if stash:
            stash.clear()  # a caller draining this very stash stops
        if attached is None and not queued:
            return  # rebuilt by the next message
        try:
            fresh = self._replayed(entity.id)
        except Exception as exc:
            for waiting in queued:
                self.behavior.on_crash(entity.id, waiting, exc)
            return
        fresh.attached = attached
        self.entities[entity.id] = fresh
        for waiting in queued:
            self.deliver(entity.id, waiting)
        if not fresh.busy:
            self._maybe_passivate(fresh)

    def _maybe_passivate(self, entity: Entity[S]) -> None:
        if entity.busy or entity.stash or self.entities.get(entity.id) is not entity:
            return
        if not self.behavior.can_passivate(entity):
            return
        del self.entities[entity.id]
        if entity.state is not None:
            if is_tracked(entity):
                # Once it held the behaviour's objects, msgspec tracks it for good; a
                # copy of what the cache needs holds none (the state, the version), so
                # the collector does not walk ten thousand idle entities on every
                # full pass. What the behaviour attached is let go with passivation.
                entity = Entity(entity.id, entity.state, entity.version, unrun=entity.unrun)
            cache = self._cache
            cache[entity.id] = entity
            if len(cache) > self._cache_size:
                cache.popitem(last=False)

    # -- for behaviours ----------------------------------------------------------

    def forget(self, entity_ids: Iterable[str]) -> None:
        """Drop cached states (their streams were changed outside this host)."""
        for entity_id in entity_ids:
            self._cache.pop(entity_id, None)
            entity = self.entities.get(entity_id)
            if entity is not None and not entity.busy and not entity.stash:
                del self.entities[entity_id]

    def on_start(self) -> None:
        starting = getattr(self.behavior, "on_start", None)
        if starting is not None:
            starting(self)

    def on_stop(self) -> None:
        stopping = getattr(self.behavior, "on_stop", None)
        if stopping is not None:
            stopping(self)
        # What the behaviour attached to them (waiters, callbacks) goes with the host.
        self.entities.clear()
        self._cache.clear()

    def busy_count(self) -> int:
        """Entities waiting for a commit, plus messages not yet handled or waiting for
        the follower (zero when idle)."""
        inbox = self.actor_inbox
        queued = inbox.qsize() if isinstance(inbox, queue.Queue) else 0
        busy = sum(1 for entity in self.entities.values() if entity.busy)
        return busy + queued + len(self._parked)
