"""The batch verbs of ``AloSystem`` (the blocking face): ``start_many``, ``complete_many``
and ``get_results`` (see ``alo_actor._batch``)."""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from actors import DeliverMany, Gather, SyncReply
from alo_actor._batch import (
    AloCompletion,
    AloStart,
    Plan,
    batch_asks,
    infos,
    outcomes,
    plan_completions,
    plan_reads,
    plan_starts,
    withdrawal,
)
from alo_actor._errors import SystemClosed
from alo_actor._model import AloInfo
from alo_actor._supervisor import INFO, RESULT
from alo_actor._validate import check_timeout

if TYPE_CHECKING:
    from alo_actor._clock import Clock

_SLICE = 0.5  # how often a blocked caller checks that the system is still open


class BatchVerbs:
    """Mixed into AloSystem: many ALOs a call, one answer per item, in order."""

    # What the verbs use of the system (AloSystem defines them).
    clock: Clock
    allowed_callback_hosts: frozenset[str] | None
    _closed: bool

    @property
    def registered_operations(self) -> Collection[str]:
        raise NotImplementedError

    def _send(self, message: Any) -> None:
        raise NotImplementedError

    def start_many(
        self, starts: Iterable[AloStart | Sequence[Any]]
    ) -> list[AloInfo | BaseException]:
        """Start every ALO of ``starts`` (AloStart items, or tuples of their fields): for
        each, the info ``start`` returns, or the error it would raise (AlreadyExists,
        NotFound, InvalidArgument), in order. Raises InvalidArgument for a batch that
        is not a sequence of at most 10,000 items, SystemClosed once closed."""
        plan = plan_starts(
            starts,
            now=self.clock.now(),
            registered=self.registered_operations,
            allowed_hosts=self.allowed_callback_hosts,
        )
        values, errors, _ = self._gathered(plan, INFO, None)
        return infos(plan, values, errors)

    def complete_many(
        self, completions: Iterable[AloCompletion | Sequence[Any]]
    ) -> list[AloInfo | BaseException]:
        """Complete every ALO of ``completions`` (AloCompletion items, or tuples of their
        fields): for each, the info ``complete`` returns, or its error, in order.
        Raises as ``start_many`` does."""
        plan = plan_completions(completions)
        values, errors, _ = self._gathered(plan, INFO, None)
        return infos(plan, values, errors)

    def get_results(self, ids: Iterable[str], timeout: float | None = None) -> list[Any]:
        """The results of the ALOs ``ids``, waiting up to ``timeout`` s (None: for ever)
        for all of them to settle: for each, its result, or the error ``get_result``
        would raise (OperationFailed and its kinds, NotFound, TimeoutError for one
        still not settled), in order. Raises as ``start_many`` does."""
        timeout = check_timeout(timeout)
        plan = plan_reads(ids)
        values, errors, gather = self._gathered(plan, RESULT, timeout)
        if values is None:  # the wait ran out: withdraw it, read where each one is
            self._send(withdrawal(plan, gather))
            read, errors, _ = self._gathered(plan, INFO, None)
            assert read is not None
            values = [None if v is None else v[0] for v in read]
        return outcomes(plan, values, errors, timeout)

    def _gathered(
        self, plan: Plan, want: int, timeout: float | None
    ) -> tuple[Any, list[BaseException | None], Gather]:
        """Send the plan's asks as one message; (values, errors, the Gather they answer)
        once every one is answered, or (None, [], the Gather) if ``timeout`` s passed
        first."""
        reply = SyncReply()
        gather = Gather(len(plan.ids), reply)
        if plan.ids:
            self._send(DeliverMany(plan.ids, batch_asks(plan, gather, want)))
        if not self._answered(reply, timeout):
            return None, [], gather
        values, errors = reply.value
        return values, errors, gather

    def _answered(self, reply: SyncReply, timeout: float | None) -> bool:
        """Wait for ``reply`` at most ``timeout`` s (None: as long as it takes); whether
        it came. Raises SystemClosed if the system closes meanwhile."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = _SLICE if deadline is None else min(_SLICE, deadline - time.monotonic())
            if reply.wait(wait):
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            if self._closed:
                raise SystemClosed("the ALO system was closed while waiting")
