"""The simulation's handlers: each attempt's outcome is a function of (seed, id, attempt).

So the model can judge a handler's result or failure without knowing when it ran:
``attempt_of_result`` and ``attempt_of_failure`` are the oracle ``model.Context`` asks.
"""

from __future__ import annotations

import asyncio
import random
import re
from dataclasses import dataclass
from typing import Any

from alo_actor import AloSystem, HandlerContext, RetryPolicy
from tests.simulation.protocol import FailureView

SYNC_OPERATION = "flaky"
ASYNC_OPERATION = "aflaky"
OPERATIONS = frozenset({SYNC_OPERATION, ASYNC_OPERATION})
MAX_ATTEMPTS = 3
RETRY = RetryPolicy(
    max_attempts=MAX_ATTEMPTS,
    initial_interval=1.0,
    backoff_coefficient=2.0,
    maximum_interval=4.0,
    non_retryable_error_types=("Fatal",),
)

OK, AGAIN, FATAL = "ok", "again", "fatal"
_MESSAGE = re.compile(r"(?P<id>\S+) attempt (?P<attempt>[0-9]+)")


class Flaky(Exception):
    """A retryable failure of one attempt."""


class Fatal(Exception):
    """A failure that is not retried."""


@dataclass(frozen=True)
class Handlers:
    """Handlers whose attempts succeed, fail, or fail for good, as the seed says."""

    seed: int
    p_again: float = 0.35
    p_fatal: float = 0.1
    max_delay: float = 0.004  # real seconds an attempt takes at most

    def _rng(self, alo_id: str, attempt: int) -> random.Random:
        return random.Random(f"{self.seed}/{alo_id}/{attempt}")

    def outcome(self, alo_id: str, attempt: int) -> str:
        r = self._rng(alo_id, attempt).random()
        if r < self.p_fatal:
            return FATAL
        if r < self.p_fatal + self.p_again:
            return AGAIN
        return OK

    def delay(self, alo_id: str, attempt: int) -> float:
        rng = self._rng(alo_id, attempt)
        rng.random()
        return rng.random() * self.max_delay

    def _finish(self, operation: str, ctx: HandlerContext) -> Any:
        kind = self.outcome(ctx.id, ctx.attempt)
        if kind == FATAL:
            raise Fatal(f"{ctx.id} attempt {ctx.attempt}")
        if kind == AGAIN:
            raise Flaky(f"{ctx.id} attempt {ctx.attempt}")
        return {"id": ctx.id, "attempt": ctx.attempt, "by": operation}

    def run_sync(self, ctx: HandlerContext, _input: Any) -> Any:
        ctx.cancelled.wait(self.delay(ctx.id, ctx.attempt))  # a stopped attempt ends early
        return self._finish(SYNC_OPERATION, ctx)

    async def run_async(self, ctx: HandlerContext, _input: Any) -> Any:
        await asyncio.sleep(self.delay(ctx.id, ctx.attempt))
        return self._finish(ASYNC_OPERATION, ctx)

    def register(self, system: AloSystem) -> None:
        system.register(SYNC_OPERATION, self.run_sync, retry=RETRY)
        system.register(ASYNC_OPERATION, self.run_async, retry=RETRY)

    # -- the oracle (model.HandlerOracle) --

    def attempt_of_result(self, alo_id: str, operation: str, value: Any) -> int | None:
        if not isinstance(value, dict) or set(value) != {"id", "attempt", "by"}:
            return None
        attempt = value["attempt"]
        if value["id"] != alo_id or value["by"] != operation or not isinstance(attempt, int):
            return None
        return attempt if attempt >= 1 and self.outcome(alo_id, attempt) == OK else None

    def attempt_of_failure(self, alo_id: str, operation: str, failure: FailureView) -> int | None:
        found = _MESSAGE.fullmatch(failure.message)
        if found is None or found["id"] != alo_id:
            return None
        attempt = int(found["attempt"])
        kind = self.outcome(alo_id, attempt)
        if failure.type == "Fatal" and kind == FATAL:
            return attempt
        # The policy is spent: attempt numbers count re-runs after restarts too (§1).
        if failure.type == "Flaky" and kind == AGAIN and attempt >= MAX_ATTEMPTS:
            return attempt
        return None
