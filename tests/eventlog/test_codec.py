"""Codec: a tagged union of Structs to stored rows and back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from eventlog import Codec, EventLog, NewEvent, RecordedEvent


class Event(msgspec.Struct, frozen=True, gc=False, tag=True):
    """The base of a tagged union: each subclass is tagged with its class name."""


class Started(Event, frozen=True, gc=False):
    alo_id: str
    deadline: float | None = None


class Completed(Event, frozen=True, gc=False):
    alo_id: str
    result: bytes
    attempts: list[int] = []


class Renamed(Event, frozen=True, gc=False, tag="renamed.v2"):
    old: str
    new: str


EVENTS = (Started, Completed, Renamed)


@pytest.fixture
def codec() -> Codec[Event]:
    return Codec[Event](EVENTS)


SAMPLES: list[Event] = [
    Started("a-1"),
    Started("a-2", deadline=12.5),
    Completed("a-1", b"\x00\xffbytes", [1, 2, 3]),
    Renamed("old", "new"),
]


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_every_event_of_the_union_round_trips(codec: Codec[Event], event: Event) -> None:
    row = codec.encode(event)
    assert isinstance(row, NewEvent)
    assert isinstance(row.data, bytes)
    decoded = codec.decode(row.data)
    assert decoded == event
    assert type(decoded) is type(event)


def test_the_type_name_is_the_tag(codec: Codec[Event]) -> None:
    assert codec.encode(Started("a")).type == "Started"
    assert codec.encode(Completed("a", b"")).type == "Completed"
    assert codec.encode(Renamed("a", "b")).type == "renamed.v2"
    for event in SAMPLES:
        assert codec.encode(event).type == type(event).__struct_config__.tag


def test_one_decoder_serves_every_type_without_being_told_which(codec: Codec[Event]) -> None:
    rows = [codec.encode(event) for event in SAMPLES]
    assert [codec.decode(row.data) for row in rows] == SAMPLES


def test_a_single_type_codec_works() -> None:
    codec = Codec[Started]((Started,))
    assert codec.decode(codec.encode(Started("x")).data) == Started("x")


def test_events_round_trip_through_a_log(codec: Codec[Event], tmp_path: Path) -> None:
    with EventLog.open(str(tmp_path / "log.db")) as log:
        log.append("a-1", 0, [codec.encode(event) for event in SAMPLES])
        recorded = log.read_stream("a-1")
    assert all(isinstance(r, RecordedEvent) for r in recorded)
    assert [codec.decode_recorded(r) for r in recorded] == SAMPLES
    assert [r.type for r in recorded] == ["Started", "Started", "Completed", "renamed.v2"]


class Plain(msgspec.Struct, frozen=True):
    name: str


class NumberTagged(msgspec.Struct, frozen=True, tag=7):
    name: str


class SameTagAsStarted(msgspec.Struct, frozen=True, tag="Started"):
    name: str


@pytest.mark.parametrize(
    "types",
    [(Plain,), (Started, Plain), (NumberTagged,), (Started, SameTagAsStarted)],
    ids=["untagged", "one-untagged", "int-tag", "duplicate-tag"],
)
def test_a_type_without_its_own_string_tag_is_refused(types: tuple[type[Any], ...]) -> None:
    with pytest.raises(TypeError):
        Codec(types)


def test_a_codec_needs_a_type() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Codec[Event](())


def test_an_unregistered_tag_or_garbage_does_not_decode(codec: Codec[Event]) -> None:
    foreign = msgspec.msgpack.encode(Plain("x"))
    with pytest.raises(msgspec.ValidationError):
        codec.decode(foreign)
    with pytest.raises(msgspec.ValidationError):
        codec.decode(msgspec.msgpack.encode({"type": "Unknown", "alo_id": "x"}))
    with pytest.raises(msgspec.DecodeError):
        codec.decode(b"\xc1 not msgpack")
