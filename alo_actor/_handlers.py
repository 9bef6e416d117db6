"""Handlers: registration, retry policy, the context a handler sees, running attempts.

User code never runs on an actor thread: sync handlers on a worker pool, async
ones on the system's own event loop. An attempt's outcome goes back to the
supervisor as a message.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import logging
import queue
import threading
import traceback
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import msgspec

from alo_actor._errors import InvalidArgument
from alo_actor._model import Failure
from alo_actor._validate import check_metadata, encode_payload


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How failed attempts are retried: exponential backoff on the system's clock.

    ``non_retryable_error_types`` names exception classes (by ``__name__``, or the
    classes themselves) whose attempts fail the ALO at once.
    """

    max_attempts: int = 3
    initial_interval: float = 1.0
    backoff_coefficient: float = 2.0
    maximum_interval: float = 60.0
    non_retryable_error_types: Collection[str | type[BaseException]] = ()

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise InvalidArgument("max_attempts must be at least 1")
        if self.initial_interval < 0 or self.maximum_interval < 0:
            raise InvalidArgument("retry intervals must not be negative")
        if self.backoff_coefficient < 1:
            raise InvalidArgument("backoff_coefficient must be at least 1")

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        interval = self.initial_interval * self.backoff_coefficient ** (attempt - 1)
        return min(interval, self.maximum_interval)

    def retryable(self, error: BaseException) -> bool:
        for kind in self.non_retryable_error_types:
            if isinstance(kind, str):
                if any(k.__name__ == kind for k in type(error).__mro__):
                    return False
            elif isinstance(error, kind):
                return False
        return True

    def retry_at(self, attempt: int, error: BaseException, now: float) -> float | None:
        """When to retry after ``attempt`` failed with ``error``; None to give up."""
        if attempt >= self.max_attempts or not self.retryable(error):
            return None
        return now + self.backoff(attempt)


class HandlerResult(NamedTuple):
    """Return this from a handler to attach result metadata to the result."""

    result: Any
    metadata: Mapping[str, str]


class CancelSignal(threading.Event):
    """The stop signal of one attempt (``ctx.cancelled``): a ``threading.Event`` that is
    also true exactly when it is set.

    A plain Event is always true, so ``if ctx.cancelled:`` would stop every attempt
    at once; here it means what it reads as. ``is_set()``, ``wait(timeout)`` (True
    once set) work as on any Event.
    """

    def __bool__(self) -> bool:
        return self.is_set()


@dataclass(slots=True)
class HandlerContext:
    """What a handler knows of the ALO it works on.

    ``cancelled`` (a ``CancelSignal``: ``if ctx.cancelled:``, ``ctx.cancelled.wait(5)``)
    is set when the ALO is cancelled (or settled by someone else) while the attempt
    runs: sync handlers poll it; an async handler's task is cancelled too.
    """

    id: str
    operation: str
    attempt: int
    metadata: dict[str, str]
    deadline: float | None
    cancelled: CancelSignal = field(default_factory=CancelSignal)


Handler = Callable[[HandlerContext, Any], Any]

_log = logging.getLogger("alo_actor")


@dataclass(frozen=True, slots=True)
class Registration:
    operation: str
    handler: Handler
    retry: RetryPolicy
    is_async: bool


def registration(operation: str, handler: Handler, retry: RetryPolicy | None) -> Registration:
    if not isinstance(operation, str) or not operation:
        raise InvalidArgument("operation must be a non-empty string")
    if not callable(handler):
        raise InvalidArgument("handler must be callable: handler(ctx, input)")
    is_async = inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004
    )
    return Registration(operation, handler, retry or RetryPolicy(), is_async)


class Outcome(NamedTuple):
    """What an attempt ended with: a stored result, or an error."""

    result: msgspec.Raw | None
    result_metadata: dict[str, str]
    error: BaseException | None


def failure_of(error: BaseException) -> Failure:
    """The Failure an exception stands for; its ``details`` attribute, if it has one that
    can be stored, becomes the failure's details (as stored: a decoded copy)."""
    return Failure(
        message=str(error) or type(error).__name__,
        type=type(error).__name__,
        details=_stored(getattr(error, "details", None)),
        stack_trace="".join(traceback.format_exception(error)),
    )


def _stored(value: Any) -> Any:
    """``value`` as the log gives it back, or None if it may not be stored as a failure's
    details (the limits of any input)."""
    try:
        return msgspec.msgpack.decode(encode_payload(value, "details"))
    except InvalidArgument:
        return None


def _outcome_of(value: Any) -> Outcome:
    metadata: dict[str, str] = {}
    if isinstance(value, HandlerResult):
        value, metadata = value.result, check_metadata(value.metadata, "handler result metadata")
    return Outcome(encode_payload(value, "handler result"), metadata, None)


