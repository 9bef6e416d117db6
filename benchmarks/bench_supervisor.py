"""The supervisor's work per promise, alone on one thread: alo-actor's beside the prototype's.

    python -m benchmarks.bench_supervisor [--promises N] [--in-flight K] [--rounds R]
                                          [--against REV]

``bench_core``'s flows run three threads that share one GIL, and their figures move by
several percent from run to run. This measures one of those threads alone: the
decisions each design makes for ``bench_core``'s flow (issue 19), per call and in
batches of 100. No loop, no writer, no SQLite, no hand-offs: what is left is the
supervisor's own Python, where the engine and the prototype differ most.

Each wave of K promises goes in four steps, as in the flow:
1. their starts, as the messages the caller's outbox would send;
2. the appends, handed back as one commit, with positions (nothing is stored);
3. their waits for the result;
4. their completions, committed the same way.

Every answer is checked.

- **alo-actor**: an ``actors.EntityHost`` hosting the ``AloBehavior``, its ``on_receive``
  called directly. The messages are ``DeliverMany`` of the verbs' asks: one per loop
  iteration's K calls, or one per batch of 100.
- **prototype**: ``benchmarks._prototype``'s ``_decide`` and ``_committed`` on the same
  requests.

Printed: CPU microseconds per promise (this thread's time), the median of R rounds, with
the garbage collector on, and the engine's multiple of the prototype. The messages are
built before each wave is timed: that is the caller's work, not the supervisor's.

``--against REV`` then runs the engine's part at REV and in this tree, in fresh
processes, in turn, and prints the paired ratios (REV's time / this tree's: above 1 is
faster here). REV needs the internals this drives, as the engine has had them since
ebeea04 (``batch_asks``); at an older one it stops with the error it met there.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from actors import DeliverMany, EntityHost, Gather
from actors._host import _Committed
from alo_actor._batch import batch_asks, plan_completions, plan_reads, plan_starts
from alo_actor._clock import SystemClock
from alo_actor._handlers import Runner
from alo_actor._machine import AloState, Read
from alo_actor._model import Status
from alo_actor._requests import complete_command, start_command
from alo_actor._supervisor import INFO, RESULT, AloBehavior, Ask
from alo_actor._timers import Timers
from eventlog import Append, EventLog

BATCH = 100  # ALOs a batch, as in bench_core's batch flow
FLOWS = ("per call", "batches of 100")


class _NoLog:
    """What the host asks of its log in this flow: it keeps the appends submitted, to
    be handed back as committed; it has no events to read."""

    frontier = None  # no follower: nothing waits for other processes' events

    def __init__(self) -> None:
        self.submitted: list[Append] = []
        self.position = 0

    def submit_many(self, appends: Sequence[Append]) -> None:
        self.submitted.extend(appends)

    def read_stream(self, stream_id: str, from_version: int = 1) -> list[Any]:
        return []

    def shard_of(self, stream_id: str) -> int:
        return 0

    def committed(self) -> _Committed:
        """The appends submitted so far, as one commit the writer would hand back."""
        appends, self.submitted = self.submitted, []
        position = self.position
        for append in appends:
            count = len(append.events)
            append.positions = tuple(range(position + 1, position + count + 1))
            position += count
        self.position = position
        return _Committed(appends)


class _Answers:
    """The answers of one wave: values, and any error (there must be none). Checked and
    dropped after each wave, so that the garbage collector does not walk a heap of
    answers that grows with the run."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.errors: list[BaseException] = []

    def one(self, value: Any, error: BaseException | None = None) -> None:
        if error is not None:
            self.errors.append(error)
        self.values.append(value)

    def many(self, value: Any, error: BaseException | None = None) -> None:
        """A batch's Gather's reply: (values, errors)."""
        values, errors = value
        self.errors.extend(error for error in errors if error is not None)
        self.values.extend(values)


