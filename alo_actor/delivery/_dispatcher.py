"""Result-URL delivery: POST each outcome to its URLs until a 2xx, retrying on the clock.

One private event loop thread sends every POST (asyncio), so a thousand
deliveries in flight cost no threads. Retry backoffs are timers on the system's
clock (a ``ManualClock`` drives them); the per-request timeout and the signature
timestamp are real time.

The HTTP stack is httpx's: ``httpx.URL`` parses, httpcore and h11 speak
HTTP/1.1. Three parts of it are bypassed because they cost throughput (each
measured here, two cores): ``httpx.AsyncClient``'s layers (cookies, auth,
redirects, none wanted for webhooks; about 40% of the CPU per POST), httpcore's
anyio network backend (replaced by ``Stream`` on asyncio streams; about 30%),
and httpcore's pooling of many connections (its upkeep grows with the square
of them: 100 connections in one pool manage ~150 POSTs/s; here each connection
is a pool of one, and the dispatcher picks among them).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING

import httpcore
import httpx
import standardwebhooks

from alo_actor._stats import DeliveryStats
from alo_actor.delivery._payload import Delivery, DeliveryOptions
from alo_actor.delivery._transport import (
    CLOSE_TIMEOUT,
    USER_AGENT,
    Backend,
    describe_error,
    drain_body,
    parse_url,
)

if TYPE_CHECKING:
    from alo_actor._clock import Clock
    from alo_actor._timers import Timers

log = logging.getLogger("alo_actor.delivery")


class _Job:
    """A delivery on its way: how often it was tried, and the next backoff."""

    __slots__ = ("attempts", "delay", "delivery", "headers", "origin", "target")

    def __init__(self, delivery: Delivery, initial_interval: float) -> None:
        self.delivery = delivery
        self.attempts = 0
        self.delay = initial_interval
        # "scheme://host:port" as written: which kept-alive connection suits it.
        self.origin = "/".join(delivery.url.split("/", 3)[:3])
        # Filled in by prepare(), on the loop thread, so that dispatch() stays cheap.
        self.target: httpcore.URL | None = None
        self.headers: list[tuple[bytes, bytes]] = []

    def prepare(self) -> httpcore.URL:
        if self.target is None:
            delivery = self.delivery
            target, host = parse_url(delivery.url)
            # Header values go out as UTF-8 (an id may hold any non-space character).
            self.headers = [
                (b"Host", host),
                (b"User-Agent", USER_AGENT),
                *((k.encode("ascii"), v.encode()) for k, v in delivery.headers.items()),
                (b"Content-Length", str(len(delivery.body)).encode()),
            ]
            self.target = target
        return self.target


def _key(delivery: Delivery) -> tuple[str, str]:
    """Which ALO's outcome, to which URL: the same on every retry of one delivery (an
    ALO settles once, so there is one outcome to deliver)."""
    return (delivery.alo_id, delivery.url)


# One kept-alive connection (an httpcore pool of one).
_Connection = httpcore.AsyncConnectionPool

# What one POST says about the delivery.
_DONE, _RETRY, _GIVE_UP = 0, 1, 2


class Dispatcher:
    """Sends outcomes to result URLs and reports each delivery's end to ``on_final``.

    ``on_final(delivery, delivered, reason)`` is called exactly once per dispatched
    delivery, on the dispatcher's thread: ``(delivery, True, "HTTP 2xx")`` after a
    2xx, or ``(delivery, False, reason)`` when it gives up. Nothing is called after
    ``close()``.

    At most ``max_concurrency`` POSTs are in flight, and at most half of them to
    one origin (scheme, host and port), so a slow or dead receiver leaves the
    other half to everyone else; origins with deliveries waiting take turns.
    """

    def __init__(
        self,
        clock: Clock,
        timers: Timers,
        on_final: Callable[[Delivery, bool, str], None],
        options: DeliveryOptions | None = None,
        *,
        keep: Callable[[Delivery], bool] | None = None,
    ) -> None:
        options = options or DeliveryOptions()
        # Asked before each retry: False drops the delivery unreported (another process
        # holds its ALO now, and delivers it from there).
        self._keep = keep
        self._clock = clock
        self._timers = timers
        self._on_final = on_final
        self._options = options
        self._webhook = standardwebhooks.Webhook(options.secret) if options.secret else None
        self.stats = DeliveryStats()  # counted on the loop thread
        # Shared with other threads, under the lock.
        self._lock = threading.Lock()
        self._closed = False
        self._under_way: set[tuple[str, str]] = set()  # keys of deliveries pending
        self._backing_off = 0  # of the pending, those waiting for a retry on the clock
        self._inbox: list[_Job] = []
        self._woken = False
        # The loop thread's own. Jobs wait per origin, and origins take turns, so
        # that no receiver, however many deliveries it is owed or however slowly it
        # answers, holds more than its share of the connections while others wait.
        self._waiting: dict[str, deque[_Job]] = {}
        self._turns: deque[str] = deque()  # origins with jobs waiting and below their share
        self._busy: dict[str, int] = {}  # POSTs in flight per origin
        self._share = max(1, options.max_concurrency // 2)
        self._in_flight: dict[asyncio.Task[None], _Connection] = {}
        self._loop = asyncio.new_event_loop()
        # CA bundles from SSL_CERT_FILE / SSL_CERT_DIR are honoured; proxies are not:
        # the allow-list names the hosts that are reached.
        ssl_context = httpx.create_ssl_context(trust_env=True)
        backend = Backend()
        # One httpcore pool per connection (see the module's docstring). A connection
        # is free when no POST uses it; free ones are kept in the order they were
        # freed, and by the origin they last spoke to.
        self._connections = [
            httpcore.AsyncConnectionPool(
                ssl_context=ssl_context,
                max_connections=1,
                max_keepalive_connections=1,
                network_backend=backend,
            )
            for _ in range(options.max_concurrency)
        ]
        self._free: dict[_Connection, str] = dict.fromkeys(self._connections, "")
        self._free_by_origin: dict[str, dict[_Connection, None]] = {
            "": dict.fromkeys(self._connections)
        }
        self._thread = threading.Thread(target=self._run, name="alo-delivery", daemon=True)
        self._thread.start()

    def dispatch(self, delivery: Delivery) -> None:
        """Start delivering; returns at once, from any thread. A delivery already under
        way (the same ALO, URL and outcome, in flight or waiting for a retry) is not
        started twice: a process that gives up an ALO and takes it back finds its old
        job still waiting."""
        key = _key(delivery)
        with self._lock:
            if self._closed or key in self._under_way:
                return
            self._under_way.add(key)
            self._enqueue(_Job(delivery, self._options.initial_interval))

    def pending(self) -> int:
        """Deliveries dispatched and not final yet (in flight or waiting for a retry)."""
        with self._lock:
            return len(self._under_way)

    @property
    def request_timeout(self) -> float:
        return self._options.request_timeout

    def wait_idle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s until no POST is in flight; True if none is."""
        deadline = time.monotonic() + timeout
        while self.in_flight():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True

    def in_flight(self) -> int:
        """Deliveries being attempted now (pending, less those waiting for the clock)."""
        with self._lock:
            return len(self._under_way) - self._backing_off

    def close(self) -> None:
        """Stop sending; what is unfinished stays unfinished and is not reported."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._loop.call_soon_threadsafe(self._begin_shutdown)
        if threading.current_thread() is not self._thread:
            self._thread.join(CLOSE_TIMEOUT)

    # -- any thread, under the lock --

    def _enqueue(self, job: _Job) -> None:
        self._inbox.append(job)
        if not self._woken:
            self._woken = True
            self._loop.call_soon_threadsafe(self._drain_inbox)

    def _retry_due(self, job: _Job, done: Callable[[], None]) -> None:
        try:
            keep = self._keep is None or self._keep(job.delivery)
            with self._lock:
                self._backing_off -= 1
                if not keep:
                    self._under_way.discard(_key(job.delivery))
                elif not self._closed:
                    self._enqueue(job)
        finally:
            done()

    # -- the loop thread --

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    def _drain_inbox(self) -> None:
        with self._lock:
            jobs, self._inbox = self._inbox, []
            self._woken = False
            if self._closed:
                return
        for job in jobs:
            queue = self._waiting.get(job.origin)
            if queue is None:
                queue = self._waiting[job.origin] = deque()
                if self._busy.get(job.origin, 0) < self._share:
                    self._turns.append(job.origin)
            queue.append(job)
        self._start_ready()

    def _start_ready(self) -> None:
        turns, free, by_origin = self._turns, self._free, self._free_by_origin
        while turns and free:
            origin = turns.popleft()
            queue = self._waiting[origin]
            job = queue.popleft()
            busy = self._busy[origin] = self._busy.get(origin, 0) + 1
            if not queue:
                del self._waiting[origin]
            elif busy < self._share:
                turns.append(origin)
            # The connection that spoke to this origin last, else the longest free one.
            same = by_origin.get(origin)
            connection = next(reversed(same)) if same else next(iter(free))
            last = free.pop(connection)
            del by_origin[last][connection]
            if not by_origin[last]:
                del by_origin[last]
            task = self._loop.create_task(self._attempt(job, connection))
            self._in_flight[task] = connection
            task.add_done_callback(partial(self._attempt_ended, origin))

    def _attempt_ended(self, origin: str, task: asyncio.Task[None]) -> None:
        connection = self._in_flight.pop(task)
        self._free[connection] = origin
        self._free_by_origin.setdefault(origin, {})[connection] = None
        busy = self._busy.pop(origin) - 1
        if busy:
            self._busy[origin] = busy
        if busy == self._share - 1 and origin in self._waiting:
            self._turns.append(origin)  # it had used up its share; its turn again
        if not self._closed:
            self._start_ready()

    async def _attempt(self, job: _Job, connection: _Connection) -> None:
        options = self._options
        delivery = job.delivery
        if job.attempts == 0 and self._clock.now() - delivery.settled_at > options.give_up_after:
            self._give_up(job, f"older than the give-up age ({options.give_up_after:g} s)")
            return
        job.attempts += 1
        verdict, reason = await self._post(job, connection)
        if verdict != _DONE:
            self.stats.failed_posts += 1
        if verdict == _DONE:
            self._final(job, True, reason)
        elif verdict == _GIVE_UP:
            self._give_up(job, reason)
        else:
            at = self._clock.now() + job.delay
            if at - delivery.settled_at > options.give_up_after:
                self._give_up(
                    job,
                    f"{reason}; no retry within the give-up age "
                    f"({options.give_up_after:g} s, {job.attempts} attempts)",
                )
                return
            job.delay = min(job.delay * options.backoff_coefficient, options.maximum_interval)
            with self._lock:
                self._backing_off += 1
            self._timers.schedule(at, self._retry_due, job)

    async def _post(self, job: _Job, connection: _Connection) -> tuple[int, str]:
        delivery = job.delivery
        timeout = self._options.request_timeout
        try:
            target = job.prepare()
            headers = job.headers
            if self._webhook is not None:
                timestamp = int(time.time())  # real time, whatever the clock
                signature = self._webhook.sign(
                    delivery.webhook_id,
                    datetime.fromtimestamp(timestamp, UTC),
                    delivery.body.decode(),
                )
                headers = [
                    *headers,
                    (b"webhook-id", delivery.webhook_id.encode()),
                    (b"webhook-timestamp", str(timestamp).encode()),
                    (b"webhook-signature", signature.encode()),
                ]
            request = httpcore.Request(b"POST", target, headers=headers, content=delivery.body)
            # One limit on the whole exchange; the stream below keeps none of its own.
            async with asyncio.timeout(timeout):
                response = await connection.handle_async_request(request)
                try:
                    status = response.status
                    await drain_body(response)
                finally:
                    await response.aclose()
        except TimeoutError:
            return _RETRY, f"no answer within {timeout:g} s"
        except (
            httpx.InvalidURL,
            httpcore.UnsupportedProtocol,
            httpcore.LocalProtocolError,
        ) as error:
            return _GIVE_UP, describe_error(error)
        except (
            httpcore.NetworkError,
            httpcore.RemoteProtocolError,
            httpcore.TimeoutException,
            OSError,
        ) as error:
            return _RETRY, describe_error(error)
        except Exception as error:
            log.exception(
                "unexpected error delivering %r to %s",
                delivery.alo_id,
                delivery.url,
                extra={"alo_id": delivery.alo_id},
            )
            return _RETRY, describe_error(error)
        if 200 <= status < 300:
            return _DONE, f"HTTP {status}"
        if status in (408, 429) or status >= 500:
            return _RETRY, f"HTTP {status}"
        if 300 <= status < 400:
            return _GIVE_UP, f"HTTP {status} (redirects are not followed)"
        return _GIVE_UP, f"HTTP {status}"

    def _give_up(self, job: _Job, reason: str) -> None:
        delivery = job.delivery
        log.warning(
            "gave up delivering %r to %s: %s",
            delivery.alo_id,
            delivery.url,
            reason,
            extra={"alo_id": delivery.alo_id},
        )
        self._final(job, False, reason)

    def _final(self, job: _Job, delivered: bool, reason: str) -> None:
        with self._lock:
            if self._closed:
                return
        if delivered:
            self.stats.delivered += 1
        else:
            self.stats.abandoned += 1
        # Reported before it stops counting as in flight, so settle() never sees a
        # moment when the delivery is neither in flight nor in the supervisor's inbox.
        try:
            self._on_final(job.delivery, delivered, reason)
        except Exception:
            log.exception(
                "on_final failed for %r to %s",
                job.delivery.alo_id,
                job.delivery.url,
                extra={"alo_id": job.delivery.alo_id},
            )
        with self._lock:
            self._under_way.discard(_key(job.delivery))

    def _begin_shutdown(self) -> None:
        self._loop.create_task(self._shutdown())

    async def _shutdown(self) -> None:
        self._waiting.clear()
        self._turns.clear()
        tasks = list(self._in_flight)
        for task in tasks:
            task.cancel()
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT / 3):
                if tasks:
                    await asyncio.wait(tasks)
                await asyncio.gather(*[c.aclose() for c in self._connections])
        except TimeoutError:
            log.warning("delivery shutdown: connections did not close in time")
        finally:
            self._loop.stop()
