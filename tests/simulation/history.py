"""The history of a run: every call recorded, and when faults happened."""

from __future__ import annotations

import threading
import time

import msgspec

from tests.simulation.check import Call
from tests.simulation.protocol import AnyCommand


class ListSink:
    """Collects the calls of the test process; calls without an answer end at phase end."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.open_calls: list[Call] = []
        self.faults: list[int] = []  # when a close or kill had ended (monotonic ns)
        self.dead_senders: set[int] = set()  # TCP ports of killed children's connections
        self._lock = threading.Lock()

    def invoked(self, key: str, lane: str, cmd: AnyCommand, inv: int, now: float) -> None:
        pass

    def answered(self, key: str, call: Call) -> None:
        with self._lock:
            (self.calls if call.response is not None else self.open_calls).append(call)

    def clock_moving(self, to: float) -> None:
        pass

    def closed(self) -> None:
        """A close just ended: deliveries it cut short may be POSTed again."""
        with self._lock:
            self.faults.append(time.monotonic_ns())

    def end_phase(self, clock_now: float) -> None:
        """Calls the system closed under may have taken effect until now, or never."""
        end = time.monotonic_ns()
        with self._lock:
            for call in self.open_calls:
                self.calls.append(msgspec.structs.replace(call, res=end, now_hi=clock_now))
            self.open_calls = []
