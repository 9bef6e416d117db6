"""Running a phase: its lanes at once, on threads and on a couple of event loops.

Every command is recorded as a ``check.Call`` (the clock and a monotonic stamp before
and after it, and its answer) through a ``Sink``. The same code runs in the test
process and in the child process that is killed mid-phase; each runs the lanes of the
system slots it holds.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Protocol

import msgspec

from alo_actor import AloError, AloInfo, AloSystem, ManualClock, SystemClosed
from tests.simulation.check import Call
from tests.simulation.protocol import (
    AnyCommand,
    Cancel,
    Complete,
    Fail,
    FailureView,
    GetInfo,
    GetResult,
    Info,
    Pause,
    Raised,
    Response,
    Resume,
    Start,
    Subscribe,
    Value,
)
from tests.simulation.workload import OWN_THREAD, Advance, CloseSystem, Lane, Nap, Phase

LANE_TIMEOUT = 60.0
_TERMINAL_TYPES = frozenset(
    ("Completed", "Failed", "Cancelled", "TimedOut")
)  # no lane of a healthy run takes a fraction of this


class SimulationError(Exception):
    """The run itself went wrong (a lane stuck, a child that would not start)."""


class Sink(Protocol):
    def invoked(self, key: str, lane: str, cmd: AnyCommand, inv: int, now: float) -> None: ...
    def answered(self, key: str, call: Call) -> None: ...
    def clock_moving(self, to: float) -> None: ...
    def closed(self) -> None:
        """The system was closed (called once the close has ended)."""


class Holder:
    """The system of one slot, which the lanes of that slot talk to and a lane may close
    under the others.

    ``generation`` counts the systems opened in the slot: a subscription lives in one.
    """

    def __init__(self, opener: Callable[[], AloSystem]) -> None:
        self.opener = opener
        self.system: AloSystem | None = None
        self.generation = 0

    def open(self) -> AloSystem:
        self.system = self.opener()
        self.generation += 1
        return self.system

    def current(self) -> AloSystem:
        if self.system is None:
            raise SystemClosed("no system is open")
        return self.system

    def close(self) -> None:
        if self.system is not None:
            self.system.close()


def resolve(cmd: AnyCommand, base_url: str) -> AnyCommand:
    """The command with the workload's URL paths turned into the receiver's URLs."""
    if isinstance(cmd, Start) and cmd.result_urls:
        return msgspec.structs.replace(cmd, result_urls=[base_url + p for p in cmd.result_urls])
    return cmd


def info_view(info: AloInfo) -> Info:
    failure = info.failure
    return Info(
        status=info.status.value,
        created=info.created,
        operation=info.operation,
        metadata=dict(info.metadata),
        result_urls=list(info.result_urls),
        attempt=info.attempt,
        created_at=info.created_at,
        settled_at=info.settled_at,
        deadline=info.deadline,
        failure=None
        if failure is None
        else FailureView(failure.message, failure.type, failure.details, failure.stack_trace),
        result_metadata=None if info.result_metadata is None else dict(info.result_metadata),
    )


def raised(exc: BaseException) -> Raised:
    failure = getattr(exc, "failure", None) if isinstance(exc, AloError) else None
    view = None
    if failure is not None:
        view = FailureView(failure.message, failure.type, failure.details, failure.stack_trace)
    return Raised(type(exc).__name__, view, str(exc)[:300])


class Notice(NamedTuple):
    """A subscriber was called: with what, and was the outcome in the log by then."""

    key: str
    alo_id: str
    info: Info
    durable: bool | None  # None: the system was closed, the log could not be read


class Subscription(NamedTuple):
    """A subscribe call: on which ALO, in which system (slot and generation)."""

    alo_id: str
    slot: int
    generation: int


Callback = Callable[[AloInfo], None]


def call_sync(system: AloSystem, cmd: AnyCommand, callback: Callback | None = None) -> Response:
    """Run ``cmd``; SystemClosed propagates (the call's effect is then unknown)."""
    try:
        if isinstance(cmd, Start):
            return info_view(
                system.start(
                    cmd.id,
                    cmd.operation,
                    cmd.input,
                    metadata=cmd.metadata,
                    result_urls=cmd.result_urls,
                    deadline=cmd.deadline,
                )
            )
        if isinstance(cmd, GetInfo):
            return info_view(system.get_info(cmd.id))
        if isinstance(cmd, Subscribe):
            assert callback is not None
            return info_view(system.subscribe(cmd.id, callback))
        if isinstance(cmd, GetResult):
            return Value(system.get_result(cmd.id, timeout=cmd.timeout))
        if isinstance(cmd, Complete):
            return info_view(system.complete(cmd.id, cmd.result, cmd.result_metadata))
        if isinstance(cmd, Fail):
            return info_view(system.fail(cmd.id, cmd.message, type=cmd.type, details=cmd.details))
        if isinstance(cmd, Cancel):
            return info_view(system.cancel(cmd.id, cmd.reason))
        if isinstance(cmd, Pause):
            return info_view(system.pause(cmd.id))
        if isinstance(cmd, Resume):
            return info_view(system.resume(cmd.id))
    except SystemClosed:
        raise
    except Exception as exc:
        return raised(exc)
    raise TypeError(f"unknown command {cmd!r}")


async def call_async(
    system: AloSystem, cmd: AnyCommand, callback: Callback | None = None
) -> Response:
    aio = system.aio
    try:
        if isinstance(cmd, Start):
            return info_view(
                await aio.start(
                    cmd.id,
                    cmd.operation,
                    cmd.input,
                    metadata=cmd.metadata,
                    result_urls=cmd.result_urls,
                    deadline=cmd.deadline,
                )
            )
        if isinstance(cmd, GetInfo):
            return info_view(await aio.get_info(cmd.id))
        if isinstance(cmd, Subscribe):
            assert callback is not None
            return info_view(await aio.subscribe(cmd.id, callback))
        if isinstance(cmd, GetResult):
            return Value(await aio.get_result(cmd.id, timeout=cmd.timeout))
        if isinstance(cmd, Complete):
            return info_view(await aio.complete(cmd.id, cmd.result, cmd.result_metadata))
        if isinstance(cmd, Fail):
            return info_view(
                await aio.fail(cmd.id, cmd.message, type=cmd.type, details=cmd.details)
            )
        if isinstance(cmd, Cancel):
            return info_view(await aio.cancel(cmd.id, cmd.reason))
        if isinstance(cmd, Pause):
            return info_view(await aio.pause(cmd.id))
        if isinstance(cmd, Resume):
            return info_view(await aio.resume(cmd.id))
    except SystemClosed:
        raise
    except Exception as exc:
        return raised(exc)
    raise TypeError(f"unknown command {cmd!r}")


class Executor:
    """Runs phases: the lanes of the slots in ``holders``, each on its slot's system."""

    def __init__(
        self, holders: Mapping[int, Holder], clock: ManualClock, sink: Sink, base_url: str
    ) -> None:
        self.holders = holders
        self.clock = clock
        self.sink = sink
        self.base_url = base_url
        self.errors: list[str] = []
        self.subscribed: dict[str, Subscription] = {}  # by call key
        self.subscriptions_answered: dict[str, Response | None] = {}
        self.notices: list[Notice] = []
        self._lock = threading.Lock()

    def _callback(self, key: str, cmd: AnyCommand, slot: int) -> Callback | None:
        if not isinstance(cmd, Subscribe):
            return None
        alo_id = cmd.id
        holder = self.holders[slot]
        with self._lock:
            self.subscribed[key] = Subscription(alo_id, slot, holder.generation)

        def called(info: AloInfo) -> None:
            durable: bool | None
            try:
                stored = holder.current().log.read_stream(alo_id)
                durable = any(e.type in _TERMINAL_TYPES for e in stored)
            except Exception:
                durable = None
            with self._lock:
                self.notices.append(Notice(key, alo_id, info_view(info), durable))

        return called

    def _record_start(self, lane: Lane, index: int, cmd: AnyCommand) -> tuple[str, int, float]:
        key = f"{lane.name}#{index}"
        now = self.clock.now()
        inv = time.monotonic_ns()
        self.sink.invoked(key, lane.name, cmd, inv, now)
        return key, inv, now

    def _record_end(
        self, key: str, lane: Lane, cmd: AnyCommand, inv: int, now: float, response: Response | None
    ) -> None:
        res = time.monotonic_ns()
        if isinstance(cmd, Subscribe):
            with self._lock:
                self.subscriptions_answered[key] = response
        call = Call(lane.name, cmd, inv, res, now, self.clock.now(), response)
        self.sink.answered(key, call)

    def _control(self, lane: Lane, step: Nap | Advance | CloseSystem) -> None:
        """Run a step that is not a command."""
        if isinstance(step, Nap):
            time.sleep(step.seconds)
        elif isinstance(step, Advance):
            self.sink.clock_moving(self.clock.now() + step.seconds)
            self.clock.advance(step.seconds)
        else:
            self.holders[lane.system].close()
            self.sink.closed()  # once closed: a POST accepted while closing was cut short

    def run_thread_lane(self, lane: Lane, barrier: threading.Barrier) -> None:
        barrier.wait(LANE_TIMEOUT)
        holder = self.holders[lane.system]
        for index, step in enumerate(lane.steps):
            if isinstance(step, Nap | Advance | CloseSystem):
                self._control(lane, step)
                continue
            cmd = resolve(step, self.base_url)
            key, inv, now = self._record_start(lane, index, cmd)
            try:
                callback = self._callback(key, cmd, lane.system)
                response: Response | None = call_sync(holder.current(), cmd, callback)
            except SystemClosed:
                response = None
            self._record_end(key, lane, cmd, inv, now, response)
            if response is None:
                return  # the system is closed: the rest of the lane would only fail

    async def run_task_lane(self, lane: Lane) -> None:
        holder = self.holders[lane.system]
        for index, step in enumerate(lane.steps):
            if isinstance(step, Nap):
                await asyncio.sleep(step.seconds)
                continue
            if isinstance(step, Advance | CloseSystem):
                await asyncio.to_thread(self._control, lane, step)
                continue
            cmd = resolve(step, self.base_url)
            key, inv, now = self._record_start(lane, index, cmd)
            try:
                callback = self._callback(key, cmd, lane.system)
                response: Response | None = await call_async(holder.current(), cmd, callback)
            except SystemClosed:
                response = None
            self._record_end(key, lane, cmd, inv, now, response)
            if response is None:
                return

    def run_loop(self, lanes: list[Lane], barrier: threading.Barrier) -> None:
        async def main() -> None:
            await asyncio.gather(*(self.run_task_lane(lane) for lane in lanes))

        barrier.wait(LANE_TIMEOUT)
        asyncio.run(main())

    def run_phase(self, phase: Phase) -> None:
        """Run the lanes of ``phase`` on this executor's slots at once and wait for all."""
        lanes = [lane for lane in phase.lanes if lane.system in self.holders]
        if not lanes:
            return
        loops: dict[int, list[Lane]] = {}
        threads: list[threading.Thread] = []
        own = [lane for lane in lanes if lane.loop == OWN_THREAD]
        for lane in lanes:
            if lane.loop != OWN_THREAD:
                loops.setdefault(lane.loop, []).append(lane)
        barrier = threading.Barrier(len(own) + len(loops))
        for lane in own:
            threads.append(self._thread(lane.name, self.run_thread_lane, lane, barrier))
        for loop, lanes in sorted(loops.items()):
            threads.append(self._thread(f"loop{loop}", self.run_loop, lanes, barrier))
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + LANE_TIMEOUT
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        stuck = [t.name for t in threads if t.is_alive()]
        if stuck:
            raise SimulationError(f"lanes still running after {LANE_TIMEOUT} s: {stuck}")
        if self.errors:
            raise SimulationError("; ".join(self.errors))

    def _thread(self, name: str, target: Callable[..., None], *args: Any) -> threading.Thread:
        def guarded() -> None:
            try:
                target(*args)
            except BaseException as exc:
                self.errors.append(f"{name}: {type(exc).__name__}: {exc}")

        return threading.Thread(target=guarded, name=f"sim-{name}", daemon=True)