class _Workers:
    """Threads that run submitted functions, started on demand up to ``limit``.

    Leaner than ``ThreadPoolExecutor`` (no Future per task, no semaphore on submit):
    the supervisor submits from its own thread for every attempt, and the executor's
    bookkeeping there cost ~7% of the GIL under load.
    """

    def __init__(self, limit: int, name: str) -> None:
        self._limit = limit
        self._name = name
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._closed = False

    def submit(self, fn: Callable[[], None]) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the worker pool is shut down")
            if self._idle:
                self._idle -= 1
            elif len(self._threads) < self._limit:
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
        self._queue.put(fn)

    def _work(self) -> None:
        get = self._queue.get
        while True:
            fn = get()
            if fn is None:
                return
            fn()
            with self._lock:
                self._idle += 1

    def shutdown(self) -> None:
        """Stop taking work; idle threads end, busy ones end after their task."""
        with self._lock:
            self._closed = True
            count = len(self._threads)
        for _ in range(count):
            self._queue.put(None)


class Runner:
    """Runs attempts: sync handlers on a thread pool, async ones on a loop thread."""

    def __init__(self, workers: int) -> None:
        self._pool = _Workers(workers, "alo-handler")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._busy = 0  # attempts and subscriber calls started but not finished

    @property
    def busy(self) -> int:
        """Attempts and callbacks in progress (zero when the runner is idle)."""
        return self._busy

    def _enter(self) -> None:
        with self._lock:
            self._busy += 1

    def _leave(self, _: object = None) -> None:
        with self._lock:
            self._busy -= 1

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The system's own event loop for async handlers (started on first use)."""
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                self._loop_thread = threading.Thread(target=run, name="alo-async", daemon=True)
                self._loop_thread.start()
                ready.wait(10)
                self._loop = loop
            return self._loop

    def run(
        self,
        reg: Registration,
        ctx: HandlerContext,
        stored_input: msgspec.Raw,
        done: Callable[[Outcome], None],
    ) -> Callable[[], None]:
        """Start an attempt; ``done`` gets its outcome. Returns a function that stops it.

        The input is decoded on the worker, not on the actor thread that calls this.
        """
        if reg.is_async:

            async def call_async() -> Any:
                return await reg.handler(ctx, msgspec.msgpack.decode(stored_input))

            self._enter()
            future = asyncio.run_coroutine_threadsafe(call_async(), self.loop)

            def finished_async(f: concurrent.futures.Future[Any]) -> None:
                try:
                    done(_outcome_of_future(f))
                finally:
                    self._leave()

            future.add_done_callback(finished_async)

            def stop_async() -> None:
                ctx.cancelled.set()
                future.cancel()

            return stop_async

        def call() -> None:
            try:
                outcome = _outcome_of(reg.handler(ctx, msgspec.msgpack.decode(stored_input)))
            except Exception as exc:
                outcome = Outcome(None, {}, exc)
            try:
                done(outcome)
            finally:
                self._leave()

        self._enter()
        try:
            self._pool.submit(call)
        except RuntimeError:  # shut down: the system is closing
            self._leave()
        return ctx.cancelled.set

    def call(self, callback: Callable[..., object], *args: Any) -> None:
        """Run user code (a subscriber) on the pool; what it raises is logged, not spread."""

        def guarded() -> None:
            try:
                callback(*args)
            except Exception:
                _log.exception("subscriber %r raised", callback)
            finally:
                self._leave()

        self._enter()
        try:
            self._pool.submit(guarded)
        except RuntimeError:  # the pool is shut down: the system is closing
            self._leave()

    def close(self) -> None:
        self._pool.shutdown()
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is not None:
            # Cancel running async attempts and let them unwind, rather than stopping
            # the loop under them ("Task was destroyed but it is pending!").
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(_cancel_tasks(), loop).result(CLOSE_GRACE)
            loop.call_soon_threadsafe(loop.stop)
            if self._loop_thread is not None:
                self._loop_thread.join(5)
            if not loop.is_running():
                loop.close()


CLOSE_GRACE = 2.0  # seconds async attempts get to unwind when the system closes


async def _cancel_tasks() -> None:
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _outcome_of_future(future: concurrent.futures.Future[Any]) -> Outcome:
    if future.cancelled():
        return Outcome(None, {}, concurrent.futures.CancelledError("attempt cancelled"))
    error = future.exception()
    if error is not None:
        return Outcome(None, {}, error)
    value = future.result()
    if isinstance(value, Outcome):
        return value
    try:
        return _outcome_of(value)
    except Exception as exc:
        return Outcome(None, {}, exc)