def _engine_wave(ids: Sequence[str], first: int, size: int, answers: _Answers) -> list[Any]:
    """The four steps' messages for ``ids`` (the per-call flow's when ``size`` is 1),
    made as the caller makes them; a commit goes after the first and the last."""
    now = SystemClock().now()
    if size == 1:
        starts = [
            Ask(
                start_command(
                    i, None, n, None, None, None, None, now=now, registered=(), allowed_hosts=None
                ),
                answers.one,
                INFO,
            )
            for n, i in enumerate(ids, first)
        ]
        reads = [Ask(Read(), answers.one, RESULT) for _ in ids]
        completes = [
            Ask(complete_command(n, None), answers.one, INFO) for n, _ in enumerate(ids, first)
        ]
        return [[DeliverMany(ids, asks)] for asks in (starts, reads, completes)]
    steps: list[list[Any]] = [[], [], []]
    for at in range(0, len(ids), size):
        chunk = ids[at : at + size]
        numbered = list(enumerate(chunk, first + at))
        plans = (
            (
                plan_starts(
                    [(i, None, n) for n, i in numbered], now=now, registered=(), allowed_hosts=None
                ),
                INFO,
            ),
            (plan_reads(chunk), RESULT),
            (plan_completions([(i, n) for n, i in numbered]), INFO),
        )
        for step, (plan, want) in zip(steps, plans, strict=True):
            gather = Gather(len(chunk), answers.many)  # (no item is refused)
            step.append(DeliverMany(chunk, batch_asks(plan, gather, want)))
    return steps


def engine_us(promises: int, in_flight: int, size: int) -> float:
    """alo-actor's host and supervisor: CPU microseconds per promise for the flow, in
    batches of ``size`` (1: per call). Raises AssertionError for a wrong answer."""
    log = _NoLog()
    clock = SystemClock()
    behavior = AloBehavior(clock, Runner(1), Timers(clock))
    host: EntityHost[AloState, Any] = EntityHost(cast(EventLog, log), behavior)
    host.on_start()
    receive = host.on_receive
    answers = _Answers()
    ids = [f"p{i}" for i in range(promises)]
    spent = 0.0
    for first in range(0, promises, in_flight):
        wave = ids[first : first + in_flight]
        starts, reads, completes = _engine_wave(wave, first, size, answers)
        began = time.thread_time()
        for message in starts:
            receive(message)
        receive(log.committed())
        for message in reads:
            receive(message)
        for message in completes:
            receive(message)
        receive(log.committed())
        spent += time.thread_time() - began
        _check_engine(answers, len(wave))
    host.on_stop()
    return spent / promises * 1e6


def _check_engine(answers: _Answers, promises: int) -> None:
    """That a wave's promises were each answered three times, their waits with their
    completions; then the answers are dropped."""
    if answers.errors:
        raise AssertionError(f"{len(answers.errors)} errors, the first {answers.errors[0]!r}")
    if len(answers.values) != 3 * promises:
        raise AssertionError(f"{len(answers.values)} answers for {promises} promises")
    settled = [v for v in answers.values if isinstance(v, AloState)]
    if len(settled) != promises or any(s.status is not Status.COMPLETED for s in settled):
        raise AssertionError("a wait was not answered with its completion")
    answers.values.clear()


