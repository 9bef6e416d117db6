"""The child process of a kill fault: runs one phase of a workload on the shared log file.

Usage: python -m tests.simulation.child DB WORKLOAD_JSON PHASE CLOCK_START BASE_URL

Prints one JSON line per event, flushed as it happens: ``ready``; ``inv`` before each
call; ``ack`` (the whole ``check.Call``) after its answer; ``clock`` before the clock
moves; ``done`` at the end. The parent SIGKILLs it somewhere along the way.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

import msgspec

from alo_actor import ManualClock
from tests.simulation.check import Call
from tests.simulation.engine import open_system, quiesce
from tests.simulation.execute import Executor, Holder
from tests.simulation.handlers import Handlers
from tests.simulation.protocol import AnyCommand
from tests.simulation.workload import Workload

SELF_STOP = 60.0  # never outlive a parent that died


class PrintSink:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._encoder = msgspec.json.Encoder()

    def emit(self, line: dict[str, Any]) -> None:
        data = self._encoder.encode(line) + b"\n"
        with self._lock:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()

    def invoked(self, key: str, lane: str, cmd: AnyCommand, inv: int, now: float) -> None:
        self.emit({"k": "inv", "key": key, "lane": lane, "cmd": cmd, "inv": inv, "now": now})

    def answered(self, key: str, call: Call) -> None:
        self.emit({"k": "ack", "key": key, "call": call})

    def clock_moving(self, to: float) -> None:
        self.emit({"k": "clock", "to": to})

    def closed(self) -> None:
        self.emit({"k": "closed", "at": time.monotonic_ns()})


def main(argv: list[str]) -> None:
    path, workload_file, phase_index, clock_start, base_url = argv
    with open(workload_file, "rb") as f:
        workload = msgspec.json.decode(f.read(), type=Workload)
    phase = workload.phases[int(phase_index)]
    stopper = threading.Timer(SELF_STOP, os._exit, args=(3,))
    stopper.daemon = True
    stopper.start()
    clock = ManualClock(float(clock_start))
    handlers = Handlers(workload.seed)
    holder = Holder(lambda: open_system(path, clock, handlers))
    system = holder.open()
    sink = PrintSink()
    sink.emit({"k": "ready"})
    Executor(holder, clock, sink, base_url).run_phase(phase)
    quiesce(system)
    sink.clock_moving(clock.now() + phase.advance)
    clock.advance(phase.advance)
    quiesce(system)
    sink.emit({"k": "done"})
    holder.close()


if __name__ == "__main__":
    main(sys.argv[1:])
