"""The EntityHost: many event-sourced entities on one pykka thread, and its failure paths.

A toy behaviour (counters, ``tests/actors/counter.py``) over a real EventLog in
``tmp_path``; a second EventLog on the same file plays another process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pykka
import pytest

from actors import Deliver, DeliverMany, Entity, EntityHost, Foreign, SyncReply
from actors._host import MAX_CONFLICT_RETRIES
from eventlog import ConcurrencyError, EventLog, LogClosed
from tests.actors.counter import (
    CODEC,
    Add,
    Added,
    Boom,
    CounterBehavior,
    Create,
    Created,
    Event,
    Get,
    Peek,
    Watch,
)
from tests.conftest import WAIT, wait_until

Host = pykka.ActorRef[EntityHost[int, Event]]


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "counters.db")


@pytest.fixture
def log(path: str) -> Iterator[EventLog]:
    opened = EventLog.open(path)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def behavior() -> CounterBehavior:
    return CounterBehavior()


@pytest.fixture
def start_host(log: EventLog, behavior: CounterBehavior) -> Iterator[Callable[..., Host]]:
    started: list[Host] = []

    def start(**options: Any) -> Host:
        ref: Host = EntityHost.start(log, behavior, **options)
        started.append(ref)
        return ref

    try:
        yield start
    finally:
        for ref in started:
            ref.stop(block=True, timeout=WAIT)


@pytest.fixture
def host(start_host: Callable[..., Host]) -> Host:
    return start_host()


def ask(host: Host, entity_id: str, make: Callable[[SyncReply], Any]) -> Any:
    """Send one message to the entity and return its answer (raising its error)."""
    reply = SyncReply()
    host.tell(Deliver(entity_id, make(reply)))
    return reply.result(WAIT)


def add(host: Host, entity_id: str, n: int) -> Any:
    return ask(host, entity_id, lambda r: Add(n, r))


def get(host: Host, entity_id: str) -> Any:
    return ask(host, entity_id, Get)


def stored(log: EventLog, entity_id: str) -> list[Any]:
    return [CODEC.decode(e.data) for e in log.read_stream(entity_id)]


def peek(host: Host, look: Callable[[EntityHost[int, Event]], Any]) -> Any:
    """``look(host)``, run on the host's own thread (after what was sent before)."""
    reply = SyncReply()
    host.tell(Peek(look, reply))
    return reply.result(WAIT)


def entities(host: Host) -> dict[str, Entity[int]]:
    """The host's active entities, by id."""
    found: dict[str, Entity[int]] = peek(host, lambda h: dict(h.entities))
    return found


def cached(host: Host) -> list[str]:
    """Ids of the passivated entities the host keeps, least recently used first."""
    found: list[str] = peek(host, lambda h: list(h._cache))
    return found


# -- the ordinary path -------------------------------------------------------------------


def test_an_entity_persists_before_it_answers_and_is_rebuilt_by_replay(
    log: EventLog, behavior: CounterBehavior, start_host: Callable[..., Host]
) -> None:
    host = start_host()
    assert add(host, "c", 2) == 2
    assert [e.type for e in log.read_stream("c")] == ["Added"]  # durable when answered
    assert add(host, "c", 3) == 5
    assert get(host, "c") == 5
    assert behavior.replays["c"] == 1  # activated once; the rest was in memory
    assert stored(log, "c") == [Added(2), Added(3)]
    host.stop(block=True, timeout=WAIT)
    assert behavior.stopped.is_set()

    again = start_host()
    assert behavior.started.is_set()
    assert get(again, "c") == 5  # rebuilt from the log
    assert behavior.replays["c"] == 2


def test_messages_not_for_an_entity_go_to_the_behaviour(
    host: Host, behavior: CounterBehavior
) -> None:
    add(host, "a", 1)
    reply = SyncReply()
    other = Get(reply)  # not wrapped in a Deliver
    host.tell(other)
    assert reply.result(WAIT) == 0  # "a" is passivated: no active entity
    assert behavior.others == [other]


def test_an_idle_host_is_not_busy(host: Host) -> None:
    add(host, "a", 1)
    wait_until(lambda: host.proxy().busy_count().get(timeout=WAIT) == 0, what="an idle host")


# -- stashing ----------------------------------------------------------------------------


