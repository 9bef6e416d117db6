"""Timers on the system's clock: deadlines and retry backoffs.

With the system clock a thread sleeps until the next one is due. With a
``ManualClock`` nothing sleeps: ``advance()`` fires what fell due and waits until
each fired timer's work is durable.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable
from typing import Any

from alo_actor._clock import Clock, ManualClock

# fire(arg, done): start the timer's work on ``arg``; call done() once it is durable.
# A shared callable and a plain argument rather than a closure per timer: a system
# may hold hundreds of thousands of armed deadlines, and closures cost memory and
# garbage-collector time that plain tuples of atoms do not.
Fire = Callable[[Any, Callable[[], None]], None]

ADVANCE_TIMEOUT = 60.0


class Timers:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._heap: list[tuple[float, int, Fire, Any]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        # The timer thread is handing timers that fell due to their work (see busy).
        self._firing = False
        self._manual = isinstance(clock, ManualClock)
        self._thread: threading.Thread | None = None
        if isinstance(clock, ManualClock):
            clock.add_listener(self._advanced)
        else:
            self._thread = threading.Thread(target=self._run, name="alo-timers", daemon=True)
            self._thread.start()

    def __len__(self) -> int:
        return len(self._heap)

    def busy(self) -> bool:
        """Whether a timer has fallen due and its work is not yet started: one still
        armed past its time (the timer thread is late), or one being fired now."""
        with self._cond:
            heap = self._heap
            return self._firing or bool(heap and heap[0][0] <= self._clock.now())

    def schedule(self, at: float, fire: Fire, arg: Any = None) -> None:
        if self._manual and at <= self._clock.now():
            # Armed after the clock already passed it (the commit that arms it raced an
            # advance()): nothing else would ever fire it, so fire it now.
            if not self._closed:
                fire(arg, _nothing)
            return
        with self._cond:
            if self._closed:
                return
            seq = next(self._seq)
            heapq.heappush(self._heap, (at, seq, fire, arg))
            if self._heap[0][1] == seq:
                self._cond.notify()

    def _due(self, now: float) -> list[tuple[Fire, Any]]:
        due: list[tuple[Fire, Any]] = []
        with self._cond:
            while self._heap and self._heap[0][0] <= now:
                _, _, fire, arg = heapq.heappop(self._heap)
                due.append((fire, arg))
        return due

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed:
                    wait = self._heap[0][0] - self._clock.now() if self._heap else None
                    if wait is not None and wait <= 0:
                        break
                    self._cond.wait(wait)
                if self._closed:
                    return
                self._firing = True  # before the lock goes: busy() never misses them
            try:
                for fire, arg in self._due(self._clock.now()):
                    fire(arg, _nothing)
            finally:
                with self._cond:
                    self._firing = False

    def _advanced(self, now: float) -> None:
        # Fire and wait, round after round: a fired timer may arm another already due.
        while True:
            due = self._due(now)
            if not due:
                return
            countdown = _Countdown(len(due))
            for fire, arg in due:
                fire(arg, countdown.done)
            if not countdown.finished.wait(ADVANCE_TIMEOUT):
                raise TimeoutError("timers did not finish within the advance timeout")

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._cond.notify_all()
        if isinstance(self._clock, ManualClock):
            self._clock.remove_listener(self._advanced)
        if self._thread is not None:
            self._thread.join(5)


def _nothing() -> None:
    pass


class _Countdown:
    """Sets ``finished`` once ``done()`` was called ``count`` times, from any threads."""

    def __init__(self, count: int) -> None:
        self._left = count
        self._lock = threading.Lock()
        self.finished = threading.Event()

    def done(self) -> None:
        with self._lock:
            self._left -= 1
            if self._left == 0:
                self.finished.set()
