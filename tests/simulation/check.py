"""The checker: is a recorded history of calls explained by the reference model?

Per ALO id (commands on different ids do not interact), it searches for a
linearization: an order of the calls that respects real time (a call answered
before another began comes first), in which each answer is one the model allows,
with handlers settling ALOs on their own between any two calls. A call without an
answer (its process was killed, or the system closed under it) may have taken
effect, with any answer, or not at all.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import msgspec

from tests.simulation.answers import allowed, explain
from tests.simulation.model import Alo, Context, Span, handler_settles
from tests.simulation.protocol import AnyCommand, Response


class Call(msgspec.Struct, frozen=True):
    """One call as the client saw it; ``inv``/``res`` are monotonic nanoseconds."""

    lane: str
    cmd: AnyCommand
    inv: int
    res: int  # for a call without an answer: the moment it had ended at the latest
    now_lo: float  # the system's clock before the call
    now_hi: float  # and after it (or at ``res``)
    response: Response | None  # None: no answer


class Problem(NamedTuple):
    alo_id: str
    message: str


def check(calls: Iterable[Call], ctx: Context) -> list[Problem]:
    """Every id whose calls no linearization explains, with what went wrong."""
    by_id: dict[str, list[Call]] = defaultdict(list)
    for call in calls:
        by_id[call.cmd.id].append(call)
    problems: list[Problem] = []
    for alo_id in sorted(by_id):
        why = linearize(by_id[alo_id], ctx)
        if why is not None:
            problems.append(Problem(alo_id, why))
    return problems


class _Search:
    def __init__(self, calls: Sequence[Call], ctx: Context) -> None:
        self.calls = sorted(calls, key=lambda c: (c.inv, c.res))
        self.ctx = ctx
        self.full = (1 << len(self.calls)) - 1
        self.failed: set[tuple[int, Alo | None, float]] = set()
        # The furthest the search got: (calls placed, mask, state, clock floor).
        self.deepest: tuple[int, int, Alo | None, float] = (-1, 0, None, -math.inf)

    def run(self) -> bool:
        return self.go(0, None, -math.inf)

    def go(self, mask: int, alo: Alo | None, floor: float) -> bool:
        if mask == self.full:
            return True
        key = (mask, alo, floor)
        if key in self.failed:
            return False
        placed = mask.bit_count()
        if placed > self.deepest[0]:
            self.deepest = (placed, mask, alo, floor)
        calls = self.calls
        pending = [i for i in range(len(calls)) if not mask >> i & 1]
        first_end = min(calls[i].res for i in pending)
        for i in pending:
            call = calls[i]
            if call.inv > first_end:
                break  # another call had answered before this one began
            bit = 1 << i
            now = Span(max(call.now_lo, floor), call.now_hi)
            for when, after in allowed(alo, call.cmd, now, call.response, self.ctx):
                if self.go(mask | bit, after, when.lo):
                    return True
            if call.response is None and self.go(mask | bit, alo, floor):
                return True  # it never took effect
        for after in handler_settles(alo, floor):
            if self.go(mask, after, floor):
                return True
        self.failed.add(key)
        return False

    def report(self) -> str:
        placed, mask, alo, floor = self.deepest
        lines = [f"no order of these {len(self.calls)} calls fits the model:"]
        t0 = self.calls[0].inv
        for i, call in enumerate(self.calls):
            mark = "ok " if mask >> i & 1 else "   "
            lines.append(f"  {mark}{describe(call, t0)}")
        lines.append(f"  deepest: {placed} placed; model state then: {alo!r} (clock >= {floor})")
        first_end = min((c.res for i, c in enumerate(self.calls) if not mask >> i & 1), default=0)
        for i, call in enumerate(self.calls):
            if mask >> i & 1 or call.inv > first_end:
                continue
            now = Span(max(call.now_lo, floor), call.now_hi)
            for branch in explain(alo, call.cmd, now, call.response, self.ctx):
                if not branch.ok:
                    lines.append(f"  call {i}: {branch.reason}")
        return "\n".join(lines)


def linearize(calls: Sequence[Call], ctx: Context) -> str | None:
    """None if some linearization of ``calls`` (all on one id) fits; else why not."""
    search = _Search(calls, ctx)
    if search.run():
        return None
    return search.report()


def describe(call: Call, t0: int = 0) -> str:
    cmd = msgspec.structs.asdict(call.cmd)
    del cmd["id"]
    args = ", ".join(f"{k}={v!r}" for k, v in cmd.items())
    answer = "no answer" if call.response is None else _answer(call.response)
    return (
        f"[{(call.inv - t0) / 1e6:9.3f} .. {(call.res - t0) / 1e6:9.3f} ms, clock "
        f"{call.now_lo:g}..{call.now_hi:g}] {call.lane}: {type(call.cmd).__name__}({args}) "
        f"-> {answer}"
    )


def _answer(response: Response) -> str:
    fields = msgspec.structs.asdict(response)
    failure = fields.get("failure")
    if failure is not None:
        fields["failure"] = {"message": failure.message, "type": failure.type}
    return f"{type(response).__name__}({fields})"
