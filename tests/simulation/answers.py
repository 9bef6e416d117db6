"""Judging an answer: which model states may follow a command given what it answered.

``allowed`` is what the checker asks; ``observe`` checks one answer against the state
after the command and fixes what the answer shows for the first time.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, NamedTuple

from tests.simulation.model import (
    DEADLINE,
    HANDLER,
    RAISED_FOR,
    UNSEEN,
    Alo,
    Context,
    Expect,
    Span,
    canon,
    transitions,
)
from tests.simulation.protocol import (
    COMPLETED,
    PAUSED,
    RUNNING,
    Command,
    FailureView,
    Info,
    Raised,
    Response,
    Value,
)


class Rejected(Exception):
    """The response is not one the model allows here; says why."""


class Branch(NamedTuple):
    """One way a command may have gone: when, whether the response fits, what follows."""

    when: Span
    ok: bool
    after: Alo | None
    reason: str


def allowed(
    alo: Alo | None, cmd: Command, now: Span, response: Response | None, ctx: Context
) -> list[tuple[Span, Alo | None]]:
    """States that may follow ``cmd`` answered with ``response`` (None: not seen)."""
    return [(b.when, b.after) for b in explain(alo, cmd, now, response, ctx) if b.ok]


def explain(
    alo: Alo | None, cmd: Command, now: Span, response: Response | None, ctx: Context
) -> list[Branch]:
    """Every branch of ``transitions``, judged against ``response``."""
    if now.lo > now.hi:
        return []
    out: list[Branch] = []
    for when, after, expect in transitions(alo, cmd, now, ctx):
        if response is None:
            out.append(Branch(when, True, after, ""))
            continue
        try:
            out.append(Branch(when, True, observe(after, expect, response, when, ctx), ""))
        except Rejected as why:
            out.append(Branch(when, False, after, str(why)))
    return out


def observe(
    alo: Alo | None, expect: Expect, response: Response, now: Span, ctx: Context
) -> Alo | None:
    """Check ``response`` against the state after the command; fix what it shows."""
    if expect.kind == "error":
        if not (isinstance(response, Raised) and response.error == expect.error):
            raise Rejected(f"expected {expect.error}, got {_show(response)}")
        return alo
    if alo is None:
        raise Rejected(f"no ALO, yet got {_show(response)}")
    if expect.kind == "info":
        if not isinstance(response, Info):
            raise Rejected(f"expected info, got {_show(response)}")
        return _info(alo, response, expect.created, now, ctx)
    # get_result
    if not alo.terminal:
        if isinstance(response, Raised) and response.error == "TimeoutError":
            return alo
        raise Rejected(f"not settled: expected TimeoutError, got {_show(response)}")
    if alo.status == COMPLETED:
        if not isinstance(response, Value):
            raise Rejected(f"COMPLETED: expected the result, got {_show(response)}")
        return _result(alo, response.value, ctx)
    wanted = RAISED_FOR[alo.status]
    if not isinstance(response, Raised) or response.error != wanted:
        raise Rejected(f"{alo.status.upper()}: expected {wanted}, got {_show(response)}")
    if response.failure is None:
        raise Rejected(f"{wanted} without a failure")
    return _failure(alo, response.failure, ctx)


def _show(response: Response) -> str:
    if isinstance(response, Raised):
        return f"{response.error}({response.message!r})"
    if isinstance(response, Info):
        return f"info(status={response.status}, created={response.created})"
    return f"value {response.value!r}"


def _fix_time(known: float | Span | None, seen: float | None, what: str) -> float:
    if seen is None:
        raise Rejected(f"{what} is None")
    if isinstance(known, Span):
        if not known.lo <= seen <= known.hi:
            raise Rejected(f"{what} {seen!r} outside [{known.lo!r}, {known.hi!r}]")
        return seen
    if known != seen:
        raise Rejected(f"{what} {seen!r}, expected {known!r}")
    return seen


def _info(alo: Alo, info: Info, created: bool | None, now: Span, ctx: Context) -> Alo:
    if info.status != alo.status:
        raise Rejected(f"status {info.status}, expected {alo.status}")
    if info.created is not created:
        raise Rejected(f"created={info.created}, expected {created}")
    if (
        info.operation != alo.operation
        or tuple(sorted(info.metadata.items())) != alo.metadata
        or tuple(info.result_urls) != alo.result_urls
        or info.deadline != alo.deadline
    ):
        raise Rejected("operation, metadata, result URLs or deadline differ from the start")
    created_at = _fix_time(alo.created_at, info.created_at, "created_at")
    alo = replace(alo, created_at=created_at)
    # settled_at
    if not alo.terminal:
        if info.settled_at is not None:
            raise Rejected(f"settled_at {info.settled_at!r} on a {alo.status} ALO")
    elif alo.by == DEADLINE:
        assert alo.deadline is not None
        expected = max(alo.deadline, created_at)
        if info.settled_at != expected:
            raise Rejected(f"TIMED_OUT settled_at {info.settled_at!r}, not {expected!r}")
    else:
        settled_at = _fix_time(alo.settled_at, info.settled_at, "settled_at")
        if settled_at < created_at or settled_at > now.hi:
            raise Rejected(f"settled_at {settled_at!r} before creation or after the reply")
        alo = replace(alo, settled_at=settled_at)
    alo = _attempt(alo, info.attempt)
    # failure
    if alo.status in (RUNNING, PAUSED, COMPLETED):
        if info.failure is not None:
            raise Rejected(f"a failure on a {alo.status} ALO")
    else:
        if info.failure is None:
            raise Rejected(f"no failure on a {alo.status} ALO")
        alo = _failure(alo, info.failure, ctx)
    # result metadata
    if alo.status == COMPLETED:
        if info.result_metadata is None:
            raise Rejected("no result_metadata on a COMPLETED ALO")
        seen = canon(info.result_metadata)
        if alo.result_metadata is UNSEEN:
            alo = replace(alo, result_metadata=seen)
        elif seen != alo.result_metadata:
            raise Rejected(f"result_metadata {info.result_metadata!r} changed")
    elif info.result_metadata is not None:
        raise Rejected(f"result_metadata on a {alo.status} ALO")
    return alo


def _attempt(alo: Alo, seen: int) -> Alo:
    if alo.operation is None:
        if seen != 0:
            raise Rejected(f"attempt {seen} on an external promise")
        return alo
    if alo.terminal and alo.attempt_exact:
        if seen != alo.attempt:
            raise Rejected(f"attempt {seen} of a settled ALO, shown before as {alo.attempt}")
        return alo
    if seen < alo.attempt or seen < 1:
        raise Rejected(f"attempt {seen} after attempt {alo.attempt}")
    return replace(alo, attempt=seen, attempt_exact=alo.terminal)


def _failure(alo: Alo, failure: FailureView, ctx: Context) -> Alo:
    seen = canon(failure)
    if alo.failure is not UNSEEN:
        if seen != alo.failure:
            raise Rejected(f"failure {failure.message!r} ({failure.type}) changed")
        return alo
    if alo.by == HANDLER:
        assert alo.operation is not None
        attempt = ctx.oracle.attempt_of_failure(alo.id, alo.operation, failure)
        if attempt is None:
            raise Rejected(f"no handler attempt fails with {failure.message!r} ({failure.type})")
        alo = _handler_attempt(alo, attempt)
    return replace(alo, failure=seen)


def _result(alo: Alo, value: Any, ctx: Context) -> Alo:
    seen = canon(value)
    if alo.result is not UNSEEN:
        if seen != alo.result:
            raise Rejected(f"result {value!r} is not the one stored")
        return alo
    assert alo.operation is not None
    attempt = ctx.oracle.attempt_of_result(alo.id, alo.operation, value)
    if attempt is None:
        raise Rejected(f"no handler attempt returns {value!r}")
    return replace(_handler_attempt(alo, attempt), result=seen)


def _handler_attempt(alo: Alo, attempt: int) -> Alo:
    """The attempt whose outcome settled the ALO is the last one begun."""
    if alo.attempt_exact:
        if attempt != alo.attempt:
            raise Rejected(f"settled by attempt {attempt}, but its attempt is {alo.attempt}")
        return alo
    if attempt < alo.attempt:
        raise Rejected(f"settled by attempt {attempt} after attempt {alo.attempt} was seen")
    return replace(alo, attempt=attempt, attempt_exact=True)
