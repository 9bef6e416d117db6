"""AloSystem: the embeddable engine (sync API; ``system.aio`` is the asyncio twin)."""

from __future__ import annotations

import contextlib
import datetime
import os
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from types import TracebackType
from typing import Any

import pykka

from actors import DEFAULT_LEASE_SECONDS, Deliver, EntityHost, Foreign, Shards, SyncReply
from alo_actor._aio import AsyncAloSystem
from alo_actor._batch_sync import BatchVerbs
from alo_actor._clock import Clock, SystemClock
from alo_actor._errors import InvalidArgument, SystemClosed
from alo_actor._events import AloEvent
from alo_actor._handlers import Handler, RetryPolicy, Runner, registration
from alo_actor._machine import AloState, Command, Pause, Read, Resume
from alo_actor._model import AloInfo, Failure
from alo_actor._requests import (
    cancel_command,
    complete_command,
    fail_command,
    info_of,
    result_of,
    start_command,
)
from alo_actor._stats import SystemStats
from alo_actor._supervisor import (
    INFO,
    RESULT,
    SUBSCRIBE,
    AloBehavior,
    Ask,
    DeliveriesOwed,
    Forget,
    Lost,
    Recovered,
    Register,
    Unwait,
)
from alo_actor._timers import Timers
from alo_actor._validate import LOOPBACK_HOSTS, check_id, check_timeout
from alo_actor.delivery import DeliveryOptions, Dispatcher
from alo_actor.readmodel import (
    OPEN_ALOS,
    AloPage,
    AutoPurge,
    StatusFilter,
    TimeBound,
    ensure_projection,
    list_alos,
    projector,
    purge,
    retention_seconds,
)
from eventlog import Claim, Durability, EventLog, Head, RecordedEvent


