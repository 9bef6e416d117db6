"""AloSystem: the embeddable engine (sync API; ``system.aio`` is the asyncio twin)."""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Mapping
from types import TracebackType
from typing import Any

import pykka

from actors import Deliver, EntityHost, SyncReply
from alo_actor._aio import AsyncAloSystem
from alo_actor._clock import Clock, SystemClock
from alo_actor._errors import SystemClosed
from alo_actor._events import TERMINAL_EVENT_NAMES, AloEvent
from alo_actor._handlers import Handler, RetryPolicy, Runner, registration
from alo_actor._machine import AloState, Command, Pause, Read, Resume
from alo_actor._model import AloInfo, Failure
from alo_actor._requests import (
    cancel_command,
    complete_command,
    fail_command,
    info_of,
    result_of,
    start_command,
)
from alo_actor._supervisor import INFO, RESULT, AloBehavior, Ask, Recovered, Register, Unwait
from alo_actor._timers import Timers
from alo_actor._validate import LOOPBACK_HOSTS, check_id, check_timeout
from eventlog import Durability, EventLog

_SLICE = 0.5  # how often a blocked caller checks that the system is still open


class AloSystem:
    """Durable promises in one SQLite log: open it, register handlers, start ALOs."""

    def __init__(
        self,
        log: EventLog,
        *,
        clock: Clock | None = None,
        workers: int = 16,
        allowed_callback_hosts: Collection[str] | None = None,
    ) -> None:
        self.log = log
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.allowed_callback_hosts = (
            frozenset(h.lower() for h in allowed_callback_hosts)
            if allowed_callback_hosts is not None
            else None
        )
        self._runner = Runner(workers)
        self._timers = Timers(self.clock)
        self._behavior = AloBehavior(self.clock, self._runner, self._timers)
        self._closed = False
        self._close_lock = threading.Lock()
        host_ref: pykka.ActorRef[EntityHost[AloState, AloEvent]] = EntityHost.start(
            log, self._behavior
        )
        self._ref = host_ref
        self._tell = host_ref.tell
        self.aio = AsyncAloSystem(self)
        self._recover()

    @classmethod
    def open(
        cls,
        path: str = "alo.db",
        *,
        clock: Clock | None = None,
        durability: Durability = "normal",
        workers: int = 16,
        allowed_callback_hosts: Collection[str] | None = None,
    ) -> AloSystem:
        """Open (creating if needed) the log at ``path`` and restore every ALO in it.

        ``":memory:"`` gives a throwaway log. ``allowed_callback_hosts`` restricts
        result URLs to those host names (``"loopback"`` means 127.0.0.1, localhost, ::1).
        """
        hosts = allowed_callback_hosts
        if hosts is not None:
            expanded = set(hosts)
            if "loopback" in expanded:
                expanded.discard("loopback")
                expanded |= LOOPBACK_HOSTS
            hosts = expanded
        log = EventLog.open(path, durability=durability)
        try:
            return cls(log, clock=clock, workers=workers, allowed_callback_hosts=hosts)
        except BaseException:
            log.close()
            raise

    def _recover(self) -> None:
        ids = self.log.stream_ids(where_type_not_in=TERMINAL_EVENT_NAMES)
        states: list[AloState] = []
        for alo_id in ids:
            state = self._behavior.replay(alo_id, self.log.read_stream(alo_id))
            if state is not None and not state.terminal:
                states.append(state)
        reply = SyncReply()
        self._tell(Recovered(states, reply))
        reply.result(timeout=60)

    # -- plumbing ----------------------------------------------------------------

    def send(self, message: Any) -> None:
        """Tell the supervisor (raises SystemClosed once the system is closed)."""
        if self._closed:
            raise SystemClosed("the ALO system is closed")
        try:
            self._tell(message)
        except pykka.ActorDeadError as exc:
            raise SystemClosed("the ALO system is closed") from exc

    def _ask(self, alo_id: str, command: Command, want: int, timeout: float | None = None) -> Any:
        reply = SyncReply()
        self.send(Deliver(alo_id, Ask(command, reply, want)))
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = _SLICE if deadline is None else min(_SLICE, deadline - time.monotonic())
            if reply.wait(wait):
                if reply.error is not None:
                    raise reply.error
                return reply.value
            if deadline is not None and time.monotonic() >= deadline:
                self.send(Unwait(alo_id, reply))
                raise TimeoutError(f"ALO {alo_id!r} did not settle within {timeout} s")
            if self._closed:
                raise SystemClosed("the ALO system was closed while waiting")

    @property
    def registered_operations(self) -> Collection[str]:
        return self._behavior.registry.keys()

    # -- the API -----------------------------------------------------------------

    def register(self, operation: str, handler: Handler, retry: RetryPolicy | None = None) -> None:
        """Run ``handler(ctx, input)`` for ALOs of ``operation`` (sync or ``async def``).

        ALOs of this operation left RUNNING by an earlier process start a new attempt.
        """
        reg = registration(operation, handler, retry)
        reply = SyncReply()
        self.send(Register(reg, reply))
        reply.result(timeout=60)

    def start(
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
        """Create the ALO, or return it unchanged if this very start was made before."""
        command = start_command(
            id,
            operation,
            input,
            metadata,
            result_urls,
            timeout,
            deadline,
            now=self.clock.now(),
            registered=self._behavior.registry,
            allowed_hosts=self.allowed_callback_hosts,
        )
        return info_of(self._ask(id, command, INFO))

    def get_info(self, id: str) -> AloInfo:
        return info_of(self._ask(check_id(id), Read(), INFO))

    def get_result(self, id: str, timeout: float | None = None) -> Any:
        """The result, waiting up to ``timeout`` s (None: for ever) for the ALO to settle.

        Raises OperationFailed / OperationCancelled / OperationTimedOut for those
        outcomes and the built-in TimeoutError if it does not settle in time.
        """
        timeout = check_timeout(timeout)
        return result_of(self._ask(check_id(id), Read(), RESULT, timeout))

    def complete(
        self, id: str, result: Any = None, result_metadata: Mapping[str, str] | None = None
    ) -> AloInfo:
        return info_of(self._ask(check_id(id), complete_command(result, result_metadata), INFO))

    def fail(
        self,
        id: str,
        message: str | Failure,
        *,
        type: str | None = None,
        details: Any = None,
        stack_trace: str | None = None,
    ) -> AloInfo:
        command = fail_command(message, type, details, stack_trace)
        return info_of(self._ask(check_id(id), command, INFO))

    def cancel(self, id: str, reason: str | None = None) -> AloInfo:
        return info_of(self._ask(check_id(id), cancel_command(reason), INFO))

    def pause(self, id: str) -> AloInfo:
        return info_of(self._ask(check_id(id), Pause(), INFO))

    def resume(self, id: str) -> AloInfo:
        return info_of(self._ask(check_id(id), Resume(), INFO))

    # -- lifetime ----------------------------------------------------------------

    def close(self) -> None:
        """Finish what was acknowledged or in flight, then close the log. Idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._timers.close()
        self._quiesce(timeout=10.0)
        self._ref.stop(block=True, timeout=30)
        self._runner.close()
        self.log.close()

    def _quiesce(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                busy = self._ref.proxy().busy_count().get(timeout=5)
            except pykka.ActorDeadError:
                return
            if busy == 0:
                return
            time.sleep(0.001)

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> AloSystem:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
