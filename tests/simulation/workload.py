"""Seeded workloads: phases of lanes (threads or asyncio tasks) issuing racing commands.

A workload is plain data (msgspec), so a child process can run a slice of it. Every
choice is drawn from ``random.Random(seed)``: the same seed is the same workload.
A workload may run several systems over one log (``Workload.systems``): each lane
talks to one of them (``Lane.system``), so racing commands on one id arrive through
different systems. A size of one system draws nothing of this, so its seeds stay
the workloads they always were.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import msgspec

from tests.simulation.handlers import ASYNC_OPERATION, SYNC_OPERATION
from tests.simulation.protocol import (
    AnyCommand,
    Cancel,
    Command,
    Complete,
    Fail,
    GetInfo,
    GetResult,
    Pause,
    Resume,
    Start,
    Subscribe,
)

START_CLOCK = 1000.0
URL_PATHS = ("/ok/1", "/ok/2", "/gone")  # the receiver's paths (see receiver.py)
OWN_THREAD = -1  # a lane's ``loop`` when it runs on a thread of its own


class Advance(msgspec.Struct, frozen=True, tag=True, tag_field="command"):
    """Move the manual clock while other lanes run."""

    seconds: float


class CloseSystem(msgspec.Struct, frozen=True, tag=True, tag_field="command"):
    """Close the lane's system under the other lanes (it is reopened after the phase)."""


class Nap(msgspec.Struct, frozen=True, tag=True, tag_field="command"):
    seconds: float


Step = AnyCommand | Advance | CloseSystem | Nap


class Lane(msgspec.Struct, frozen=True):
    name: str
    loop: int  # OWN_THREAD, or the index of the event loop whose task it is
    steps: list[Step]
    system: int = 0  # the slot of the system it talks to (``Workload.systems``: the child)


class Phase(msgspec.Struct, frozen=True):
    """Lanes that run at once; then the clock moves ``advance`` s and ``fault`` happens.

    ``fault``: "" (none), "reopen" (close and reopen every system after the phase),
    "reopen-one" (close and reopen system ``target`` while the others run), or "kill"
    (the phase runs in a child process on the same file, SIGKILLed after ``kill_after``
    answers and ``kill_delay`` more seconds). With one system the child is alone on
    the log; with several, the child is one more member running the lanes of slot
    ``Workload.systems`` while the others run theirs. With several systems no lane
    moves the clock (see ``_Gen.phase``; the child's clock is a copy of the parent's
    besides, and the two must not drift apart).
    """

    lanes: list[Lane]
    advance: float = 0.0
    fault: str = ""
    kill_after: int = 0
    kill_delay: float = 0.0
    target: int = 0


class Workload(msgspec.Struct, frozen=True):
    seed: int
    start_clock: float
    ids: list[str]
    phases: list[Phase]
    systems: int = 1  # systems open in the test process, over one log and one clock

    @property
    def child_slot(self) -> int:
        """The slot of the lanes a kill phase's child runs."""
        return 0 if self.systems == 1 else self.systems


@dataclass(frozen=True)
class Size:
    """How big a workload is."""

    ids: int = 8
    phases: int = 4
    lanes: tuple[int, int] = (2, 5)
    steps: tuple[int, int] = (2, 6)
    hot: tuple[int, int] = (2, 4)
    p_reopen: float = 0.2
    p_close_mid: float = 0.1
    p_ticker: float = 0.3
    kill: bool = False
    systems: tuple[int, int] = (1, 1)  # how many systems share the log (drawn per seed)
    p_reopen_one: float = 0.5  # with several systems: a reopen closes only one of them


SMALL = Size(ids=10)
KILL = Size(ids=10, phases=4, lanes=(4, 6), steps=(4, 10), kill=True)
LARGE = Size(ids=16, phases=8, lanes=(2, 6), steps=(2, 8), hot=(2, 5))
SEVERAL = Size(ids=10, phases=5, lanes=(3, 6), steps=(3, 8), p_close_mid=0.15, systems=(2, 3))
SEVERAL_KILL = Size(
    ids=10, phases=4, lanes=(4, 7), steps=(4, 10), p_close_mid=0.15, kill=True, systems=(2, 3)
)
SIZES = {
    "small": SMALL,
    "kill": KILL,
    "large": LARGE,
    "several": SEVERAL,
    "several-kill": SEVERAL_KILL,
}


