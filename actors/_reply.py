"""Replies from an actor thread to a caller: a blocked thread, or an asyncio future."""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections import deque
from typing import Any, Protocol


class Reply(Protocol):
    """Called once, on the actor's thread, with a value or an error."""

    def __call__(self, value: Any, error: BaseException | None = None) -> None: ...


class SyncReply:
    """A reply a plain thread blocks on (a pre-acquired lock: cheaper than an Event)."""

    __slots__ = ("_lock", "error", "value")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()
        self.value: Any = None
        self.error: BaseException | None = None

    def __call__(self, value: Any, error: BaseException | None = None) -> None:
        self.value = value
        self.error = error
        self._lock.release()

    def wait(self, timeout: float | None = None) -> bool:
        """True once replied (and on every call after); False if ``timeout`` seconds
        passed first."""
        if self._lock.acquire(timeout=-1 if timeout is None else max(timeout, 0.0)):
            self._lock.release()  # replied for good: a later wait returns at once
            return True
        return False

    def result(self, timeout: float | None = None) -> Any:
        """The value replied, waiting up to ``timeout`` s (None: for ever) for it;
        raises the error replied, or TimeoutError if no reply came in time."""
        if not self.wait(timeout):
            raise TimeoutError(f"no reply within {timeout} s")
        if self.error is not None:
            raise self.error
        return self.value


class Gather:
    """Many replies gathered into one: ``put(i, value, error)`` answers the i-th
    request; once every one has been answered, ``reply((values, errors))`` is, with
    each request's value and error in its place.

    For a batch of requests that one caller waits for as a whole: one future, or one
    blocked thread, for them all, and no reply object per request. The requests of one
    batch are answered on one thread at a time (the actor's, or the caller's when the
    batch could not be sent), so the count needs no lock.
    """

    __slots__ = ("_errors", "_left", "_reply", "_values")

    def __init__(self, count: int, reply: Reply) -> None:
        self._reply = reply
        self._values: list[Any] = [None] * count
        self._errors: list[BaseException | None] = [None] * count
        self._left = count
        if not count:
            reply(([], []))

    def put(self, index: int, value: Any, error: BaseException | None = None) -> None:
        """Answer request ``index`` (once)."""
        self._values[index] = value
        self._errors[index] = error
        self._left -= 1
        if self._left == 0:
            self._reply((self._values, self._errors))


class LoopBridge:
    """Resolves asyncio futures of one event loop from other threads.

    Never awaits a pykka future: each resolution is queued, and the first one
    queued since the loop last drained schedules one ``call_soon_threadsafe``,
    so a commit that answers a thousand callers wakes the loop once.

    Without a lock: a deque's append and popleft are atomic, and a drain clears
    ``_scheduled`` before it empties the queue, so a resolution that finds it set
    was queued before that drain empties it. (Two that find it clear schedule two
    drains; the second finds nothing.)
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Weak: the bridge is the value of a weak-keyed map on its loop, and a strong
        # reference back would keep every loop ever bridged alive.
        self._loop = weakref.ref(loop)
        self._pending: deque[tuple[asyncio.Future[Any], Any, BaseException | None]] = deque()
        self._scheduled = False

    def future(self) -> ReplyFuture:
        """A new future of the bridge's loop that is its own reply (see ReplyFuture).

        Raises RuntimeError if the loop is gone.
        """
        loop = self._loop()
        if loop is None:
            raise RuntimeError("the loop is gone")
        future = ReplyFuture(loop=loop)
        future._bridge = self
        return future

    def resolve(self, future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
        self._pending.append((future, value, error))
        if not self._scheduled:
            self._scheduled = True
            loop = self._loop()
            try:
                if loop is None:
                    raise RuntimeError("the loop is gone")
                loop.call_soon_threadsafe(self._drain)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                self._pending.clear()
                self._scheduled = False

    def _drain(self) -> None:
        self._scheduled = False
        pending = self._pending
        while pending:
            future, value, error = pending.popleft()
            if future.done():
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(value)


class ReplyFuture(asyncio.Future[Any]):
    """An asyncio future that is also its own Reply: calling it, from any thread,
    resolves it through its loop's bridge (made by ``LoopBridge.future``).

    One object per awaited call, where a future and a reply object beside it made
    two (and a closure three), each tracked by the garbage collector while the call
    is in flight. The reply it replaces was an untracked msgspec Struct holding the
    future: once the future held an exception whose traceback held the awaiting
    frame, and that frame the reply, the collector could not see the cycle, and
    every wait that ran out leaked its future, frame and traceback.
    """

    __slots__ = ("_bridge",)
    _bridge: LoopBridge

    def __call__(self, value: Any, error: BaseException | None = None) -> None:
        self._bridge.resolve(self, value, error)


_bridges: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopBridge] = (
    weakref.WeakKeyDictionary()
)
_bridges_lock = threading.Lock()


def bridge_for(loop: asyncio.AbstractEventLoop) -> LoopBridge:
    """The one bridge of ``loop`` (created on first use)."""
    bridge = _bridges.get(loop)
    if bridge is None:
        with _bridges_lock:
            bridge = _bridges.get(loop)
            if bridge is None:
                bridge = _bridges[loop] = LoopBridge(loop)
    return bridge
