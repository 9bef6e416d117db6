"""A Nexus callback in the state machine and the log: owed only the outcomes that the
start request was not answered with; stored so that old logs still read, replay and
verify; delivered in the Nexus completion format."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import msgspec
import pytest
from msgspec.structs import replace

from alo_actor import AloSystem, Status
from alo_actor._errors import AlreadyExists
from alo_actor._events import (
    CODEC,
    AloEvent,
    Completed,
    Delivered,
    DeliveriesDue,
    DeliveriesFinished,
    NexusCallback,
    Started,
    TimedOut,
)
from alo_actor._machine import (
    AloState,
    AttemptSucceeded,
    Cancel,
    Read,
    RecordDelivery,
    Start,
    decide,
    fold,
    owed_urls,
)
from alo_actor.delivery import nexus_completion, owed_deliveries
from alo_actor.logtools import replay, verify
from alo_actor.nexus import operation_token
from eventlog import NewEvent
from tests.alo_actor.logtools_support import ALO, LogBuilder, completed, raw, started

T0 = 1_700_000_000.0
HOOK = "http://127.0.0.1:9/hook"
CALLBACK = NexusCallback(
    "http://127.0.0.1:7243/namespaces/default/nexus/callback",
    {"Temporal-Callback-Token": "tok"},
    T0 + 0.5,
)


def nexus_start(
    callback: NexusCallback = CALLBACK,
    result_urls: list[str] | None = None,
    deadline: float | None = None,
) -> Start:
    return Start(
        id="req-1",
        operation="greeting",
        input=raw({"name": "Ada"}),
        metadata={"nexus.service": "alo"},
        result_urls=[*(result_urls or []), callback.url],
        deadline=deadline,
        nexus_callback=callback,
    )


def created(command: Start, at: float = T0) -> AloState:
    state = fold(decide(None, command, at).events)
    assert state is not None
    return state


def settle_at(state: AloState, at: float) -> tuple[AloEvent, ...]:
    return decide(state, AttemptSucceeded(1, raw("hi"), {}), at).events


def test_an_outcome_within_the_window_is_owed_to_no_callback() -> None:
    state = created(nexus_start())
    events = settle_at(state, CALLBACK.answer_until - 0.1)
    assert [type(e) for e in events] == [Completed]
    assert owed_urls(fold(events, state)) == []  # type: ignore[arg-type]


def test_an_outcome_after_the_window_is_owed_to_the_callback() -> None:
    state = created(nexus_start())
    events = settle_at(state, CALLBACK.answer_until)
    assert [type(e) for e in events] == [Completed, DeliveriesDue]
    settled = fold(events, state)
    assert settled is not None and owed_urls(settled) == [CALLBACK.url]
    record = decide(settled, RecordDelivery(CALLBACK.url, True, "HTTP 200"), T0 + 1).events
    assert [type(e) for e in record] == [Delivered, DeliveriesFinished]


def test_other_result_urls_are_owed_every_outcome() -> None:
    state = created(nexus_start(result_urls=[HOOK]))
    settled = fold(settle_at(state, T0 + 0.1), state)
    assert settled is not None and owed_urls(settled) == [HOOK]
    # The callback answered in the start: recording it changes nothing.
    assert decide(settled, RecordDelivery(CALLBACK.url, True, "HTTP 200"), T0 + 1).events == ()
    assert [type(e) for e in decide(settled, RecordDelivery(HOOK, True, "ok"), T0 + 1).events] == [
        Delivered,
        DeliveriesFinished,
    ]


def test_created_timed_out_is_answered_in_the_start_and_owed_nothing() -> None:
    events = decide(None, nexus_start(deadline=T0), T0).events
    assert [type(e) for e in events] == [Started, TimedOut]


def test_a_deadline_after_the_window_owes_the_timeout_to_the_callback() -> None:
    state = created(nexus_start(deadline=T0 + 5))
    events = decide(state, Read(), T0 + 6).events
    assert [type(e) for e in events] == [TimedOut, DeliveriesDue]


def test_a_retried_start_is_the_same_start_whatever_its_window() -> None:
    state = created(nexus_start())
    later = replace(CALLBACK, answer_until=T0 + 9)
    assert decide(state, nexus_start(later), T0 + 8.5) == decide(state, nexus_start(), T0)
    assert decide(state, nexus_start(later), T0 + 8.5).created is False
    other = replace(CALLBACK, headers={"Temporal-Callback-Token": "another"})
    error = decide(state, nexus_start(other), T0 + 1).error
    assert isinstance(error, AlreadyExists) and "Nexus callback" in str(error)
    plain = replace(nexus_start(), nexus_callback=None)
    assert isinstance(decide(state, plain, T0 + 1).error, AlreadyExists)


def test_the_completion_is_the_nexus_format() -> None:
    state = created(nexus_start())
    settled = fold(decide(state, Cancel("stop"), T0 + 2).events, state)
    assert settled is not None and settled.status is Status.CANCELLED
    (delivery,) = owed_deliveries(settled)
    assert delivery.url == CALLBACK.url
    assert delivery.headers["Temporal-Callback-Token"] == "tok"
    assert delivery.headers["Nexus-Operation-State"] == "canceled"
    assert delivery.headers["Nexus-Operation-Token"] == operation_token("req-1")
    assert delivery.headers["Nexus-Operation-Close-Time"] == "2023-11-14T22:13:22.000Z"
    assert delivery.headers["Nexus-Operation-Start-Time"] == "Tue, 14 Nov 2023 22:13:20 GMT"
    assert json.loads(delivery.body)["cause"] == {
        "message": "stop",
        "metadata": {"type": "Cancelled"},
    }
    done = fold(settle_at(state, T0 + 3), state)
    assert done is not None
    assert nexus_completion(done.info(), "hi", CALLBACK).body == b'"hi"'
    with pytest.raises(ValueError, match="no outcome"):
        nexus_completion(state.info(), None, CALLBACK)


# -- the log --------------------------------------------------------------------------


class StartedBefore(msgspec.Struct, frozen=True, gc=False, tag="Started"):
    """``Started`` as stored before Nexus callbacks existed."""

    at: float
    id: str
    operation: str | None
    input: msgspec.Raw
    metadata: dict[str, str]
    result_urls: list[str]
    deadline: float | None


def test_a_started_without_a_callback_is_stored_as_before() -> None:
    event = started("a", result_urls=[HOOK], deadline=T0 + 9)
    before = StartedBefore(T0, "a", "greeting", raw(None), {"team": "a"}, [HOOK], T0 + 9)
    assert CODEC.encode(event).data == msgspec.msgpack.encode(before)
    assert CODEC.decode(msgspec.msgpack.encode(before)) == event
    assert event.nexus_callback is None


def test_a_log_with_old_and_nexus_alos_opens_replays_and_verifies(tmp_path: Path) -> None:
    path = tmp_path / "alo.db"
    builder = LogBuilder(path)
    old = msgspec.msgpack.encode(StartedBefore(T0, "old", "greeting", raw(1), {}, [HOOK], None))
    builder.log.append("old", 0, [NewEvent("Started", old)])
    builder.versions["old"] = 1
    builder.add("old", completed(T0 + 1), DeliveriesDue(T0 + 1))
    nexus = Started(T0, "req-1", "greeting", raw(None), {}, [CALLBACK.url], None, CALLBACK)
    builder.add("req-1", nexus, completed(T0 + 2), DeliveriesDue(T0 + 2))
    builder.add("req-1", Delivered(T0 + 3, CALLBACK.url), DeliveriesFinished(T0 + 3))
    builder.add("fast", replace(nexus, id="fast"), completed(T0 + 0.1))
    builder.close()

    assert verify(str(path)) == []
    states = {s.id: s for s in replay(str(path))}
    assert states["old"].nexus_callback is None and states["old"].status is Status.COMPLETED
    assert states["req-1"].nexus_callback == CALLBACK
    assert owed_urls(states["fast"]) == []
    checked = subprocess.run(
        [ALO, "log", "verify", str(path)], check=False, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    with AloSystem.open(str(path)) as system:
        assert system.get_info("old").result_urls == [HOOK]
        assert system.get_info("fast").status is Status.COMPLETED