class _Gen:
    def __init__(self, seed: int, size: Size) -> None:
        self.rng = random.Random(seed)
        self.size = size
        self.systems = 1 if size.systems == (1, 1) else self.rng.randint(*size.systems)
        self.ids = [f"alo-{i}" for i in range(size.ids)]
        self.first: dict[str, Start] = {}  # each id's start, as first issued
        self.clock = START_CLOCK
        self.n = 0

    def spec(self, alo_id: str) -> Start:
        rng = self.rng
        if alo_id in self.first:
            return self.first[alo_id]
        operation = rng.choice([None, None, SYNC_OPERATION, ASYNC_OPERATION])
        urls = rng.choice(
            [[], [], [], ["/ok/1"], ["/ok/1", "/ok/2"], ["/gone"], ["/ok/2", "/gone"]]
        )
        deadline = None
        if rng.random() < 0.5:
            deadline = self.clock + rng.choice([0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0])
        start = Start(
            id=alo_id,
            operation=operation,
            input={"n": int(alo_id.split("-")[1]), "tag": rng.choice(["a", "b"])},
            metadata=rng.choice([{}, {"team": "billing"}, {"team": "ops", "k": "v"}]),
            result_urls=urls,
            deadline=deadline,
        )
        self.first[alo_id] = start
        return start

    def command(self, alo_id: str) -> AnyCommand:
        rng = self.rng
        self.n += 1
        n = self.n
        if alo_id not in self.first and rng.random() < 0.7:
            kind = "start"  # most ids are started before anything else reaches them
        else:
            kinds = [
                "start",
                "info",
                "subscribe",
                "result",
                "complete",
                "fail",
                "cancel",
                "pause",
                "resume",
            ]
            weights = [1.5, 2.0, 0.7, 1.0, 1.0, 0.5, 0.7, 2.0, 2.0]
            kind = rng.choices(kinds, weights)[0]
        if kind == "start":
            spec = self.spec(alo_id)
            roll = rng.random()
            if roll < 0.15:  # the same start with another deadline: not compared
                later = None if spec.deadline is None else spec.deadline + 1.0
                return msgspec.structs.replace(spec, deadline=later)
            if roll < 0.3:  # a different start of the same id
                return msgspec.structs.replace(spec, input={"other": n})
            if roll < 0.35:
                return msgspec.structs.replace(spec, metadata={"team": f"x{n}"})
            if roll < 0.38:
                return msgspec.structs.replace(spec, operation="no-such-operation")
            return spec
        if kind == "info":
            return GetInfo(alo_id)
        if kind == "subscribe":
            return Subscribe(alo_id)
        if kind == "result":
            return GetResult(alo_id, timeout=0.25)
        if kind == "complete":
            metadata = rng.choice([{}, {"by": f"c{n}"}])
            return Complete(alo_id, result={"v": n}, result_metadata=metadata)
        if kind == "fail":
            details = rng.choice([None, {"code": n}])
            return Fail(alo_id, f"boom {n}", rng.choice(["Error", "PaymentError"]), details)
        if kind == "cancel":
            return Cancel(alo_id, rng.choice([None, f"gave up {n}"]))
        if kind == "pause":
            return Pause(alo_id)
        return Resume(alo_id)

    def lane(self, name: str, hot: list[str], loop: int, system: int) -> Lane:
        rng = self.rng
        steps: list[Step] = []
        for _ in range(rng.randint(*self.size.steps)):
            if rng.random() < 0.2:
                steps.append(Nap(rng.random() * 0.002))
            steps.append(self.command(rng.choice(hot)))
        return Lane(name, loop, steps, system)

    def system_of(self, k: int, fault: str) -> int:
        """The slot of a phase's lane ``k``: spread over the systems (and the child)."""
        if self.systems == 1:
            return 0  # nothing drawn: one system's workloads are what they always were
        if fault == "kill":
            return self.systems if k == 0 else self.rng.randrange(self.systems + 1)
        return self.rng.randrange(self.systems)

    def where(self, system: int) -> str:
        return "" if self.systems == 1 else f"s{system}."

    def phase(self, index: int, fault: str, target: int = 0) -> Phase:
        rng = self.rng
        size = self.size
        hot = rng.sample(self.ids, rng.randint(*size.hot))
        lanes: list[Lane] = []
        for k in range(rng.randint(*size.lanes)):
            loop = rng.choice([OWN_THREAD, OWN_THREAD, 0, 1])
            system = self.system_of(k, fault)
            kind = "t" if loop < 0 else f"aio{loop}"
            lanes.append(self.lane(f"p{index}.{self.where(system)}{kind}.{k}", hot, loop, system))
        # With several systems the clock moves only between phases, when all is quiet: a
        # write's time is read when it is decided, before its commit, and another system
        # may answer in between (a read at a later clock then misses a write stamped
        # earlier); the model's one timeline per id would call that a violation. A kill
        # phase's child has a clock of its own besides (see Phase).
        still = self.systems > 1
        ticked = 0.0
        if rng.random() < size.p_ticker and not still:
            ticks: list[Step] = []
            for _ in range(rng.randint(1, 3)):
                seconds = rng.choice([0.5, 1.0, 2.0])
                ticked += seconds
                ticks += [Nap(rng.random() * 0.003), Advance(seconds)]
            lanes.append(Lane(f"p{index}.ticker", OWN_THREAD, ticks))
        if fault == "" and rng.random() < size.p_close_mid:
            system = 0 if self.systems == 1 else rng.randrange(self.systems)
            closing: list[Step] = [Nap(rng.random() * 0.004), CloseSystem()]
            lanes.append(Lane(f"p{index}.{self.where(system)}closer", OWN_THREAD, closing, system))
        advance = rng.choice([0.0, 0.5, 1.0, 2.0, 4.0, 8.0])
        self.clock += ticked + advance
        child = 0 if self.systems == 1 else self.systems
        answers = sum(
            isinstance(s, Command) for lane in lanes if lane.system == child for s in lane.steps
        )
        return Phase(
            lanes,
            advance=advance,
            fault=fault,
            kill_after=rng.randint(answers // 5, max(1, answers * 3 // 4))
            if fault == "kill"
            else 0,
            kill_delay=rng.random() * 0.003 if fault == "kill" else 0.0,
            target=target,
        )


def generate(seed: int, size: Size = SMALL) -> Workload:
    gen = _Gen(seed, size)
    rng = gen.rng
    kill_at = rng.randrange(size.phases) if size.kill else -1
    phases: list[Phase] = []
    for index in range(size.phases):
        target = 0
        if index == kill_at:
            fault = "kill"
        elif rng.random() < size.p_reopen:
            fault = "reopen"
            if gen.systems > 1 and rng.random() < size.p_reopen_one:
                fault, target = "reopen-one", rng.randrange(gen.systems)
        else:
            fault = ""
        phases.append(gen.phase(index, fault, target))
    return Workload(seed, START_CLOCK, gen.ids, phases, gen.systems)
