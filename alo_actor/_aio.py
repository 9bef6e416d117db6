"""``system.aio``: every verb as an awaitable that never blocks the event loop.

Callers' futures are resolved through the loop's bridge (``call_soon_threadsafe``,
batched), never by awaiting a pykka future; requests made in one loop iteration
travel to the supervisor as one message.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from actors import Deliver, DeliverMany, Gather, ReplyFuture, bridge_for
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
from alo_actor._errors import InvalidArgument, SystemClosed
from alo_actor._handlers import Handler, RetryPolicy
from alo_actor._machine import AloState, Command, Pause, Read, Resume, Start
from alo_actor._model import AloInfo, Failure
from alo_actor._requests import (
    cancel_command,
    complete_command,
    fail_command,
    info_of,
    result_of,
    start_command,
)
from alo_actor._supervisor import INFO, RESULT, SUBSCRIBE, Ask, Unwait
from alo_actor._validate import check_id, check_timeout
from alo_actor.readmodel import AloPage, StatusFilter, TimeBound

if TYPE_CHECKING:
    from alo_actor._system import AloSystem


class _Outbox:
    """Requests of one loop iteration, sent together when the loop next runs callbacks."""

    __slots__ = ("asks", "bridge", "ids", "loop", "system")

    def __init__(self, system: AloSystem, loop: asyncio.AbstractEventLoop) -> None:
        self.system = system
        self.loop = weakref.ref(loop)  # weak: see AsyncAloSystem._outboxes
        self.bridge = bridge_for(loop)
        self.ids: list[str] = []
        self.asks: list[Ask] = []

    def put(self, alo_id: str, ask: Ask, loop: asyncio.AbstractEventLoop) -> None:
        if not self.ids:
            loop.call_soon(self.flush)
        self.ids.append(alo_id)
        self.asks.append(ask)

    def put_many(self, ids: list[str], asks: list[Ask], loop: asyncio.AbstractEventLoop) -> None:
        """``put`` for each of a batch's asks (``asks[i]`` for ``ids[i]``), at once."""
        if not self.ids:
            loop.call_soon(self.flush)
        self.ids += ids
        self.asks += asks

    def flush(self) -> None:
        ids, asks = self.ids, self.asks
        self.ids, self.asks = [], []
        message = Deliver(ids[0], asks[0]) if len(ids) == 1 else DeliverMany(ids, asks)
        try:
            self.system._send(message)
        except SystemClosed as exc:
            for ask in asks:
                if ask.reply is not None:
                    ask.answer(None, exc)


# A wait's timeout ran out: the result its timer gives the future (never escapes).
# A value, not an exception: an exception set on the future would hold the awaiting
# frame in its traceback, and that frame the future, a cycle for the garbage
# collector to find on every wait that runs out (a long poll's 408, say).
_EXPIRED: Any = object()


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_result(_EXPIRED)


