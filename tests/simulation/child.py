"""The child process of a kill fault: runs one phase of a workload on the shared log file.

Usage: python -m tests.simulation.child DB WORKLOAD_JSON PHASE CLOCK_START BASE_URL SLOT

It runs the phase's lanes of system slot SLOT. When the workload has several systems,
the parent's stay open beside it: the child is one more member of the log's group, it
waits (a while) to be handed some shards before it begins, and it never moves its
clock (a copy of the parent's, which the parent's systems decide by meanwhile).

Prints one JSON line per event, flushed as it happens: ``ready`` (with the number of
shards it holds then, which it keeps until it dies); ``inv`` before each
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

from alo_actor import AloSystem, ManualClock
from tests.simulation.check import Call
from tests.simulation.engine import open_system, quiesce
from tests.simulation.execute import Executor, Holder
from tests.simulation.handlers import Handlers
from tests.simulation.protocol import AnyCommand
from tests.simulation.workload import Workload

SELF_STOP = 60.0  # never outlive a parent that died
SHARDS_WAIT = 10.0  # for the parent's systems to hand this member its shards (at a beat)


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
    path, workload_file, phase_index, clock_start, base_url, slot = argv
    with open(workload_file, "rb") as f:
        workload = msgspec.json.decode(f.read(), type=Workload)
    phase = workload.phases[int(phase_index)]
    alongside = workload.systems > 1
    stopper = threading.Timer(SELF_STOP, os._exit, args=(3,))
    stopper.daemon = True
    stopper.start()
    clock = ManualClock(float(clock_start))
    handlers = Handlers(workload.seed)
    holder = Holder(lambda: open_system(path, clock, handlers))
    system = holder.open()
    sink = PrintSink()
    shards = _wait_for_shards(system) if alongside else 0
    sink.emit({"k": "ready", "shards": shards})
    Executor({int(slot): holder}, clock, sink, base_url).run_phase(phase)
    quiesce(system)
    if not alongside:
        sink.clock_moving(clock.now() + phase.advance)
        clock.advance(phase.advance)
        quiesce(system)
    sink.emit({"k": "done"})
    holder.close()


def _wait_for_shards(system: AloSystem) -> int:
    """Wait until this member holds a shard, and return how many it holds: the kill then
    leaves the others work to take over (none is no failure: the phase runs all the
    same, and the parent counts the kills of members that held shards)."""
    deadline = time.monotonic() + SHARDS_WAIT
    while True:
        held = sum(lease.owner == system.member for lease in system.log.leases())
        if held or time.monotonic() >= deadline:
            return held
        time.sleep(0.01)


if __name__ == "__main__":
    main(sys.argv[1:])