def prototype_us(promises: int, in_flight: int, size: int) -> float:
    """The prototype's decisions (``_decide``, ``_committed``) for the same flow: CPU
    microseconds per promise. Raises AssertionError for a wrong answer."""
    from alo_actor._events import CODEC
    from alo_actor._validate import encode_payload
    from benchmarks._prototype import PrototypePromises, _Request, _State, _Wait, _Write

    decide, committed = PrototypePromises._decide, PrototypePromises._committed
    states: dict[str, _State] = {}
    waits: dict[str, list[tuple[_Wait, int]]] = {}
    answers: list[tuple[Any, Any]] = []
    ids = [f"p{i}" for i in range(promises)]
    no_future: Any = None
    position = 0
    spent = 0.0

    def commit(writes: list[_Write]) -> None:
        nonlocal position
        for write in writes:
            seqs = list(range(position + 1, position + len(write.events) + 1))
            position += len(write.events)
            committed(write, seqs, states, waits, answers)
        writes.clear()

    for first in range(0, promises, in_flight):
        wave = ids[first : first + in_flight]
        steps: list[list[_Request]] = [[], [], []]
        for at in range(0, len(wave), size):
            chunk = wave[at : at + size]
            # Each ALO's number is its input and its result, as in the engine's flow.
            payloads = [
                encode_payload(n, "input") for n in range(first + at, first + at + len(chunk))
            ]
            steps[0].append(_Request("start", chunk, payloads, no_future))
            steps[1].append(_Request("wait", chunk, (), no_future))
            steps[2].append(_Request("complete", chunk, payloads, no_future))
        writes: list[_Write] = []
        began = time.thread_time()
        for step in steps:
            for request in step:
                decide(request, states, waits, answers, CODEC.encode, writes.append)
            if step is not steps[1]:
                commit(writes)
        spent += time.thread_time() - began
        # Checked and dropped each wave, as the engine's answers are.
        answered = sum(len(value) for _, value in answers)
        if answered != 3 * len(wave):
            raise AssertionError(f"{answered} answers for {len(wave)} promises")
        answers.clear()
    return spent / promises * 1e6


def figures(
    promises: int, in_flight: int, rounds: int, *designs: Callable[[int, int, int], float]
) -> list[dict[str, float]]:
    """For each design, its median microseconds per promise in each flow, the designs
    run in turn in each round."""
    times: list[dict[str, list[float]]] = [{flow: [] for flow in FLOWS} for _ in designs]
    for _ in range(rounds):
        for flow, size in zip(FLOWS, (1, BATCH), strict=True):
            for design, found in zip(designs, times, strict=True):
                found[flow].append(design(promises, in_flight, size))
    return [{flow: statistics.median(t) for flow, t in found.items()} for found in times]


# Run at another revision by --against: this module's own source, which needs only
# what the engine had then (the host, the behaviour, the batch plans).
_ENGINE = """
import json, sys
promises, in_flight, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
print(json.dumps(figures(promises, in_flight, rounds, engine_us)[0]))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--promises", type=int, default=50_000)
    parser.add_argument("--in-flight", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--against", metavar="REV", help="a git revision to compare with")
    args = parser.parse_args()
    engine, prototype = figures(args.promises, args.in_flight, args.rounds, engine_us, prototype_us)
    print(
        f"supervisor CPU per promise, one thread, no log ({args.promises:,} promises, "
        f"{args.in_flight:,} in flight, median of {args.rounds} rounds):"
    )
    for flow in FLOWS:
        print(
            f"  {flow}: alo-actor {engine[flow]:.1f} us, prototype {prototype[flow]:.1f} us "
            f"(alo-actor {engine[flow] / prototype[flow]:.1f}x the prototype's)"
        )
    if args.against:
        from benchmarks._against import against

        source = Path(__file__).read_text().split("\nif __name__ ==")[0] + _ENGINE
        try:
            pairs = against(
                args.against, source, [str(args.promises), str(args.in_flight), "1"], args.rounds
            )
        except subprocess.CalledProcessError as exc:
            last = (exc.stderr or "").strip().splitlines()[-1:] or ["no error output"]
            failed = f"--against {args.against}: the engine's part failed there: {last[0]}"
            raise SystemExit(failed) from None
        for flow in FLOWS:
            ratios = [there[flow] / here[flow] for there, here in pairs]
            print(
                f"{flow}, {args.against}'s time / this tree's: {statistics.median(ratios):.2f}x "
                f"(rounds {', '.join(f'{r:.2f}' for r in ratios)}; us per promise "
                f"{statistics.median(t[flow] for t, _ in pairs):.1f} there, "
                f"{statistics.median(h[flow] for _, h in pairs):.1f} here)"
            )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