def test_messages_that_arrive_during_a_commit_wait_in_order(
    log: EventLog, host: Host, behavior: CounterBehavior
) -> None:
    replies = [SyncReply() for _ in range(5)]
    messages = [
        Add(1, replies[0]),
        Add(2, replies[1]),
        Get(replies[2]),
        Add(3, replies[3]),
        Get(replies[4]),
    ]
    # One pykka message: the first starts a commit, the rest arrive while it is in
    # flight and wait in the entity's stash.
    host.tell(DeliverMany(["c"] * 5, messages))
    assert [r.result(WAIT) for r in replies] == [1, 3, 3, 6, 6]
    assert stored(log, "c") == [Added(1), Added(2), Added(3)]
    assert [m for _, m in behavior.handled] == messages


def test_one_entity_waiting_for_its_commit_holds_up_no_other(host: Host, log: EventLog) -> None:
    a, b = SyncReply(), SyncReply()
    host.tell(DeliverMany(["a", "b"], [Add(1, a), Add(10, b)]))
    assert (a.result(WAIT), b.result(WAIT)) == (1, 10)
    # Both appends went to the writer before either was acknowledged: one batch.
    positions = [e.position for e in (*log.read_stream("a"), *log.read_stream("b"))]
    assert sorted(positions) == [1, 2]


# -- passivation and the cache -----------------------------------------------------------


def test_an_entity_the_behaviour_holds_stays_active_until_it_lets_go(
    host: Host, behavior: CounterBehavior
) -> None:
    add(host, "w", 1)
    watch = SyncReply()
    host.tell(Deliver("w", Watch(3, watch)))
    wait_until(lambda: "w" in entities(host), what="the watched entity to stay active")
    assert not watch.wait(0)
    assert add(host, "w", 1) == 2
    assert "w" in entities(host)
    assert add(host, "w", 1) == 3
    assert watch.result(WAIT) == 3
    assert "w" not in entities(host)  # answered: let go, passivated
    assert cached(host) == ["w"]


def test_the_cache_keeps_the_most_recently_used_and_replays_the_rest(
    behavior: CounterBehavior, start_host: Callable[..., Host]
) -> None:
    host = start_host(cache_size=2)
    for entity_id in ("a", "b", "c"):
        add(host, entity_id, 1)
    assert entities(host) == {}
    assert cached(host) == ["b", "c"]  # "a" was evicted when "c" came in
    assert dict(behavior.replays) == {"a": 1, "b": 1, "c": 1}
    assert add(host, "c", 1) == 2  # from the cache: no replay
    assert add(host, "a", 1) == 2  # evicted: replayed from the log
    assert dict(behavior.replays) == {"a": 2, "b": 1, "c": 1}
    assert cached(host) == ["c", "a"]


def test_a_behaviour_that_never_passivates_keeps_every_entity(
    log: EventLog, start_host: Callable[..., Host]
) -> None:
    keeper = CounterBehavior(passivate=False)
    host: Host = EntityHost.start(log, keeper)
    try:
        for entity_id in ("a", "b"):
            add(host, entity_id, 1)
        assert sorted(entities(host)) == ["a", "b"]
        assert cached(host) == []
    finally:
        host.stop(block=True, timeout=WAIT)


def test_forget_drops_what_the_host_remembers_of_a_stream(
    log: EventLog, host: Host, behavior: CounterBehavior
) -> None:
    add(host, "f", 5)
    assert cached(host) == ["f"]
    log.delete_streams(["f"])
    host.proxy().forget(["f"]).get(timeout=WAIT)
    assert cached(host) == []
    assert get(host, "f") is None  # rebuilt from the log, which no longer has it
    assert behavior.replays["f"] == 2


# -- failures ----------------------------------------------------------------------------


def test_an_activation_that_fails_answers_the_sender_and_keeps_nothing(
    host: Host, behavior: CounterBehavior
) -> None:
    behavior.fail["replay"] = {"r"}
    with pytest.raises(Boom, match="replay failed for r"):
        get(host, "r")
    assert [(i, type(e)) for i, _, e in behavior.crashes] == [("r", Boom)]
    assert "r" not in entities(host) and cached(host) == []
    assert add(host, "other", 1) == 1  # the host goes on
    behavior.fail.clear()
    assert add(host, "r", 4) == 4  # activated anew
    assert behavior.replays["r"] == 2


def test_a_handle_that_raises_resets_the_entity_from_the_log(
    log: EventLog, host: Host, behavior: CounterBehavior
) -> None:
    assert add(host, "h", 1) == 1
    behavior.fail["handle"] = {"h"}
    with pytest.raises(Boom, match="handle failed"):
        add(host, "h", 100)
    assert "h" not in entities(host) and "h" not in cached(host)
    assert stored(log, "h") == [Added(1)]  # nothing of the failed message was written
    behavior.fail.clear()
    assert add(host, "h", 2) == 3  # rebuilt from the log on the next message
    assert behavior.replays["h"] == 2


