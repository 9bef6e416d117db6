"""``system.aio``: every verb as an awaitable that never blocks the event loop.

Callers' futures are resolved through the loop's bridge (``call_soon_threadsafe``,
batched), never by awaiting a pykka future; requests made in one loop iteration
travel to the supervisor as one message.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from actors import Deliver, DeliverMany, Reply, bridge_for
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

    __slots__ = ("bridge", "items", "loop", "system")

    def __init__(self, system: AloSystem, loop: asyncio.AbstractEventLoop) -> None:
        self.system = system
        self.loop = weakref.ref(loop)  # weak: see AsyncAloSystem._outboxes
        self.bridge = bridge_for(loop)
        self.items: list[Deliver] = []

    def put(self, item: Deliver, loop: asyncio.AbstractEventLoop) -> None:
        if not self.items:
            loop.call_soon(self.flush)
        self.items.append(item)

    def flush(self) -> None:
        items, self.items = self.items, []
        message: Any = items[0] if len(items) == 1 else DeliverMany(items)
        try:
            self.system.send(message)
        except SystemClosed as exc:
            for item in items:
                reply = item.message.reply
                if reply is not None:
                    reply(None, exc)


class _Expired(Exception):
    """A wait's timeout ran out (set on its future by the timer; never escapes)."""


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(_Expired())


class AsyncAloSystem:
    """The asyncio face of an AloSystem (``system.aio``)."""

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

    def _send(self, alo_id: str, command: Command, want: int) -> tuple[asyncio.Future[Any], Reply]:
        """Queue the request; its answer resolves the returned future on this loop.

        Not a coroutine: a verb awaits the future itself, so a call costs one
        coroutine, not two (coroutines and their frames are what the garbage
        collector walks while a thousand calls are in flight).
        """
        if self._system.closed:
            raise SystemClosed("the ALO system is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        outbox = self._outbox(loop)
        reply = outbox.bridge.reply_to(future)
        outbox.put(Deliver(alo_id, Ask(command, reply, want)), loop)
        return future, reply

    def _ask(self, alo_id: str, command: Command, want: int) -> asyncio.Future[Any]:
        """The future answer to a request that does not wait for an outcome.

        If the caller is cancelled, the request still runs; its answer is dropped.
        """
        return self._send(alo_id, command, want)[0]

    async def _wait(self, alo_id: str, timeout: float | None) -> AloState:
        """The ALO's terminal state, waiting up to ``timeout`` s for it."""
        future, reply = self._send(alo_id, Read(), RESULT)
        # A timer on the future itself, not asyncio.wait_for: that wraps the wait in a
        # second future and callbacks, a tenth of what a long poll costs the server.
        timer = None if timeout is None else future.get_loop().call_later(timeout, _expire, future)
        try:
            state: AloState = await future
            return state
        except asyncio.CancelledError:
            # The caller gave up (an HTTP client went away): stop waiting for it.
            if not self._system.closed:
                self._system.send(Unwait(alo_id, reply))
            raise
        except _Expired:
            if not self._system.closed:
                self._system.send(Unwait(alo_id, reply))
                # The timeout bounds the wait for the ALO to settle, not the round trip
                # to the supervisor: one already settled (timeout=0 included) answers.
                state, _ = await self._ask(alo_id, Read(), INFO)
                if state.terminal:
                    return state
            raise TimeoutError(f"ALO {alo_id!r} did not settle within {timeout} s") from None
        finally:
            if timer is not None:
                timer.cancel()

    async def settle(self, timeout: float = 30.0) -> None:
        """``AloSystem.settle`` without blocking the event loop."""
        await asyncio.to_thread(self._system.settle, timeout)

    async def register(
        self, operation: str, handler: Handler, retry: RetryPolicy | None = None
    ) -> None:
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
        return info_of(await self._ask(check_id(id), Read(), INFO))

    async def get_result(self, id: str, timeout: float | None = None) -> Any:
        timeout = check_timeout(timeout)
        return result_of(await self._wait(check_id(id), timeout))

    async def settled(self, id: str, timeout: float | None = None) -> AloState:
        """The ALO's final state, waiting up to ``timeout`` s for it to settle.

        Not part of the public API: for the HTTP service, whose result route answers
        with the result and the info together, from one request to the supervisor.
        Raises what ``get_result`` raises for a missing ALO or a wait that runs out,
        but returns a failed, cancelled or timed-out state rather than raising.
        """
        return await self._wait(check_id(id), check_timeout(timeout))

    async def complete(
        self, id: str, result: Any = None, result_metadata: Mapping[str, str] | None = None
    ) -> AloInfo:
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
        command = fail_command(message, type, details, stack_trace)
        return info_of(await self._ask(check_id(id), command, INFO))

    async def cancel(self, id: str, reason: str | None = None) -> AloInfo:
        return info_of(await self._ask(check_id(id), cancel_command(reason), INFO))

    async def pause(self, id: str) -> AloInfo:
        return info_of(await self._ask(check_id(id), Pause(), INFO))

    async def subscribe(self, id: str, callback: Callable[[AloInfo], object]) -> AloInfo:
        """``callback(info)`` once the outcome is durable (see ``AloSystem.subscribe``)."""
        if not callable(callback):
            raise InvalidArgument("callback must be callable: callback(info)")
        if self._system.closed:
            raise SystemClosed("the ALO system is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        outbox = self._outbox(loop)
        reply = outbox.bridge.reply_to(future)
        outbox.put(Deliver(check_id(id), Ask(Read(), reply, SUBSCRIBE, callback)), loop)
        return info_of(await future)

    async def resume(self, id: str) -> AloInfo:
        return info_of(await self._ask(check_id(id), Resume(), INFO))

    async def purge(
        self,
        settled_before: TimeBound,
        status: StatusFilter = None,
        archive: str | os.PathLike[str] | None = None,
    ) -> int:
        """``AloSystem.purge`` on a worker thread."""
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
        """``AloSystem.list``, read on a worker thread so the loop never waits on SQLite."""
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
