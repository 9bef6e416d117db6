"""A sequential reference model of the command table (semantics §2), apart from the engine.

It shares no code with ``alo_actor._machine``: it reads the spec, not the engine.
Given a model state, a command and the span of clock times the command may have run
at, ``transitions`` says what may follow and what the answer must be
(``answers.allowed`` judges a recorded answer). What the caller cannot see yet stays
unknown in the state (the time a command ran at, the result a handler produced) and
is fixed when an answer first shows it; from then on every answer must agree.

Handlers settle ALOs on their own (``handler_settles``), at times nobody observed;
the checker lets that happen between any two commands.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, NamedTuple, Protocol

import msgspec

from tests.simulation.protocol import (
    CANCELLED,
    COMPLETED,
    FAILED,
    PAUSED,
    RUNNING,
    TERMINAL,
    TIMED_OUT,
    Cancel,
    Command,
    Complete,
    Fail,
    FailureView,
    GetInfo,
    GetResult,
    Pause,
    Resume,
    Start,
    Subscribe,
)

# Who settled an ALO.
CLIENT = "client"
HANDLER = "handler"
DEADLINE = "deadline"

# The error raised by get_result for each unsuccessful outcome (the exact class).
RAISED_FOR = {
    FAILED: "OperationFailed",
    CANCELLED: "OperationCancelled",
    TIMED_OUT: "OperationTimedOut",
}


# -- the model's state ------------------------------------------------------------------


class Span(NamedTuple):
    """A time not observed yet: somewhere in ``[lo, hi]``."""

    lo: float
    hi: float


class _Unseen:
    """A value fixed by the engine but not shown to any caller yet."""

    def __repr__(self) -> str:
        return "UNSEEN"


UNSEEN: Any = _Unseen()


@dataclass(frozen=True, slots=True)
class Alo:
    """One ALO as the model knows it; times may be ``Span``s, values ``UNSEEN``."""

    id: str
    operation: str | None
    input: bytes  # as msgpack encodes it: "equal encoded bytes" decides a repeat start
    metadata: tuple[tuple[str, str], ...]
    result_urls: tuple[str, ...]
    deadline: float | None
    created_at: float | Span
    status: str = RUNNING
    by: str | None = None
    settled_at: float | Span | None = None  # None until settled (and for DEADLINE: derived)
    result: Any = None  # canonical bytes, or UNSEEN
    result_metadata: Any = None  # canonical bytes, or UNSEEN
    failure: Any = None  # canonical bytes, or UNSEEN
    attempt: int = 0  # the attempt number seen last (a lower bound until it is exact)
    attempt_exact: bool = False  # a settled ALO's attempt was seen and never changes

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


class HandlerOracle(Protocol):
    """What the registered handlers can produce, so a handler's outcome can be judged."""

    def attempt_of_result(self, alo_id: str, operation: str, value: Any) -> int | None:
        """The attempt that returns ``value``, or None if no attempt can."""

    def attempt_of_failure(self, alo_id: str, operation: str, failure: FailureView) -> int | None:
        """The attempt whose failure FAILS the ALO with ``failure``, or None."""


@dataclass(frozen=True, slots=True)
class Context:
    registered: frozenset[str]
    oracle: HandlerOracle


class Expect(NamedTuple):
    """What the response must be: ``info`` (with ``created``), ``result``, or ``error``."""

    kind: str
    created: bool | None = None
    error: str = ""


_INFO = Expect("info")


def canon(value: Any) -> bytes:
    """A value's identity for comparison (dict order aside)."""
    return msgspec.msgpack.encode(value, order="sorted")


def encoded(value: Any) -> bytes:
    """The value as stored: the encoding a repeat start is compared by."""
    return msgspec.msgpack.encode(value)


def _before(t: float) -> float:
    return math.nextafter(t, -math.inf)


# -- transitions ------------------------------------------------------------------------


def transitions(
    alo: Alo | None, cmd: Command, now: Span, ctx: Context
) -> list[tuple[Span, Alo | None, Expect]]:
    """Every way ``cmd`` may go when run at a time in ``now``: (time, next state, reply).

    More than one when the time is uncertain around a deadline.
    """
    out: list[tuple[Span, Alo | None, Expect]] = []
    for when, current in _deadline_first(alo, now):
        out.extend(_command(current, cmd, when, ctx))
    return out


def _deadline_first(alo: Alo | None, now: Span) -> list[tuple[Span, Alo | None]]:
    """A command reaching a non-terminal ALO past its deadline times it out first."""
    if alo is None or alo.terminal or alo.deadline is None:
        return [(now, alo)]
    deadline = alo.deadline
    branches: list[tuple[Span, Alo | None]] = []
    if now.lo < deadline:
        branches.append((Span(now.lo, min(now.hi, _before(deadline))), alo))
    if now.hi >= deadline:
        branches.append((Span(max(now.lo, deadline), now.hi), timed_out(alo)))
    return branches