def test_a_submit_that_fails_answers_with_its_error(
    log: EventLog, host: Host, behavior: CounterBehavior
) -> None:
    assert add(host, "s", 1) == 1
    log.close()
    with pytest.raises(LogClosed):
        add(host, "s", 1)
    # The entity is not left waiting for a commit that will never come.
    assert host.proxy().busy_count().get(timeout=WAIT) == 0
    assert not any(entity.busy for entity in entities(host).values())


def test_an_on_persisted_that_raises_is_logged_and_the_answer_still_comes(
    log: EventLog, host: Host, behavior: CounterBehavior, caplog: pytest.LogCaptureFixture
) -> None:
    behavior.fail["on_persisted"] = {"p"}
    with caplog.at_level(logging.ERROR, logger="actors"):
        assert add(host, "p", 7) == 7
    assert "on_persisted failed for 'p'" in caplog.text
    assert stored(log, "p") == [Added(7)]
    assert add(host, "p", 1) == 8  # the state was applied: the events are durable
    assert behavior.crashes == []


def test_a_then_that_raises_answers_the_sender_and_resets_the_entity(
    log: EventLog, host: Host, behavior: CounterBehavior
) -> None:
    assert add(host, "t", 1) == 1
    behavior.fail["then"] = {"t"}
    with pytest.raises(Boom, match="then failed"):
        add(host, "t", 2)
    assert stored(log, "t") == [Added(1), Added(2)]  # committed before the answer failed
    behavior.fail.clear()
    assert "t" not in entities(host) and "t" not in cached(host)
    assert get(host, "t") == 3  # rebuilt from the log, with what was committed
    assert behavior.replays["t"] == 2


def test_a_crash_keeps_the_order_of_the_messages_waiting_behind_it(
    log: EventLog, host: Host, behavior: CounterBehavior
) -> None:
    """A message that makes the behaviour raise while others wait in the stash: the
    others are handled after it, in order, by the entity rebuilt from the log. The
    one entity the host holds for the id is the one whose commit is in flight (the
    others used to be handled on the dropped entity, and the next message to meet
    a second one, rebuilt beside it from a log without that commit)."""
    assert add(host, "o", 1) == 1
    replies = [SyncReply() for _ in range(3)]
    boom, after = Add(100, replies[1]), Add(2, replies[2])
    late, held = SyncReply(), SyncReply()

    def hook(entity: Entity[int]) -> None:
        message = behavior.handled[-1][1]
        if message is boom:
            raise Boom("handle failed on the boom")
        if message is after:
            # Both arrive while `after` commits (its append is not even submitted yet).
            host.tell(Peek(lambda h: h.entities["o"].busy if "o" in h.entities else None, held))
            host.tell(Deliver("o", Get(late)))

    behavior.before_handle["o"] = hook
    host.tell(DeliverMany(["o"] * 3, [Add(1, replies[0]), boom, after]))
    assert replies[0].result(WAIT) == 2
    with pytest.raises(Boom):
        replies[1].result(WAIT)
    assert replies[2].result(WAIT) == 4
    assert held.result(WAIT) is True
    assert late.result(WAIT) == 4
    assert stored(log, "o") == [Added(1), Added(1), Added(2)]
    assert get(host, "o") == 4


def test_a_crash_keeps_what_the_behaviour_attached_to_the_entity(
    host: Host, behavior: CounterBehavior
) -> None:
    """A watcher attached to the entity is still answered after the entity is reset."""
    assert add(host, "k", 1) == 1
    watch = SyncReply()
    host.tell(Deliver("k", Watch(5, watch)))
    wait_until(lambda: "k" in entities(host), what="the watcher to be attached")
    behavior.fail["handle"] = {"k"}
    with pytest.raises(Boom):
        add(host, "k", 1)
    behavior.fail.clear()
    assert add(host, "k", 4) == 5
    assert watch.result(WAIT) == 5


# -- another writer on the same log ------------------------------------------------------


def test_a_conflict_with_another_writer_is_decided_again_on_the_log(
    path: str, log: EventLog, host: Host, behavior: CounterBehavior
) -> None:
    assert add(host, "x", 1) == 1  # cached at version 1
    with EventLog.open(path) as other:
        other.append("x", 1, [CODEC.encode(Added(10))])
    # The host still thinks version 1: its append conflicts, it reads what the other
    # wrote since (folding it on, no replay from the start), and decides again.
    assert add(host, "x", 2) == 13
    assert stored(log, "x") == [Added(1), Added(10), Added(2)]
    assert behavior.replays["x"] == 1
    assert [(i, events) for i, events, _ in behavior.foreign] == [("x", [Added(10)])]
    assert [m.n for i, m in behavior.handled if i == "x"] == [1, 2, 2]


