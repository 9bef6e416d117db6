"""One simulation run: a seeded workload with faults against real systems (one, or several
over one log), then the checks.

The checks: every answer against the reference model (``check``), the log against
the verifier of semantics §4 (``alo_actor.logtools.verify``) at every restart and at
the end, and each outcome owed to a result URL delivered exactly once (more only
when a fault came after an accepted POST) or recorded abandoned.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from alo_actor import ManualClock
from alo_actor.logtools import verify
from tests.simulation.check import Call, check, describe
from tests.simulation.engine import Group
from tests.simulation.execute import LANE_TIMEOUT, Executor, SimulationError
from tests.simulation.handlers import OPERATIONS, Handlers
from tests.simulation.history import ListSink
from tests.simulation.kill import ChildEnd, run_child
from tests.simulation.model import Context
from tests.simulation.outcomes import check_deliveries, check_subscriptions, read_log
from tests.simulation.protocol import TERMINAL, GetInfo, GetResult
from tests.simulation.receiver import Receiver
from tests.simulation.workload import OWN_THREAD, Lane, Phase, Size, Workload, generate

DRAIN_ROUNDS = 40


@dataclass
class Report:
    seed: int
    size: str
    calls: int = 0
    unanswered: int = 0
    events: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def repro(self) -> str:
        return f"python -m tests.simulation --seeds 1 --start {self.seed} --size {self.size}"

    def summary(self) -> str:
        faults = ", ".join(f"{n} {k}" for k, n in sorted(self.faults.items())) or "none"
        verdict = "ok" if self.ok else f"{len(self.problems)} PROBLEMS"
        return (
            f"seed {self.seed} ({self.size}): {verdict}; {self.calls} calls "
            f"({self.unanswered} unanswered), {self.events} events, faults: {faults}, "
            f"{self.seconds:.2f} s"
        )


def run_seed(seed: int, size: Size, size_name: str, workdir: Path) -> Report:
    """Run the workload of ``seed`` with its faults, then check everything."""
    return run_workload(generate(seed, size), size_name, workdir)


def run_workload(workload: Workload, size_name: str, workdir: Path) -> Report:
    """Run ``workload`` with its faults, then check everything."""
    seed = workload.seed
    started = time.monotonic()
    report = Report(seed, size_name)
    handlers = Handlers(seed)
    ctx = Context(OPERATIONS, handlers)
    path = str(workdir / f"sim-{seed}.db")
    for suffix in ("", "-wal", "-shm"):
        Path(path + suffix).unlink(missing_ok=True)
    sink = ListSink()
    with Receiver(seed) as receiver:
        clock = ManualClock(workload.start_clock)
        group = Group(path, clock, handlers, workload.systems)
        run = _Run(workload, report, path, clock, group, sink, receiver.url(""), workdir)
        final_position = 0
        try:
            group.open()
            group.spread()
            for index, phase in enumerate(workload.phases):
                run.phase(index, phase)
            report.problems += _drain(group, clock)
            _final_reads(run.executor, workload, sink)
            group.quiesce()
            # Outcomes up to here were seen by every system open now (see outcomes.py).
            final_position = group.systems()[0].log.head().position
        except SimulationError as exc:
            report.problems.append(f"the run failed: {exc}")
        finally:
            generations = group.generations()
            group.close()
        posts = receiver.snapshot()
    report.problems += _verified(path, "at the end")
    report.calls = len(sink.calls)
    report.unanswered = sum(c.response is None for c in sink.calls)
    for problem in check(sink.calls, ctx):
        report.problems.append(f"ALO {problem.alo_id}: {problem.message}")
    report.problems += _unexpected_errors(sink.calls)
    facts = read_log(path)
    report.events = facts.events
    report.problems += check_deliveries(facts, posts, run.base_url, sink.faults, sink.dead_senders)
    report.problems += check_subscriptions(run.executor, facts, generations, final_position)
    report.seconds = time.monotonic() - started
    return report


class _Run:
    """The phases of one run and their faults, on the group's systems."""

    def __init__(
        self,
        workload: Workload,
        report: Report,
        path: str,
        clock: ManualClock,
        group: Group,
        sink: ListSink,
        base_url: str,
        workdir: Path,
    ) -> None:
        self.workload = workload
        self.report = report
        self.path = path
        self.clock = clock
        self.group = group
        self.sink = sink
        self.base_url = base_url
        self.workdir = workdir
        self.executor = Executor(group.holders, clock, sink, base_url)
        self.faults = report.faults

    def verify(self, when: str) -> None:
        self.report.problems += _verified(self.path, when)

    def phase(self, index: int, phase: Phase) -> None:
        group = self.group
        if phase.fault == "kill":
            if self.workload.systems == 1:
                self.alone_killed(index)
                return
            self.killed_beside(index, phase)
        else:
            self.executor.run_phase(phase)
            self.sink.end_phase(self.clock.now())
            if any(system.closed for system in group.systems()):
                self.faults["close mid-phase"] += 1
                self.verify(f"after the close in phase {index}")
                group.reopen_closed()
        group.quiesce()
        if phase.fault == "reopen":
            group.close()
            self.sink.closed()
            self.faults["close and reopen"] += 1
            self.verify(f"after phase {index}")
            group.open()
        elif phase.fault == "reopen-one":
            holder = group.holders[phase.target]
            holder.close()
            self.sink.closed()
            self.faults["close and reopen one"] += 1
            self.verify(f"after phase {index}, system {phase.target} closed")
            holder.open()
        self.clock.advance(phase.advance)
        group.quiesce()

    def child(self, index: int, on_ready: Callable[[], None] = lambda: None) -> ChildEnd:
        end = run_child(
            self.path,
            self.workload,
            index,
            self.clock,
            self.base_url,
            self.sink,
            self.workdir,
            on_ready,
        )
        self.faults["SIGKILL mid-phase" if end.killed else "child ended first"] += 1
        self.verify(f"after the kill in phase {index}")
        return end

    def alone_killed(self, index: int) -> None:
        """The child runs the phase alone on the log; the test process's system waits."""
        self.group.close()
        self.verify(f"before the kill in phase {index}")
        self.child(index)
        self.group.open()
        self.group.quiesce()

    def killed_beside(self, index: int, phase: Phase) -> None:
        """The child runs its lanes as one more member, the systems here theirs."""
        ran: list[SimulationError] = []

        def lanes() -> None:
            try:
                self.executor.run_phase(phase)
            except SimulationError as exc:
                ran.append(exc)

        here = threading.Thread(target=lanes, name="sim-beside-child", daemon=True)
        end = self.child(index, here.start)
        if end.killed and end.shards:
            self.faults["SIGKILL of a shard holder"] += 1
        if here.ident is not None:
            here.join(LANE_TIMEOUT)
        if here.is_alive():
            raise SimulationError(f"the lanes beside the child of phase {index} did not end")
        if ran:
            raise ran[0]
        self.sink.end_phase(self.clock.now())


