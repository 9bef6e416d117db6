"""Replay: every ALO's state as it was at a position or a time, folded with ``evolve``."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

import msgspec

from alo_actor._errors import InvalidArgument
from alo_actor._events import CODEC, Started
from alo_actor._machine import AloState, evolve
from alo_actor._times import parse_time
from alo_actor.logtools._decode import decode_event
from alo_actor.logtools._errors import BadPoint, InconsistentLog, UnknownAlo
from alo_actor.logtools._source import LogSource, opened
from eventlog import LogReader

_INTEGER = re.compile(r"[+-]?\d+")
_DECIMAL = re.compile(r"[+-]?(\d+\.\d*|\.\d+)([eE][+-]?\d+)?")
_EXPONENT = re.compile(r"[+-]?\d+[eE][+-]?\d+")


def parse_at(text: str) -> int | float:
    """A replay point from the command line: a position (``int``) or a time (``float``).

    A bare integer is a position; a number with a decimal point, an RFC 3339 time
    with its offset (``2025-01-31T12:00:00Z``) or an age such as ``1h`` (that long
    before now) is a time on the clock that stamped the events' ``at``. Raises
    ``BadPoint`` for anything else.
    """
    text = text.strip()
    if _INTEGER.fullmatch(text):
        return int(text)
    if _DECIMAL.fullmatch(text):
        return float(text)
    if _EXPONENT.fullmatch(text):  # 1e9: a position or a time? Neither, to be safe.
        raise BadPoint(f"--at {text!r}: write a position as digits, a time with a decimal point")
    try:
        # "As it was at" includes that instant: no listing bound's slack.
        return parse_time(text, "--at", slack=0.0)
    except InvalidArgument as exc:
        if "offset" in str(exc):  # a time without its zone: that, not "neither"
            raise BadPoint(str(exc)) from None
        raise BadPoint(
            f"--at {text!r} is neither a position (an integer) nor a time "
            "(seconds with a decimal point, RFC 3339 like 2025-01-31T12:00:00Z, "
            "or an age such as 1h)"
        ) from None


def _cut(reader: LogReader, at: int | float | None) -> tuple[int, float]:
    """The last position to read and the latest ``at`` to fold, for a replay point."""
    last = reader.last_position()
    if at is None:
        return last, math.inf
    if isinstance(at, bool):
        raise BadPoint(f"a replay point is a position or a time, not {at!r}")
    if isinstance(at, int):
        if at < 0 or at > last:
            raise BadPoint(f"position {at} is not in the log (its positions run 0..{last})")
        return at, math.inf
    if math.isnan(at):
        raise BadPoint("a replay time cannot be NaN")
    return last, at


def replay(source: LogSource, at: int | float | None = None) -> Iterator[AloState]:
    """The state of every ALO at ``at``: a position (``int``), a time (``float``), or the end.

    At a position, the log's first ``at`` positions are folded; at a time, every
    event whose own ``at`` is not later. States come as each becomes final, so
    memory holds only ALOs that the log still has events for: an ALO is yielded
    once it is terminal and its last event (a delivery record, for one with
    result URLs) is folded; the open ones follow at the end, in creation order.

    Raises ``BadPoint`` for a position outside the log, ``InconsistentLog`` for an
    event that cannot be folded (``verify`` explains those), SchemaError or
    CorruptLog for an unreadable source.
    """
    with opened(source) as reader:
        yield from _replay(reader, at)


def _replay(reader: LogReader, at: int | float | None) -> Iterator[AloState]:
    until, latest = _cut(reader, at)
    states: dict[str, AloState] = {}
    # Settled ALOs with result URLs, which delivery records may still follow: the
    # position of each one's last event, once asked of the log.
    finals: dict[str, int] = {}
    get = states.get
    pop = states.pop
    decode = decode_event
    # The hot loop of a replay of millions of events: locals only, and no calls
    # beyond decode and evolve on the common path.
    for rows in reader.read_columns(("stream_id", "data"), until_position=until):
        owed: set[str] = set()
        position = 0
        for position, stream_id, data in rows:
            try:
                event = decode(data)
            except msgspec.DecodeError as exc:
                raise InconsistentLog(
                    f"position {position}: the event of ALO {stream_id!r} does not decode "
                    f"({exc}); run `alo log verify`"
                ) from None
            if event.at > latest:
                continue
            state = get(stream_id)
            if state is None and type(event) is not Started:
                if reader.has_stream(stream_id, until_position=position - 1):
                    # Settled before (and yielded), or created after ``latest``:
                    # either way, nothing to fold into.
                    continue
                raise InconsistentLog(
                    f"position {position}: {type(event).__name__} for ALO {stream_id!r}, "
                    "which was never started; run `alo log verify`"
                )
            state = evolve(state, event)
            if state.settled_at is None:
                states[stream_id] = state
            elif not state.result_urls:
                # Nothing may follow the terminal event of an ALO without result
                # URLs (semantics §4), so its state is final.
                pop(stream_id, None)
                yield state
            else:
                states[stream_id] = state
                final = finals.get(stream_id)
                if final is None:
                    owed.add(stream_id)
                elif position >= final:
                    del states[stream_id], finals[stream_id]
                    yield state
        if owed:
            for stream_id, final in reader.last_positions(owed, until_position=until).items():
                if final <= position:
                    yield pop(stream_id)
                else:
                    finals[stream_id] = final
    yield from states.values()


def replay_alo(source: LogSource, alo_id: str, at: int | float | None = None) -> AloState | None:
    """One ALO's state at ``at`` (see ``replay``); ``None`` if it did not exist yet.

    Raises ``UnknownAlo`` when the log holds no event of ``alo_id`` at all, and what
    ``replay`` raises.
    """
    with opened(source) as reader:
        until, latest = _cut(reader, at)
        events = reader.read_stream(alo_id)
        if not events:
            raise UnknownAlo(f"the log holds no ALO with id {alo_id!r}")
        state: AloState | None = None
        for recorded in events:
            if recorded.position > until:
                break
            try:
                event = CODEC.decode(recorded.data)
            except msgspec.DecodeError as exc:
                raise InconsistentLog(
                    f"position {recorded.position}: the event does not decode ({exc}); "
                    "run `alo log verify`"
                ) from None
            if event.at > latest:
                continue
            try:
                state = evolve(state, event)
            except ValueError as exc:
                raise InconsistentLog(
                    f"position {recorded.position}: {exc}; run `alo log verify`"
                ) from None
        return state