def test_an_optimistic_create_of_an_existing_stream_is_decided_again(
    path: str, log: EventLog, host: Host, behavior: CounterBehavior
) -> None:
    with EventLog.open(path) as other:
        other.append("n", 0, [CODEC.encode(Added(5))])
    # Create assumes the stream is new (no replay); the log says otherwise, and the
    # host reads what is there before it decides again.
    assert ask(host, "n", Create) is False
    assert stored(log, "n") == [Added(5)]
    assert behavior.replays["n"] == 0
    assert [(i, events) for i, events, _ in behavior.foreign] == [("n", [Added(5)])]
    assert ask(host, "new", Create) is True
    assert behavior.replays["new"] == 0


def test_a_stream_that_keeps_changing_gives_up_after_the_retries(
    path: str, log: EventLog, host: Host, behavior: CounterBehavior
) -> None:
    assert add(host, "busy", 1) == 1
    with EventLog.open(path) as other:

        def race(entity: Entity[int]) -> None:
            # Another process appends just before each decision lands.
            version = other.stream_version("busy")
            other.append("busy", version, [CODEC.encode(Added(1))])

        behavior.before_handle["busy"] = race
        with pytest.raises(ConcurrencyError):
            add(host, "busy", 100)
    decided = [m for i, m in behavior.handled if i == "busy" and m.n == 100]
    assert len(decided) == 1 + MAX_CONFLICT_RETRIES
    assert Added(100) not in stored(log, "busy")
    behavior.before_handle.clear()
    assert add(host, "busy", 1) == len(stored(log, "busy"))


# -- another process's events, handed on by the follower ----------------------------------


def _follow_by_hand(host: Host) -> None:
    """The host waits for a follower; the test plays it, handing ``Foreign`` on."""
    peek(host, lambda h: h.follow(lambda: None))


def _written_elsewhere(path: str, entity_id: str, *events: Event) -> list[Any]:
    with EventLog.open(path) as other:
        other.append(entity_id, 0, [CODEC.encode(event) for event in events])
        return other.read_stream(entity_id)


def test_events_a_replay_read_before_the_follower_have_their_effects_once(
    path: str, log: EventLog, host: Host, behavior: CounterBehavior
) -> None:
    _follow_by_hand(host)
    recorded = _written_elsewhere(path, "x", Created(), Added(5))
    reply = SyncReply()
    # The read replays the stream (both events) and waits for the follower to reach
    # the log's head, since a read must reflect every commit made before it.
    host.tell(Deliver("x", Get(reply)))
    wait_until(lambda: peek(host, lambda h: len(h._parked)) == 1, what="the read to wait")
    assert behavior.foreign == []
    host.tell(Foreign(recorded, log.head()))
    assert reply.result(WAIT) == 5
    positions = [event.position for event in recorded]
    assert behavior.foreign == [("x", [Created(), Added(5)], positions)]
    host.tell(Foreign(recorded, log.head()))  # handed on again: read already
    assert get(host, "x") == 5
    assert len(behavior.foreign) == 1


def test_events_a_replay_read_have_their_effects_after_an_append_in_flight(
    path: str, log: EventLog, host: Host, behavior: CounterBehavior
) -> None:
    _follow_by_hand(host)
    recorded = _written_elsewhere(path, "x", Created(), Added(5))
    holding, release = threading.Event(), threading.Event()

    def hold(conn: Any) -> None:  # on the writer's thread: no append commits meanwhile
        holding.set()
        release.wait(WAIT)

    held = threading.Thread(target=log.transaction, args=(hold,))
    held.start()
    try:
        assert holding.wait(WAIT)
        reply = SyncReply()
        host.tell(Deliver("x", Add(1, reply)))  # replays both events, then appends
        wait_until(lambda: entities(host)["x"].busy, what="the append to be in flight")
        host.tell(Foreign(recorded, log.head()))
        assert peek(host, lambda h: h.entities["x"].late) is not None
        assert behavior.foreign == []
    finally:
        release.set()
        held.join(WAIT)
    assert reply.result(WAIT) == 6
    wait_until(lambda: behavior.foreign != [], what="the late effects")
    assert behavior.foreign == [("x", [Created(), Added(5)], [e.position for e in recorded])]
    assert stored(log, "x") == [Created(), Added(5), Added(1)]