def timed_out(alo: Alo) -> Alo:
    return replace(
        alo, status=TIMED_OUT, by=DEADLINE, settled_at=None, failure=UNSEEN, attempt_exact=False
    )


def _command(
    alo: Alo | None, cmd: Command, now: Span, ctx: Context
) -> list[tuple[Span, Alo | None, Expect]]:
    if isinstance(cmd, Start):
        return _start(alo, cmd, now, ctx)
    if alo is None:
        return [(now, None, Expect("error", error="NotFound"))]
    if isinstance(cmd, GetInfo | Subscribe):
        return [(now, alo, _INFO)]
    if isinstance(cmd, GetResult):
        return [(now, alo, Expect("result"))]
    if alo.terminal:  # first writer wins; pause and resume change nothing either
        return [(now, alo, _INFO)]
    if isinstance(cmd, Complete):
        settled = _settled(alo, COMPLETED, now)
        return [
            (
                now,
                replace(
                    settled, result=canon(cmd.result), result_metadata=canon(cmd.result_metadata)
                ),
                _INFO,
            )
        ]
    if isinstance(cmd, Fail):
        failure = FailureView(cmd.message, cmd.type, cmd.details, None)
        return [(now, replace(_settled(alo, FAILED, now), failure=canon(failure)), _INFO)]
    if isinstance(cmd, Cancel):
        return [(now, replace(_settled(alo, CANCELLED, now), failure=UNSEEN), _INFO)]
    if isinstance(cmd, Pause):
        return [(now, replace(alo, status=PAUSED) if alo.status == RUNNING else alo, _INFO)]
    if isinstance(cmd, Resume):
        return [(now, replace(alo, status=RUNNING) if alo.status == PAUSED else alo, _INFO)]
    raise TypeError(f"unknown command {cmd!r}")


def _settled(alo: Alo, status: str, now: Span) -> Alo:
    at = now.lo if now.lo == now.hi else now
    return replace(alo, status=status, by=CLIENT, settled_at=at, attempt_exact=False)


def _start(
    alo: Alo | None, cmd: Start, now: Span, ctx: Context
) -> list[tuple[Span, Alo | None, Expect]]:
    if cmd.operation is not None and cmd.operation not in ctx.registered:
        return [(now, alo, Expect("error", error="NotFound"))]
    if alo is not None:
        same = (
            cmd.operation == alo.operation
            and encoded(cmd.input) == alo.input
            and tuple(sorted(cmd.metadata.items())) == alo.metadata
            and tuple(cmd.result_urls) == alo.result_urls
        )  # the deadline is not compared
        if same:
            return [(now, alo, Expect("info", created=False))]
        return [(now, alo, Expect("error", error="AlreadyExists"))]
    created = Alo(
        id=cmd.id,
        operation=cmd.operation,
        input=encoded(cmd.input),
        metadata=tuple(sorted(cmd.metadata.items())),
        result_urls=tuple(cmd.result_urls),
        deadline=cmd.deadline,
        created_at=now,
        attempt=0 if cmd.operation is None else 1,
    )
    out: list[tuple[Span, Alo | None, Expect]] = []
    deadline = cmd.deadline
    if deadline is None or now.hi < deadline:
        out.append((now, _exact_times(created, now), Expect("info", created=True)))
        return out
    if now.lo < deadline:  # created before the deadline: RUNNING
        early = Span(now.lo, _before(deadline))
        out.append(
            (early, _exact_times(replace(created, created_at=early), early), Expect("info", True))
        )
    late = Span(max(now.lo, deadline), now.hi)  # the deadline is not after now: TIMED_OUT at once
    out.append(
        (
            late,
            timed_out(_exact_times(replace(created, created_at=late), late)),
            Expect("info", True),
        )
    )
    return out


def _exact_times(alo: Alo, now: Span) -> Alo:
    return replace(alo, created_at=now.lo) if now.lo == now.hi else alo


def handler_settles(alo: Alo | None, floor: float) -> list[Alo]:
    """What a handler attempt may do on its own, after the clock reached ``floor``.

    Permissive: an attempt's outcome is accepted while RUNNING or PAUSED (§3), and the
    model does not track which attempts run, only what their outcomes may be.
    """
    if alo is None or alo.terminal or alo.operation is None:
        return []
    end = math.inf if alo.deadline is None else _before(alo.deadline)
    if end < floor:
        return []
    at = Span(floor, end)
    return [
        replace(
            alo,
            status=COMPLETED,
            by=HANDLER,
            settled_at=at,
            result=UNSEEN,
            result_metadata=UNSEEN,
            attempt_exact=False,
        ),
        replace(alo, status=FAILED, by=HANDLER, settled_at=at, failure=UNSEEN, attempt_exact=False),
    ]