class AloSystem(BatchVerbs):
    """Durable promises in one SQLite log: open it, register handlers, start ALOs.

    ``log`` is the EventLog, ``clock`` the clock every time is read from,
    ``allowed_callback_hosts`` the host names result URLs may name (None: any),
    ``aio`` the asyncio face (AsyncAloSystem). Every verb raises SystemClosed once
    the system is closed.
    """

    def __init__(
        self,
        log: EventLog,
        *,
        clock: Clock | None = None,
        workers: int = 16,
        allowed_callback_hosts: Collection[str] | None = None,
        webhook_secret: str | None = None,
        delivery: DeliveryOptions | None = None,
        retention: float | datetime.timedelta | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> None:
        """Run the engine over an open ``log`` (it takes the log over: ``close``
        closes it) and restore every ALO in it; the options are ``open``'s.

        Raises InvalidArgument for a bad option, and what ``ensure_projection``
        raises for a log this version cannot read (eventlog.SchemaError).
        """
        # First: a log this program cannot project is refused before any thread starts.
        ensure_projection(log)
        retention = None if retention is None else retention_seconds(retention)
        self.log = log
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.allowed_callback_hosts = _callback_hosts(allowed_callback_hosts)
        if webhook_secret is not None:
            delivery = replace(delivery or DeliveryOptions(), secret=webhook_secret)
        self._runner = Runner(workers)
        self._timers = Timers(self.clock)
        self._behavior = AloBehavior(self.clock, self._runner, self._timers)
        self._behavior.project = projector(log)  # the read model in the log's dialect
        self._dispatcher = Dispatcher(
            self.clock,
            self._timers,
            self._behavior.delivery_final,
            delivery or DeliveryOptions(),
            keep=lambda delivery: self._behavior.owns(delivery.alo_id),
        )
        self._behavior.dispatcher = self._dispatcher
        self.stats = SystemStats(
            self._behavior.stats, log.commit_stats, self._dispatcher.stats, self._dispatcher.pending
        )
        self._closed = False
        self._close_lock = threading.Lock()
        host_ref: pykka.ActorRef[EntityHost[AloState, AloEvent]] = EntityHost.start(
            log, self._behavior
        )
        self._ref = host_ref
        self._tell = host_ref.tell
        self.aio = AsyncAloSystem(self)
        # Several processes over one log (semantics §8): the shards this one holds, and
        # the others' writes, read as they commit.
        self._shards = Shards(
            log,
            on_claimed=self._claimed,
            on_lost=self._lost,
            executes=lambda: bool(self._behavior.registry),
            busy=self._behavior.running_in,
            lease_seconds=lease_seconds,
        )
        self._behavior.shards = self._shards
        follower = log.follow(self._foreign)
        host_ref.proxy().follow(follower.poke).get(timeout=60)
        self._opening = True
        try:
            self._shards.start()  # claims what is free now and recovers it, before returning
        except BaseException:
            self._timers.close()
            self._dispatcher.close()
            self._stop_engine()
            raise
        self._opening = False
        self._auto_purge = (
            None
            if retention is None
            else AutoPurge(retention, self.clock, self._timers, self._purge_settled)
        )

    @classmethod
    def open(
        cls,
        path: str = "alo.db",
        *,
        clock: Clock | None = None,
        durability: Durability = "normal",
        workers: int = 16,
        allowed_callback_hosts: Collection[str] | None = None,
        webhook_secret: str | None = None,
        delivery: DeliveryOptions | None = None,
        retention: float | datetime.timedelta | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> AloSystem:
        """Open (creating if needed) the log at ``path`` and restore every ALO in it;
        returns the running system (close it, or use it as a context manager).

        ``":memory:"`` gives a throwaway log. ``clock`` defaults to the system clock
        (pass a ManualClock to drive time by hand); ``durability`` ``"full"`` survives
        power loss, ``"normal"`` a process crash. ``workers``: threads for sync
        handlers and subscribers. ``allowed_callback_hosts`` restricts result URLs to
        those host names (``"loopback"`` means 127.0.0.1, localhost, ::1).
        ``webhook_secret`` signs result-URL POSTs (Standard Webhooks); ``delivery``
        tunes their retries. ``retention`` (seconds or a timedelta) purges, on the
        clock, the ALOs that settled longer ago than that (see ``purge``).
        ``lease_seconds``: how long this process's hold on its share of the ALOs lasts
        without a heartbeat; another process sharing the log takes them over once it
        lapses (semantics §8).

        Raises InvalidArgument for a bad option, and eventlog's errors for a file
        that is not a log this version can open (SchemaError) or cannot be opened.
        """
        log = EventLog.open(path, durability=durability)
        try:
            return cls(
                log,
                clock=clock,
                workers=workers,
                allowed_callback_hosts=allowed_callback_hosts,
                webhook_secret=webhook_secret,
                delivery=delivery,
                retention=retention,
                lease_seconds=lease_seconds,
            )
        except BaseException:
            log.close()
            raise

    def _claimed(self, claims: Sequence[Claim]) -> None:
        """Shards just claimed (at open, or when another process left or died): restore
        their ALOs. Runs after the claim, so it reads everything committed before it."""
        shards = {claim.lease.shard for claim in claims}
        shard_of = self.log.shard_of
        # Both read before the supervisor writes anything: recovering an overdue ALO
        # commits its timeout (and the delivery it owes, dispatched then), and must not
        # be found owed a second time by a query that runs after that commit.
        owed_ids = self.log.streams_having("DeliveriesDue", lacking=["DeliveriesFinished"])
        owed = self._states(i for i in owed_ids if shard_of(i) in shards)
        open_ids = (row[0] for row in self.log.query(OPEN_ALOS))
        open_alos = self._states(i for i in open_ids if shard_of(i) in shards)
        # At open the system is not returned before its ALOs are restored.
        reply = SyncReply() if self._opening else None
        self._tell(Recovered([s for s in open_alos if not s.terminal], reply))
        if reply is not None:
            reply.result(timeout=60)
        owed_now = [s for s in owed if s.terminal]
        if owed_now:
            self._tell(DeliveriesOwed(owed_now))

    def _lost(self, shards: Collection[int]) -> None:
        """Another process holds these shards now: stop the attempts running here."""
        with contextlib.suppress(pykka.ActorDeadError):
            self._tell(Lost(frozenset(shards)))

    def _foreign(self, events: Sequence[RecordedEvent], head: Head) -> None:
        """The follower read other processes' commits: the supervisor applies them."""
        with contextlib.suppress(pykka.ActorDeadError):  # closing
            self._tell(Foreign(events, head))

    def _states(self, ids: Iterable[str]) -> list[AloState]:
        # Read a few hundred streams a query: on a server, one round trip per ALO made
        # reopening a log with many open ALOs slow.
        replay = self._behavior.replay
        states = (replay(i, events) for i, events in self.log.read_streams(ids))
        return [s for s in states if s is not None]

    # -- plumbing ----------------------------------------------------------------

    def _send(self, message: Any) -> None:
        """Tell the supervisor (raises SystemClosed once the system is closed)."""
        if self._closed:
            raise SystemClosed("the ALO system is closed")
        try:
            self._tell(message)
        except pykka.ActorDeadError as exc:
            raise SystemClosed("the ALO system is closed") from exc

    def _ask(self, alo_id: str, command: Command, want: int, timeout: float | None = None) -> Any:
        reply = SyncReply()
        self._send(Deliver(alo_id, Ask(command, reply, want)))
        if self._answered(reply, timeout):
            if reply.error is not None:
                raise reply.error
            return reply.value
        self._send(Unwait(alo_id, reply))
        # The timeout bounds the wait for the ALO to settle, not the round trip to the
        # supervisor: one already settled (timeout=0 included) answers.
        state, _ = self._ask(alo_id, Read(), INFO)
        if state.terminal:
            return state
        raise TimeoutError(f"ALO {alo_id!r} did not settle within {timeout} s")

    @property
    def member(self) -> str:
        """This system's name in the group of processes sharing its log: the ``owner`` of
        the leases it holds (``system.log.leases()``; semantics §8)."""
        return self._shards.id

    @property
    def registered_operations(self) -> Collection[str]:
        """The operation names with a handler registered in this process (a live view)."""
        return self._behavior.registry.keys()

    # -- the API -----------------------------------------------------------------

    def register(self, operation: str, handler: Handler, retry: RetryPolicy | None = None) -> None:
        """Run ``handler(ctx, input)`` for ALOs of ``operation`` (sync or ``async def``),
        retried as ``retry`` says (default: RetryPolicy()); a second registration of
        the same name replaces the first. Returns None.

        ALOs of this operation left RUNNING by an earlier process start a new attempt.
        Raises InvalidArgument for an empty name or a handler that is not callable.
        """
        reg = registration(operation, handler, retry)
        reply = SyncReply()
        self._send(Register(reg, reply))
        reply.result(timeout=60)
        # A process with handlers takes shards from one without (semantics §8).
        self._shards.rebalance()

    def start(
        self,
        id: str,
        operation: str | None = None,
        input: Any = None,
        *,
        metadata: Mapping[str, str] | None = None,
        result_urls: list[str] | None = None,
        timeout: float | None = None,
        deadline: float | None = None,
    ) -> AloInfo:
        """Create the ALO, or return it unchanged if this very start was made before;
        returns its AloInfo, ``created`` saying which (semantics §2).

        ``operation`` None makes an external promise (settled by ``complete``,
        ``fail`` or ``cancel``); ``timeout`` (seconds from now) or ``deadline`` (a
        time on the clock) bounds it. Raises AlreadyExists if the id is taken by a
        different start, NotFound for an operation with no handler registered,
        InvalidArgument for a bad argument (nothing is written either way).
        """
        command = start_command(
            id,
            operation,
            input,
            metadata,
            result_urls,
            timeout,
            deadline,
            now=self.clock.now(),
            registered=self._behavior.registry,
            allowed_hosts=self.allowed_callback_hosts,
        )
        return info_of(self._ask(id, command, INFO))

    def get_info(self, id: str) -> AloInfo:
        """What is known of the ALO now. Raises NotFound, or InvalidArgument for a bad id."""
        return info_of(self._ask(check_id(id), Read(), INFO))

    def get_result(self, id: str, timeout: float | None = None) -> Any:
        """The result, waiting up to ``timeout`` s (None: for ever) for the ALO to settle.

        Raises OperationFailed / OperationCancelled / OperationTimedOut for those
        outcomes, the built-in TimeoutError if it does not settle in time, NotFound,
        InvalidArgument for a bad id or timeout, SystemClosed if the system closes
        while it waits.
        """
        timeout = check_timeout(timeout)
        return result_of(self._ask(check_id(id), Read(), RESULT, timeout))

    def complete(
        self, id: str, result: Any = None, result_metadata: Mapping[str, str] | None = None
    ) -> AloInfo:
        """Settle the ALO as COMPLETED with ``result``; returns its info (unchanged if it
        had settled already: the first outcome wins). Raises NotFound, or
        InvalidArgument for a result or metadata that cannot be stored."""
        return info_of(self._ask(check_id(id), complete_command(result, result_metadata), INFO))

    def fail(
        self,
        id: str,
        message: str | Failure,
        *,
        type: str | None = None,
        details: Any = None,
        stack_trace: str | None = None,
    ) -> AloInfo:
        """Settle the ALO as FAILED with this failure (a message and its parts, or a
        Failure); returns its info (unchanged if it had settled already). Raises
        NotFound, or InvalidArgument for details that cannot be stored."""
        command = fail_command(message, type, details, stack_trace)
        return info_of(self._ask(check_id(id), command, INFO))

    def cancel(self, id: str, reason: str | None = None) -> AloInfo:
        """Settle the ALO as CANCELLED and tell a running attempt to stop; returns its
        info (unchanged if it had settled already). Raises NotFound or InvalidArgument."""
        return info_of(self._ask(check_id(id), cancel_command(reason), INFO))

    def pause(self, id: str) -> AloInfo:
        """Stop new attempts of a RUNNING ALO (PAUSED); returns its info (unchanged if
        it is not RUNNING). Raises NotFound or InvalidArgument."""
        return info_of(self._ask(check_id(id), Pause(), INFO))

    def resume(self, id: str) -> AloInfo:
        """Make a PAUSED ALO RUNNING again, starting an attempt if none runs and no
        retry is pending; returns its info (unchanged if it is not PAUSED). Raises
        NotFound or InvalidArgument."""
        return info_of(self._ask(check_id(id), Resume(), INFO))

    def subscribe(self, id: str, callback: Callable[[AloInfo], object]) -> AloInfo:
        """Call ``callback(info)`` once the ALO's outcome is durable (at once if it is).

        Returns the ALO's info as it is now. Callbacks run on the worker pool, never
        on an actor thread; one that raises is logged and disturbs no other.
        Subscriptions live in this process only. Raises NotFound, or InvalidArgument
        for a bad id or a callback that is not callable.
        """
        if not callable(callback):
            raise InvalidArgument("callback must be callable: callback(info)")
        reply = SyncReply()
        self._send(Deliver(check_id(id), Ask(Read(), reply, SUBSCRIBE, callback)))
        return info_of(reply.result(timeout=60))

    def purge(
        self,
        settled_before: TimeBound,
        status: StatusFilter = None,
        archive: str | os.PathLike[str] | None = None,
    ) -> int:
        """Delete the ALOs that settled before ``settled_before``; returns how many.

        Their events and projection rows go in one transaction per chunk; afterwards
        they answer NotFound (their ids may be started anew). ``status``: only these
        terminal statuses. ``archive``: a JSON Lines file that each one is appended to
        first (its info and decoded events). ALOs still owing a result URL their
        outcome are kept until the delivery is recorded. Raises InvalidArgument for
        a bad time or status, or an archive that cannot be opened for writing.
        """
        if self._closed:
            raise SystemClosed("the ALO system is closed")
        return purge(self.log, settled_before, status=status, archive=archive, forget=self._forget)

    def _purge_settled(self, before: float) -> int:
        return purge(self.log, before, forget=self._forget)

    def _forget(self, ids: list[str]) -> None:
        reply = SyncReply()
        self._send(Forget(ids, reply))
        reply.result(timeout=60)

    # The spec's name; below it, annotations must say `builtins.list` (mypy takes
    # `list` in this class body for the method).
    def list(
        self,
        status: StatusFilter = None,
        *,
        operation: str | None = None,
        metadata: Mapping[str, str] | None = None,
        created_after: TimeBound = None,
        created_before: TimeBound = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> AloPage:
        """A page of ALOs in creation order that pass every filter (semantics §6).

        ``status``: one Status or word, or several; ``metadata``: every pair must
        match exactly; ``created_after`` is inclusive, ``created_before`` exclusive
        (clock seconds or an aware datetime); ``limit`` 1 to 1000. Pass a page's
        ``next_cursor`` back, with the same filters, for the next page. Raises
        InvalidArgument for a bad filter or cursor.
        """
        if self._closed:
            raise SystemClosed("the ALO system is closed")
        return list_alos(
            self.log,
            status=status,
            operation=operation,
            metadata=metadata,
            created_after=created_after,
            created_before=created_before,
            limit=limit,
            cursor=cursor,
        )

    def settle(self, timeout: float = 30.0) -> None:
        """Return once nothing is pending: no message, commit, handler step, subscriber
        call or delivery attempt in progress, and no timer already due.

        For simulations that step the engine together with a ManualClock. Work that
        waits for the clock (a retry backoff, a deadline, a delivery retry) is not
        pending: advance the clock to make it due. Raises the built-in TimeoutError
        if it is still busy after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        quiet_rounds = 0
        while quiet_rounds < 2:  # twice in a row: an outcome may be on its way back
            if time.monotonic() > deadline:
                raise TimeoutError(f"the system did not settle within {timeout} s")
            quiet = (
                self._runner.busy == 0
                and not self._timers.busy()
                and self._dispatcher.in_flight() == 0
                and self._ref.proxy().busy_count().get(timeout=timeout) == 0
            )
            quiet_rounds = quiet_rounds + 1 if quiet else 0
            if not quiet:
                time.sleep(0.001)

    # -- lifetime ----------------------------------------------------------------

    def close(self) -> None:
        """Finish what was acknowledged or in flight, then close the log. Idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        if self._auto_purge is not None:
            self._auto_purge.close()
        self._timers.close()
        self._quiesce(timeout=10.0)
        # A POST already sent is let finish and its answer recorded: dropped, a receiver
        # that accepted it would get it again after reopen (semantics §5: exactly once
        # with no crash). Bounded by the request timeout; a retry is not started.
        self._dispatcher.wait_idle(self._dispatcher.request_timeout)
        self._quiesce(timeout=10.0)
        self._dispatcher.close()
        self._stop_engine()

    def _stop_engine(self) -> None:
        # The leases go first, so that another process takes over the ALOs at once.
        self._shards.stop()
        self._ref.stop(block=True, timeout=30)
        self._runner.close()
        self.log.close()

    def _quiesce(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                busy = self._ref.proxy().busy_count().get(timeout=5)
            except pykka.ActorDeadError:
                return
            if busy == 0:
                return
            time.sleep(0.001)

    @property
    def closed(self) -> bool:
        """Whether ``close`` has begun (every verb then raises SystemClosed)."""
        return self._closed

    def __enter__(self) -> AloSystem:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _callback_hosts(hosts: Collection[str] | None) -> frozenset[str] | None:
    """The allow-list as checked: lower case, ``"loopback"`` standing for its names."""
    if hosts is None:
        return None
    if isinstance(hosts, str):
        raise InvalidArgument("allowed_callback_hosts must be a collection of host names")
    names = {host.lower() for host in hosts}
    if "loopback" in names:
        names.discard("loopback")
        names |= LOOPBACK_HOSTS
    return frozenset(names)