class AsyncAloSystem:
    """The asyncio face of an AloSystem (``system.aio``): every verb of AloSystem as a
    coroutine that returns and raises what the verb does, without blocking the loop.

    If a caller is cancelled, a command it sent still runs; only its answer is
    dropped (a wait for an outcome is withdrawn).
    """

    def __init__(self, system: AloSystem) -> None:
        self._system = system
        # Weak: a closed loop (every test, every asyncio.run) must not be kept alive.
        self._outboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Outbox] = (
            weakref.WeakKeyDictionary()
        )
        # The last loop's outbox, checked first: a weak-keyed lookup builds a weakref
        # per call, which showed in profiles of every awaitable verb.
        self._last: _Outbox | None = None

    def _outbox(self, loop: asyncio.AbstractEventLoop) -> _Outbox:
        last = self._last
        if last is not None and last.loop() is loop:
            return last
        outbox = self._outboxes.get(loop)
        if outbox is None:
            outbox = self._outboxes[loop] = _Outbox(self._system, loop)
        self._last = outbox
        return outbox

    def _send(self, alo_id: str, command: Command, want: int) -> ReplyFuture:
        """Queue the request; its answer resolves the returned future on this loop (the
        future is the request's reply).

        Not a coroutine: a verb awaits the future itself, so a call costs one
        coroutine, not two (coroutines and their frames are what the garbage
        collector walks while a thousand calls are in flight).
        """
        if self._system.closed:
            raise SystemClosed("the ALO system is closed")
        loop = asyncio.get_running_loop()
        outbox = self._outbox(loop)
        future = outbox.bridge.future()
        outbox.put(alo_id, Ask(command, future, want), loop)
        return future

    def _ask(self, alo_id: str, command: Command, want: int) -> asyncio.Future[Any]:
        """The future answer to a request that does not wait for an outcome.

        If the caller is cancelled, the request still runs; its answer is dropped.
        """
        return self._send(alo_id, command, want)

    async def _wait(self, alo_id: str, timeout: float | None) -> AloState:
        """The ALO's terminal state, waiting up to ``timeout`` s for it."""
        future = self._send(alo_id, Read(), RESULT)
        # A timer on the future itself, not asyncio.wait_for: that wraps the wait in a
        # second future and callbacks, a tenth of what a long poll costs the server.
        timer = None if timeout is None else future.get_loop().call_later(timeout, _expire, future)
        try:
            state: AloState = await future
        except asyncio.CancelledError:
            # The caller gave up (an HTTP client went away): stop waiting for it.
            if not self._system.closed:
                self._system._send(Unwait(alo_id, future))
            raise
        finally:
            if timer is not None:
                timer.cancel()
        if state is not _EXPIRED:
            return state
        if not self._system.closed:
            self._system._send(Unwait(alo_id, future))
            # The timeout bounds the wait for the ALO to settle, not the round trip
            # to the supervisor: one already settled (timeout=0 included) answers.
            state, _ = await self._ask(alo_id, Read(), INFO)
            if state.terminal:
                return state
        raise TimeoutError(f"ALO {alo_id!r} did not settle within {timeout} s")

    def _gather(self, plan: Plan, want: int) -> tuple[ReplyFuture, Gather]:
        """Queue the plan's asks (they travel as one message); the future resolves to
        (values, errors) once every one is answered. Also the Gather they answer."""
        if self._system.closed:
            raise SystemClosed("the ALO system is closed")
        loop = asyncio.get_running_loop()
        outbox = self._outbox(loop)
        future = outbox.bridge.future()
        gather = Gather(len(plan.ids), future)
        if plan.ids:
            outbox.put_many(plan.ids, batch_asks(plan, gather, want), loop)
        return future, gather

    async def start_many(
        self, starts: Iterable[AloStart | Sequence[Any]]
    ) -> list[AloInfo | BaseException]:
        """``AloSystem.start_many``: for each start, its info or its error, in order."""
        system = self._system
        plan = plan_starts(
            starts,
            now=system.clock.now(),
            registered=system.registered_operations,
            allowed_hosts=system.allowed_callback_hosts,
        )
        future, _ = self._gather(plan, INFO)
        values, errors = await future
        return infos(plan, values, errors)

    async def complete_many(
        self, completions: Iterable[AloCompletion | Sequence[Any]]
    ) -> list[AloInfo | BaseException]:
        """``AloSystem.complete_many``: for each completion, its info or its error."""
        plan = plan_completions(completions)
        future, _ = self._gather(plan, INFO)
        values, errors = await future
        return infos(plan, values, errors)

    async def get_results(self, ids: Iterable[str], timeout: float | None = None) -> list[Any]:
        """``AloSystem.get_results``: for each id, its result or the error ``get_result``
        would raise, waiting up to ``timeout`` s for them all."""
        timeout = check_timeout(timeout)
        plan = plan_reads(ids)
        states, errors = await self._settled_many(plan, timeout)
        return outcomes(plan, states, errors, timeout)

    async def _settled_many(
        self, plan: Plan, timeout: float | None
    ) -> tuple[list[AloState | None], list[BaseException | None]]:
        """The plan's ALOs' states once all are settled, or after ``timeout`` s (then
        those not settled are as they are), and each one's error (NotFound).

        Private: for the HTTP batch route, which answers results with their metadata.
        """
        future, gather = self._gather(plan, RESULT)
        timer = None if timeout is None else future.get_loop().call_later(timeout, _expire, future)
        try:
            answer = await future
        except asyncio.CancelledError:
            if not self._system.closed:
                self._system._send(withdrawal(plan, gather))
            raise
        finally:
            if timer is not None:
                timer.cancel()
        if answer is not _EXPIRED:
            states, errors = answer
            return states, errors
        self._system._send(withdrawal(plan, gather))
        reading, _ = self._gather(plan, INFO)
        read, errors = await reading
        return [None if value is None else value[0] for value in read], errors

    async def settle(self, timeout: float = 30.0) -> None:
        """``AloSystem.settle`` on a worker thread (raises its TimeoutError)."""
        await asyncio.to_thread(self._system.settle, timeout)

    async def register(
        self, operation: str, handler: Handler, retry: RetryPolicy | None = None
    ) -> None:
        """``AloSystem.register`` on a worker thread."""
        await asyncio.to_thread(self._system.register, operation, handler, retry)

    async def start(
        self,
        id: str,
        operation: str | None = None,
        input: Any = None,
        *,
        metadata: Mapping[str, str] | None = None,
        result_urls: list[str] | None = None,
        timeout: float | None = None,
        deadline: float | None = None,
    ) -> AloInfo:
        """``AloSystem.start``: the ALO's info, ``created`` saying whether this call
        created it; raises AlreadyExists, NotFound or InvalidArgument as it does."""
        system = self._system
        command = start_command(
            id,
            operation,
            input,
            metadata,
            result_urls,
            timeout,
            deadline,
            now=system.clock.now(),
            registered=system.registered_operations,
            allowed_hosts=system.allowed_callback_hosts,
        )
        return info_of(await self._ask(id, command, INFO))

    async def start_with(self, command: Start) -> tuple[AloState, bool | None]:
        """Run a Start made by ``start_command``; returns the stored state and whether
        this call created it.

        Not part of the public API: for the Nexus handler, whose start carries a Nexus
        callback and whose answer depends on the stored callback's window.
        """
        answer: tuple[AloState, bool | None] = await self._ask(command.id, command, INFO)
        return answer

    async def get_info(self, id: str) -> AloInfo:
        """``AloSystem.get_info``: the ALO's info; raises NotFound or InvalidArgument."""
        return info_of(await self._ask(check_id(id), Read(), INFO))

    async def get_result(self, id: str, timeout: float | None = None) -> Any:
        """``AloSystem.get_result``: the result, waiting up to ``timeout`` s (None: for
        ever) on the loop; raises OperationFailed (and its subclasses) for an
        unsuccessful outcome, TimeoutError, NotFound or InvalidArgument."""
        timeout = check_timeout(timeout)
        return result_of(await self._wait(check_id(id), timeout))

    async def _settled(self, id: str, timeout: float | None = None) -> AloState:
        """The ALO's final state, waiting up to ``timeout`` s for it to settle.

        Private: for the HTTP service, whose result route answers with the result
        and the info together, from one request to the supervisor. Raises what
        ``get_result`` raises for a missing ALO or a wait that runs out, but returns
        a failed, cancelled or timed-out state rather than raising.
        """
        return await self._wait(check_id(id), check_timeout(timeout))

    async def complete(
        self, id: str, result: Any = None, result_metadata: Mapping[str, str] | None = None
    ) -> AloInfo:
        """``AloSystem.complete``: the ALO's info; raises NotFound or InvalidArgument."""
        command = complete_command(result, result_metadata)
        return info_of(await self._ask(check_id(id), command, INFO))

    async def fail(
        self,
        id: str,
        message: str | Failure,
        *,
        type: str | None = None,
        details: Any = None,
        stack_trace: str | None = None,
    ) -> AloInfo:
        """``AloSystem.fail``: the ALO's info; raises NotFound or InvalidArgument."""
        command = fail_command(message, type, details, stack_trace)
        return info_of(await self._ask(check_id(id), command, INFO))

    async def cancel(self, id: str, reason: str | None = None) -> AloInfo:
        """``AloSystem.cancel``: the ALO's info; raises NotFound or InvalidArgument."""
        return info_of(await self._ask(check_id(id), cancel_command(reason), INFO))

    async def pause(self, id: str) -> AloInfo:
        """``AloSystem.pause``: the ALO's info; raises NotFound or InvalidArgument."""
        return info_of(await self._ask(check_id(id), Pause(), INFO))

    async def subscribe(self, id: str, callback: Callable[[AloInfo], object]) -> AloInfo:
        """``callback(info)`` once the outcome is durable (see ``AloSystem.subscribe``);
        the ALO's info now. Raises NotFound or InvalidArgument."""
        if not callable(callback):
            raise InvalidArgument("callback must be callable: callback(info)")
        if self._system.closed:
            raise SystemClosed("the ALO system is closed")
        loop = asyncio.get_running_loop()
        outbox = self._outbox(loop)
        future = outbox.bridge.future()
        outbox.put(check_id(id), Ask(Read(), future, SUBSCRIBE, callback), loop)
        return info_of(await future)

    async def resume(self, id: str) -> AloInfo:
        """``AloSystem.resume``: the ALO's info; raises NotFound or InvalidArgument."""
        return info_of(await self._ask(check_id(id), Resume(), INFO))

    async def purge(
        self,
        settled_before: TimeBound,
        status: StatusFilter = None,
        archive: str | os.PathLike[str] | None = None,
    ) -> int:
        """``AloSystem.purge`` on a worker thread: how many ALOs were deleted."""
        return await asyncio.to_thread(self._system.purge, settled_before, status, archive)

    # Last: below it, mypy would take `list` in annotations for this method.
    async def list(
        self,
        status: StatusFilter = None,
        *,
        operation: str | None = None,
        metadata: Mapping[str, str] | None = None,
        created_after: TimeBound = None,
        created_before: TimeBound = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> AloPage:
        """``AloSystem.list``, read on a worker thread so the loop never waits on SQLite:
        a page of infos; raises InvalidArgument for a bad filter or cursor."""
        return await asyncio.to_thread(
            self._system.list,
            status,
            operation=operation,
            metadata=metadata,
            created_after=created_after,
            created_before=created_before,
            limit=limit,
            cursor=cursor,
        )