def _verified(path: str, when: str) -> list[str]:
    return [
        f"log invariant {v.invariant} broken {when} at position {v.position} "
        f"({v.stream_id}): {v.message}"
        for v in verify(path)
    ]


def _unexpected_errors(calls: list[Call]) -> list[str]:
    known = {
        "NotFound",
        "AlreadyExists",
        "OperationFailed",
        "OperationCancelled",
        "OperationTimedOut",
        "TimeoutError",
    }
    out = []
    for call in calls:
        error = getattr(call.response, "error", None)
        if error is not None and error not in known:
            out.append(f"unexpected error: {describe(call)}")
    return out


def _drain(group: Group, clock: ManualClock) -> list[str]:
    """Move the clock until no outcome is owed to a result URL any more."""
    for round_ in range(DRAIN_ROUNDS):
        group.quiesce()
        log = group.systems()[0].log
        owed = log.streams_having("DeliveriesDue", lacking=["DeliveriesFinished"])
        if not owed:
            return []
        clock.advance(float(min(2**round_, 8)))
    return [f"outcomes still owed to result URLs after the drain: {sorted(owed)}"]


def _final_reads(executor: Executor, workload: Workload, sink: ListSink) -> None:
    """Read every id through every system, then the result of every settled one (spread
    over the systems): all checked like any call."""
    slots = range(workload.systems)
    infos = [
        Lane(_final("info", slot, workload), OWN_THREAD, [GetInfo(i) for i in workload.ids], slot)
        for slot in slots
    ]
    executor.run_phase(Phase(infos))
    first = _final("info", 0, workload)
    settled = [
        c.cmd.id
        for c in sink.calls
        if c.lane == first and getattr(c.response, "status", None) in TERMINAL
    ]
    results = [
        Lane(
            _final("result", slot, workload),
            OWN_THREAD,
            [GetResult(i, timeout=10.0) for i in settled[slot :: len(slots)]],
            slot,
        )
        for slot in slots
    ]
    executor.run_phase(Phase(results))


def _final(what: str, slot: int, workload: Workload) -> str:
    return f"final.{what}" if workload.systems == 1 else f"final.s{slot}.{what}"
