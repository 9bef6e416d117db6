"""What the routes share: the open AloSystem, the long-poll cap, and the shutdown signal."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Callable
from typing import Any

from litestar import Request

from alo_actor._system import AloSystem

AnyRequest = Request[Any, Any, Any]

logger = logging.getLogger("alo_actor.http")


class Service:
    """Opens the system at startup and closes it at shutdown (``app.state.service``).

    Long polls register their task here so that a shutdown can end them at once
    instead of holding the server open for the rest of their wait.
    """

    def __init__(
        self,
        open_system: Callable[[], AloSystem],
        *,
        setup: Callable[[AloSystem], Any] | None = None,
        max_wait: float = 60.0,
        expose_stack_traces: bool = False,
    ) -> None:
        self._open_system = open_system
        self._setup = setup
        self.max_wait = max_wait
        self.expose_stack_traces = expose_stack_traces
        self._system: AloSystem | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._polls: set[asyncio.Task[Any]] = set()
        self._interrupted: set[asyncio.Task[Any]] = set()
        self.stopping = False

    @property
    def system(self) -> AloSystem:
        system = self._system
        if system is None:
            raise RuntimeError("the ALO system is not open (the app has not started)")
        return system

    async def open(self) -> None:
        """Open the system (and run the user's setup) off the event loop: both block."""
        self._loop = asyncio.get_running_loop()
        system = await asyncio.to_thread(self._open_system)
        try:
            if self._setup is not None:
                outcome = await asyncio.to_thread(self._setup, system)
                if inspect.isawaitable(outcome):
                    await outcome
        except BaseException:
            await asyncio.to_thread(system.close)
            raise
        self._system = system
        # A file that cannot be written (opened read-only, say) is told at once, and
        # /readyz says so before any client's write fails on it.
        fault = await asyncio.to_thread(system.log.probe)
        if fault is not None:
            logger.warning("%s: reads are answered, writes get 503", fault)

    async def close(self) -> None:
        """End the remaining long polls, then close the system (idempotent)."""
        self._interrupt_polls()
        system, self._system = self._system, None
        if system is not None:
            await asyncio.to_thread(system.close)

    async def unwritable(self) -> str | None:
        """Why the service cannot take writes now (its log cannot be written, or it is
        shutting down), or None. A log that failed a write is tried again here (a
        write that means nothing), so readiness returns once the cause is gone even
        while no client writes."""
        if self.stopping:
            return "the server is shutting down"
        log = self.system.log
        fault = log.unwritable
        if fault is not None:
            fault = await asyncio.to_thread(log.probe)
        return None if fault is None else str(fault)

    def begin_shutdown(self) -> None:
        """Make every long poll answer now; safe to call from any thread or a signal handler."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        # RuntimeError: the loop closed between the check and the call.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._interrupt_polls)

    def _interrupt_polls(self) -> None:
        self.stopping = True
        for task in self._polls:
            self._interrupted.add(task)
            task.cancel()

    def track_poll(self, task: asyncio.Task[Any]) -> bool:
        """Let a shutdown interrupt ``task``'s long poll; False if one has begun already."""
        if self.stopping:
            return False
        self._polls.add(task)
        return True

    @property
    def open_polls(self) -> int:
        """Long polls waiting now (for metrics)."""
        return len(self._polls)

    def untrack_poll(self, task: asyncio.Task[Any]) -> None:
        self._polls.discard(task)
        self._interrupted.discard(task)

    def interrupted(self, task: asyncio.Task[Any]) -> bool:
        """Whether ``task`` was cancelled by the shutdown (not by anything else)."""
        return task in self._interrupted


def service_of(request: AnyRequest) -> Service:
    """The app's Service (put in its state by ``create_app``).

    Routes take the request rather than Litestar's ``state`` argument: that one is
    rebuilt and validated on every call, a tenth of a small request's cost.
    """
    service: Service = request.app.state.service
    return service
