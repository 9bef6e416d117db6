"""One simulation run: a seeded workload with faults against a real system, then the checks.

The checks: every answer against the reference model (``check``), the log against
the verifier of semantics §4 (``alo_actor.logtools.verify``) at every restart and at
the end, and each outcome owed to a result URL delivered exactly once (more only
when a fault came after an accepted POST) or recorded abandoned.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from alo_actor import AloSystem, ManualClock
from alo_actor.logtools import verify
from tests.simulation.check import Call, check, describe
from tests.simulation.engine import open_system, quiesce
from tests.simulation.execute import Executor, Holder, SimulationError
from tests.simulation.handlers import OPERATIONS, Handlers
from tests.simulation.history import ListSink
from tests.simulation.kill import run_child
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
        base_url = receiver.url("")
        clock = ManualClock(workload.start_clock)
        holder = Holder(lambda: open_system(path, clock, handlers))
        holder.open()
        executor = Executor(holder, clock, sink, base_url)
        try:
            for index, phase in enumerate(workload.phases):
                if phase.fault == "kill":
                    holder.close()
                    report.problems += _verified(path, f"before the kill in phase {index}")
                    killed = run_child(path, workload, index, clock, base_url, sink, workdir)
                    report.faults["SIGKILL mid-phase" if killed else "child ended first"] += 1
                    report.problems += _verified(path, f"after the kill in phase {index}")
                    holder.open()
                    continue
                executor.run_phase(phase)
                sink.end_phase(clock.now())
                if holder.current().closed:
                    report.faults["close mid-phase"] += 1
                    report.problems += _verified(path, f"after the close in phase {index}")
                    holder.open()
                quiesce(holder.current())
                if phase.fault == "reopen":
                    holder.close()
                    sink.closed()
                    report.faults["close and reopen"] += 1
                    report.problems += _verified(path, f"after phase {index}")
                    holder.open()
                clock.advance(phase.advance)
                quiesce(holder.current())
            report.problems += _drain(holder.current(), clock)
            _final_reads(executor, workload, sink)
            quiesce(holder.current())
        except SimulationError as exc:
            report.problems.append(f"the run failed: {exc}")
        finally:
            final_generation = holder.generation
            holder.close()
        posts = receiver.snapshot()
    report.problems += _verified(path, "at the end")
    report.calls = len(sink.calls)
    report.unanswered = sum(c.response is None for c in sink.calls)
    for problem in check(sink.calls, ctx):
        report.problems.append(f"ALO {problem.alo_id}: {problem.message}")
    report.problems += _unexpected_errors(sink.calls)
    facts = read_log(path)
    report.events = facts.events
    report.problems += check_deliveries(facts, posts, base_url, sink.faults)
    report.problems += check_subscriptions(executor, facts, final_generation)
    report.seconds = time.monotonic() - started
    return report


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


def _drain(system: AloSystem, clock: ManualClock) -> list[str]:
    """Move the clock until no outcome is owed to a result URL any more."""
    for round_ in range(DRAIN_ROUNDS):
        quiesce(system)
        owed = system.log.streams_having("DeliveriesDue", lacking=["DeliveriesFinished"])
        if not owed:
            return []
        clock.advance(float(min(2**round_, 8)))
    return [f"outcomes still owed to result URLs after the drain: {sorted(owed)}"]


def _final_reads(executor: Executor, workload: Workload, sink: ListSink) -> None:
    """Read every id, then the result of every settled one: all checked like any call."""
    infos = Lane("final.info", OWN_THREAD, [GetInfo(i) for i in workload.ids])
    executor.run_phase(Phase([infos]))
    settled = [
        c.cmd.id
        for c in sink.calls
        if c.lane == "final.info" and getattr(c.response, "status", None) in TERMINAL
    ]
    results = Lane("final.result", OWN_THREAD, [GetResult(i, timeout=10.0) for i in settled])
    executor.run_phase(Phase([results]))
