"""The verifier: every invariant of semantics §4, checked over a whole log in one pass.

Besides those, each event must be one the state machine could have made: the scan
folds every ALO's events with the machine's own ``evolve`` and asks
``transition_fault`` of each (``possible-transition``), so a log the engine could
not have written fails even where every §4 invariant holds (an attempt started
twice, a resume of a running ALO, a delivery to a URL it never had).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from operator import attrgetter
from typing import TypeAlias

import msgspec
from msgspec.structs import replace

from alo_actor._events import (
    DELIVERY_EVENTS,
    TERMINAL_EVENT_NAMES,
    AloEvent,
    Started,
    TimedOut,
)
from alo_actor._machine import AloState, evolve, transition_fault
from alo_actor.logtools._decode import decode_event
from alo_actor.logtools._source import LogSource, opened
from eventlog import LogReader, RecordedEvent

# The invariants, by the names violations carry.
UNIQUE_ID = "unique-id"
GAPLESS_VERSIONS = "gapless-versions"
CREATION_FIRST = "creation-first"
SINGLE_TERMINAL = "single-terminal"
NOTHING_AFTER_TERMINAL = "nothing-after-terminal"
CREATED_BEFORE_SETTLED = "created-before-settled"
SETTLED_BY_DEADLINE = "settled-by-deadline"
TIMED_OUT_AT_DEADLINE = "timed-out-at-deadline"
DECODES = "decodes"
STARTED_ID = "started-id"
POSSIBLE_TRANSITION = "possible-transition"
INVARIANTS: tuple[str, ...] = (
    UNIQUE_ID,
    GAPLESS_VERSIONS,
    CREATION_FIRST,
    SINGLE_TERMINAL,
    NOTHING_AFTER_TERMINAL,
    CREATED_BEFORE_SETTLED,
    SETTLED_BY_DEADLINE,
    TIMED_OUT_AT_DEADLINE,
    DECODES,
    STARTED_ID,
    POSSIBLE_TRANSITION,
)

ALLOWED_AFTER_TERMINAL: frozenset[str] = frozenset(t.__name__ for t in DELIVERY_EVENTS)
"""Event types that may follow an ALO's terminal event: the result-URL delivery
records (semantics §4)."""

_TERMINAL = frozenset(TERMINAL_EVENT_NAMES)
_STARTED = Started.__name__

# All the verifier keeps of an open ALO: (last version, created, created_at, deadline,
# has result URLs, the state its events fold to). The state is None until a Started
# decodes, and from the first event that does not decode on: the fold stops there.
_Open: TypeAlias = tuple[int, bool, float | None, float | None, bool, AloState | None]
_NEW: _Open = (0, False, None, None, False, None)
# The payloads are no part of any check: the states kept drop them (a Started's input,
# a settled state's result), which would otherwise keep every event's bytes alive.
_NO_PAYLOAD = msgspec.Raw(b"")


class Violation(msgspec.Struct, frozen=True, gc=False):
    """One broken invariant: the event where it shows, which invariant, what was found."""

    position: int
    stream_id: str
    invariant: str
    message: str


class Verification:
    """One pass of the verifier over a log; iterate it for the violations, in log order.

    The log is read in chunks up to the position it ends at when the pass begins.
    Memory is O(ALOs that the log still has events for at the point reached): a
    small tuple and the folded state (without its input or result) per open ALO,
    dropped when it settles, or, for one with result URLs, once its last delivery
    record is read (the log is asked where that is). No set of ids is kept: the
    log's unique (stream, version) index makes each stream's version 1, its
    creation, unique; a stream met again after it was dropped is looked up in SQL
    (only a broken log does that); and a file whose index was removed is searched
    for duplicates with one SQL query.

    After the iteration, ``events``, ``alos`` and ``violations`` hold the counts.
    Iterating raises SchemaError or CorruptLog for an unreadable source.
    """

    def __init__(self, source: LogSource) -> None:
        self._source = source
        self.events = 0
        self.alos = 0
        self.violations = 0

    def __iter__(self) -> Iterator[Violation]:
        with opened(self._source) as reader:
            until = reader.last_position()
            duplicates = [e for e in reader.duplicate_versions() if e.position <= until]
            scan = _Scan(reader, until, skip={e.position for e in duplicates})
            found = heapq.merge(
                _duplicate_violations(duplicates), scan.run(), key=attrgetter("position")
            )
            try:
                for violation in found:
                    self.violations += 1
                    yield violation
            finally:
                self.events, self.alos = scan.events, scan.alos


class _Scan:
    """The streaming pass: per-ALO summaries, checked event by event."""

    def __init__(self, reader: LogReader, until: int, skip: set[int]) -> None:
        self.reader = reader
        self.until = until
        self.skip = skip
        self.open: dict[str, _Open] = {}
        # Settled ALOs with result URLs: (last version, position of the terminal event,
        # folded state or None).
        self.settled: dict[str, tuple[int, int, AloState | None]] = {}
        # Where the last event of each of those is, once asked.
        self.finals: dict[str, int] = {}
        self.out: list[Violation] = []
        self.events = 0
        self.alos = 0

    def run(self) -> Iterator[Violation]:
        columns = ("stream_id", "version", "type", "data")
        for rows in self.reader.read_columns(columns, until_position=self.until):
            owed: list[str] = []
            position = 0
            for row in rows:
                self.events += 1
                position = row[0]
                if position not in self.skip:
                    self.check(row, owed)
            if owed:
                self.ask_finals(owed, end=position)
            yield from self.out
            self.out.clear()

    def flag(self, position: int, stream_id: str, invariant: str, message: str) -> None:
        self.out.append(Violation(position, stream_id, invariant, message))

    def check(self, row: tuple[int, str, int, str, bytes], owed: list[str]) -> None:
        """One event (a row of ``run``'s columns); ``owed`` collects settled ALOs with
        result URLs, whose last event the log is asked for at the end of the chunk."""
        position, stream_id, version, type_name, data = row
        event: AloEvent | None
        try:
            event = decode_event(data)
        except msgspec.DecodeError as exc:
            event = None
            name = type_name
            self.flag(position, stream_id, DECODES, f"{name} does not decode: {exc}")
        else:
            name = type(event).__name__
            if name != type_name:
                self.flag(
                    position,
                    stream_id,
                    DECODES,
                    f"stored as {type_name}, but the payload is a {name}",
                )
        state = self.open.get(stream_id)
        if state is None:
            settled = self.settled.get(stream_id)
            if settled is not None:
                folded = settled[2]
                self.after_terminal(position, stream_id, version, name, settled[:2])
                if name in ALLOWED_AFTER_TERMINAL:
                    folded = self.transition(position, stream_id, folded, event)
                final = self.finals.get(stream_id)
                if final is not None and position >= final:
                    del self.settled[stream_id], self.finals[stream_id]
                else:
                    self.settled[stream_id] = (version, settled[1], folded)
                return
            if name == _STARTED and version == 1:
                state = _NEW
            else:
                state = self.unseen(position, stream_id, version, name)
                if state is None:
                    return
        last_version, created, created_at, deadline, has_urls, folded = state
        if version != last_version + 1:
            self.flag(
                position,
                stream_id,
                GAPLESS_VERSIONS,
                f"version {version} follows version {last_version}",
            )
        if name == _STARTED:
            if created:
                self.flag(
                    position,
                    stream_id,
                    UNIQUE_ID,
                    "a second Started: an ALO with this id already exists",
                )
            else:
                self.alos += 1
                created = True
                if isinstance(event, Started):
                    created_at, deadline = event.at, event.deadline
                    has_urls = bool(event.result_urls)
                    folded = evolve(None, replace(event, input=_NO_PAYLOAD))
                    if event.id != stream_id:
                        self.flag(
                            position,
                            stream_id,
                            STARTED_ID,
                            f"Started names id {event.id!r}, not its stream's",
                        )
        else:
            folded = self.transition(position, stream_id, folded, event)
            if name in _TERMINAL:
                # Not held when the stream's first event settles it (creation-first).
                self.open.pop(stream_id, None)
                if event is not None and created_at is not None:
                    self.check_settlement(position, stream_id, event, created_at, deadline)
                if has_urls:
                    if folded is not None and folded.result is not None:
                        folded = replace(folded, result=None)  # kept a while: keep it small
                    self.settled[stream_id] = (version, position, folded)
                    owed.append(stream_id)
                return
        self.open[stream_id] = (version, created, created_at, deadline, has_urls, folded)

    def transition(
        self, position: int, stream_id: str, state: AloState | None, event: AloEvent | None
    ) -> AloState | None:
        """The state after ``event``, flagging it if the machine could not have made
        it from ``state``; None (the fold stops) once an event does not decode."""
        if state is None or event is None:
            return None
        fault = transition_fault(state, event)
        if fault is not None:
            self.flag(position, stream_id, POSSIBLE_TRANSITION, fault)
        return evolve(state, event)

    def ask_finals(self, owed: list[str], end: int) -> None:
        """Learn where the streams settled in this chunk end; forget those that did."""
        for stream_id, final in self.reader.last_positions(owed, until_position=self.until).items():
            if final <= end:
                self.settled.pop(stream_id, None)
            else:
                self.finals[stream_id] = final

    def unseen(self, position: int, stream_id: str, version: int, name: str) -> _Open | None:
        """An event of a stream the scan does not hold: a new stream that starts
        wrongly, or one that settled and was forgotten. Returns the state to check
        it against, or ``None`` when it had settled (and the fault is reported)."""
        prior = [
            e
            for e in self.reader.read_stream(stream_id, until_position=position - 1)
            if e.position not in self.skip
        ]
        if prior:
            settled = next((e.position for e in prior if e.type in _TERMINAL), 0)
            last = max(e.version for e in prior)
            self.after_terminal(position, stream_id, version, name, (last, settled))
            return None
        if version != 1:
            self.flag(
                position,
                stream_id,
                GAPLESS_VERSIONS,
                f"the first event has version {version}, not 1",
            )
        if name != _STARTED:
            self.flag(
                position, stream_id, CREATION_FIRST, f"the first event is {name}, not Started"
            )
        # Checked against ``version - 1`` so that a wrong first version is reported once.
        return (version - 1, False, None, None, False, None)

    def after_terminal(
        self,
        position: int,
        stream_id: str,
        version: int,
        name: str,
        since: tuple[int, int],
    ) -> None:
        """An event of a settled ALO; ``since`` is (its last version, where it settled)."""
        last_version, settled_at_position = since
        if version != last_version + 1:
            self.flag(
                position,
                stream_id,
                GAPLESS_VERSIONS,
                f"version {version} follows version {last_version}",
            )
        where = f"at position {settled_at_position}" if settled_at_position else "earlier"
        if name == _STARTED:
            self.flag(
                position,
                stream_id,
                UNIQUE_ID,
                f"a second Started: an ALO with this id already exists (it settled {where})",
            )
        elif name in _TERMINAL:
            self.flag(
                position,
                stream_id,
                SINGLE_TERMINAL,
                f"a second terminal event, {name}: the ALO settled {where}",
            )
        elif name not in ALLOWED_AFTER_TERMINAL:
            self.flag(
                position,
                stream_id,
                NOTHING_AFTER_TERMINAL,
                f"{name} after the ALO settled {where}",
            )

    def check_settlement(
        self,
        position: int,
        stream_id: str,
        event: AloEvent,
        created_at: float,
        deadline: float | None,
    ) -> None:
        settled_at = event.at
        name = type(event).__name__
        if settled_at < created_at:
            self.flag(
                position,
                stream_id,
                CREATED_BEFORE_SETTLED,
                f"settled_at {settled_at!r} ({name}) is before created_at {created_at!r}",
            )
        bound = created_at if deadline is None else max(deadline, created_at)
        if isinstance(event, TimedOut):
            if deadline is None:
                self.flag(
                    position, stream_id, TIMED_OUT_AT_DEADLINE, "TimedOut, but it has no deadline"
                )
            elif settled_at != bound:
                self.flag(
                    position,
                    stream_id,
                    TIMED_OUT_AT_DEADLINE,
                    f"TimedOut at {settled_at!r}, not at max(deadline, created_at) = {bound!r}",
                )
        elif deadline is not None and settled_at > bound:
            self.flag(
                position,
                stream_id,
                SETTLED_BY_DEADLINE,
                f"{name} at {settled_at!r}, after max(deadline, created_at) = {bound!r}",
            )


def _duplicate_violations(duplicates: list[RecordedEvent]) -> Iterator[Violation]:
    for event in duplicates:
        if event.type == _STARTED:
            yield Violation(
                event.position,
                event.stream_id,
                UNIQUE_ID,
                "a second Started: version 1 of this id is stored twice",
            )
        else:
            yield Violation(
                event.position,
                event.stream_id,
                GAPLESS_VERSIONS,
                f"version {event.version} of this stream is stored twice",
            )


def verify(source: LogSource) -> list[Violation]:
    """Every violation in the log, in log order; an empty list for a sound log. Raises
    SchemaError or CorruptLog for an unreadable source (a violation is not raised)."""
    return list(Verification(source))
