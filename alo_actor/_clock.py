"""The one injectable clock that everything timed reads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...


class SystemClock:
    """Unix time."""

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that moves only when told to, for simulations and tests.

    Pass it as ``clock=`` to ``AloSystem.open``; ``advance()`` returns only after
    every deadline and retry that fell due has fired and is durable.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[float], None]] = []

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move time forward by ``seconds`` (not backwards) and fire what fell due."""
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        with self._lock:
            self._now += seconds
            now = self._now
            listeners = list(self._listeners)
        for listener in listeners:
            listener(now)
        return now

    def set(self, when: float) -> float:
        """Move time forward to ``when``."""
        return self.advance(max(0.0, when - self._now))

    def add_listener(self, listener: Callable[[float], None]) -> None:
        """Call ``listener(now)`` after every advance; it returns once what fell due is done."""
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[float], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)
