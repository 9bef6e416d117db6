"""``GET /v1/changes``: every event appended to the log, as Server-Sent Events.

Each SSE event is one log event: ``id:`` is its log position (so ``Last-Event-ID``
resumes right after it), ``data:`` names the ALO, the event's type and the ALO's
current info. A comment line keeps a quiet stream alive; the stream ends cleanly
when the server shuts down, after the server's long-poll cap (a client reconnects
with ``Last-Event-ID``, as EventSource does by itself), or when the client leaves.

All the streams of a server share one ``HeadWatch``: the only place that learns that
the log moved. Reads of the log run in worker threads, never on the event loop. The
infos come from the read model, not from the engine: a stream costs the engine
nothing, however fast the log moves.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import AsyncIterator
from typing import Annotated, NamedTuple

import msgspec
from litestar import get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import HeaderParameter, QueryParameter
from litestar.response import Stream

from alo_actor._errors import InvalidArgument
from alo_actor._model import AloInfo, Status
from alo_actor._system import AloSystem
from alo_actor._validate import MAX_ID_LENGTH
from alo_actor._wire import InfoBody, info_body
from alo_actor.http._docs import error_responses
from alo_actor.http._longpoll import PollInterrupted
from alo_actor.http._service import AnyRequest, Service, service_of
from alo_actor.readmodel._listing import infos_of
from eventlog import RecordedEvent

# The longest a watcher waits on the log's frontier before it looks again whether any
# stream still waits (it wakes at once on a commit, here or by another process).
POLL_INTERVAL = 0.5
KEEPALIVE = 5.0  # seconds of quiet before a comment line is sent
BATCH = 500  # events read (and their ALOs looked up) at a time
# The least time between two reads of a stream that follows one ALO (``?id=``). It is
# woken by every commit in the log, of any ALO, and each wake is a read of that ALO's
# events: without this, a query per such stream per commit. The first change after a
# quiet spell still goes out at once.
STREAM_READ_INTERVAL = 0.1
RETRY_MS = 2000  # the reconnection delay suggested to EventSource clients
EVENT_STREAM = "text/event-stream"
# A log position, or nothing, with spaces or tabs around as HTTP allows.
# As documented: at most 18 digits, so every value it admits is a position (a 19-digit
# one up to MAX_POSITION is taken too).
LAST_EVENT_ID_PATTERN = r"[ \t]*[0-9]{0,18}[ \t]*"
_POSITION = re.compile(r"[ \t]*[0-9]+[ \t]*")
_DIGITS = re.compile(r"[0-9]+")

logger = logging.getLogger("alo_actor.http")


class ChangeBody(msgspec.Struct, frozen=True):
    """One change: the event at ``position`` of ALO ``id``, and that ALO's info now.

    ``status`` and ``info`` are the ALO's as committed when the change is sent (at or
    after ``position``, from the read model); both are null when the ALO is gone
    (purged).
    """

    position: int
    id: str
    type: str
    status: Status | None
    info: InfoBody | None


class Batch(NamedTuple):
    """The frames of up to BATCH events after a position, and where they end."""

    size: int  # the events read
    last: int  # the position of the last of them (the position read after, if none)
    frames: bytes


class _Shared(NamedTuple):
    """A read of the whole log after one position, in flight, for every stream that
    asks for the same position meanwhile."""

    begun: int  # the frontier's covered position when the read began
    task: asyncio.Future[Batch]


class HeadWatch:
    """Tells waiting streams when the log's last position moves past theirs.

    One watcher for every stream of a server, running only while a stream waits: it
    waits, off the event loop, on the log's frontier (``eventlog.Frontier.wait_past``),
    which moves at each commit of this process and as the log's follower applies those
    of others, so a stream wakes as soon as the event is in this process's view.
    A shutdown (``Service.begin_shutdown``) cancels the watcher, which ends every wait.
    """

    def __init__(self, service: Service) -> None:
        self._service = service
        self._head = -1
        self._tick = asyncio.Event()
        self._waiting = 0
        self._poller: asyncio.Task[None] | None = None
        self._stopped = False
        self.streams = 0  # the change streams open now (each counts itself in and out)
        self.stream_reads = 0  # reads of one ALO's events, by streams given an id
        self.log_reads = 0  # reads of the whole log, each shared by the streams asking it
        self._shared: dict[int, _Shared] = {}  # reads in flight, by the position read after

    async def wait_past(self, position: int, timeout: float) -> int | None:
        """The log's last position once it is past ``position``; ``None`` after ``timeout``
        seconds without that. Raises PollInterrupted when the server is shutting down."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._waiting += 1
        try:
            self._ensure_poller()
            while True:
                if self._stopped:
                    raise PollInterrupted
                if self._head > position:
                    return self._head
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return None
                try:
                    await asyncio.wait_for(self._tick.wait(), remaining)
                except TimeoutError:
                    return None
                if self._poller is None and not self._stopped:
                    return None  # the poller failed: let the stream read the log itself
        finally:
            self._waiting -= 1

    async def read_after(self, position: int, woken_at: int) -> Batch:
        """The frames of the log's events after ``position`` (at most BATCH), read in a
        worker thread, once for all the streams that ask for the same position while
        the read is in flight: the streams that have caught up, woken by one commit,
        all ask at once. Raises what the read raised.

        A read in flight serves a stream if it holds every event up to ``woken_at``
        (the head that woke the stream): if it began once this process had seen them
        all, or if the stream needs none past ``position``. Only reads in flight are
        shared, so that each change's info is as fresh as the stream's own read.
        """
        shared = self._shared.get(position)
        if shared is None or (woken_at > position and shared.begun < woken_at):
            service = self._service
            system = service.system
            begun = system.log.frontier.covered
            task = asyncio.ensure_future(
                asyncio.to_thread(_read_frames, system, position, None, service.expose_stack_traces)
            )
            task.add_done_callback(functools.partial(self._read_done, position))
            shared = self._shared[position] = _Shared(begun, task)
            self.log_reads += 1
        # Shielded: a stream whose client left stops waiting; the read goes on for the
        # others.
        return await asyncio.shield(shared.task)

    def _read_done(self, position: int, task: asyncio.Future[Batch]) -> None:
        shared = self._shared.get(position)
        if shared is not None and shared.task is task:
            del self._shared[position]
        if not task.cancelled():
            task.exception()  # taken: none is left unretrieved when no stream waits

    def _ensure_poller(self) -> None:
        if self._poller is not None or self._stopped:
            return
        poller = asyncio.get_running_loop().create_task(self._poll())
        if not self._service.track_poll(poller):
            poller.cancel()
            self._stop()
            return
        self._poller = poller

    async def _poll(self) -> None:
        frontier = self._service.system.log.frontier
        task = asyncio.current_task()
        assert task is not None
        try:
            while self._waiting:
                # Positions given, never lowered by a purge of the newest ALOs.
                head = await asyncio.to_thread(frontier.wait_past, self._head, POLL_INTERVAL)
                if head != self._head:
                    self._head = head
                    self._wake()
        except asyncio.CancelledError:
            if not self._service.interrupted(task):
                raise
            self._stop()
        except Exception:
            # The log cannot be read (it is closing): the streams, woken, read it
            # themselves and end with the error; a later wait starts a new poller.
            logger.exception("the changes feed could not read the log's last position")
            self._wake()
        finally:
            self._poller = None
            self._service.untrack_poll(task)

    def _wake(self) -> None:
        tick, self._tick = self._tick, asyncio.Event()
        tick.set()

    def _stop(self) -> None:
        self._stopped = True
        self._wake()


def watch_of(request: AnyRequest) -> HeadWatch:
    """The app's HeadWatch (put in its state by ``create_app``)."""
    watch: HeadWatch = request.app.state.changes
    return watch


# The largest log position (positions are signed 64-bit integers in both backends).
MAX_POSITION = 2**63 - 1


def start_position(after: int | None, last_event_id: str | None) -> int | None:
    """Where a stream starts: after ``Last-Event-ID`` (a reconnection), else after
    ``after``; ``None`` for "from now". Raises InvalidArgument for a bad value."""
    if last_event_id is not None and last_event_id.strip(" \t"):
        # An empty one is none (EventSource sends none until it has an id).
        if _POSITION.fullmatch(last_event_id) is None or int(last_event_id) > MAX_POSITION:
            raise InvalidArgument(
                f"Last-Event-ID must be a log position (an integer >= 0), not {last_event_id!r}"
            )
        return int(last_event_id)
    return after


async def change_stream(
    service: Service, watch: HeadWatch, after: int | None, alo_id: str | None = None
) -> AsyncIterator[bytes]:
    """The SSE frames of every event after position ``after`` (``None``: from now on),
    only of ALO ``alo_id`` if given; ends at shutdown or after ``service.max_wait``."""
    system = service.system
    loop = asyncio.get_running_loop()
    deadline = loop.time() + service.max_wait
    watch.streams += 1
    try:
        position = await asyncio.to_thread(system.log.last_position) if after is None else after
        yield f"retry: {RETRY_MS}\n: changes after position {position}\n\n".encode()
        woken_at = position
        read_at = -STREAM_READ_INTERVAL
        while not service.stopping:
            if alo_id is None:
                batch = await watch.read_after(position, woken_at)
            else:
                # Commits of other ALOs woke this one too: one read for all that came
                # within the interval (see STREAM_READ_INTERVAL).
                pause = read_at + STREAM_READ_INTERVAL - loop.time()
                if pause > 0:
                    await asyncio.sleep(pause)
                read_at = loop.time()
                watch.stream_reads += 1
                stack_traces = service.expose_stack_traces
                batch = await asyncio.to_thread(
                    _read_frames, system, position, alo_id, stack_traces
                )
            if batch.size:
                yield batch.frames
                position = batch.last
                if batch.size == BATCH and alo_id is None:
                    continue
            # Everything up to the head that woke this stream has been read.
            position = max(position, woken_at)
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            try:
                head = await watch.wait_past(position, min(KEEPALIVE, remaining))
            except PollInterrupted:
                return
            if head is None:
                yield b": keep-alive\n\n"
            else:
                woken_at = head
    finally:
        watch.streams -= 1


def _read_frames(system: AloSystem, after: int, alo_id: str | None, stack_traces: bool) -> Batch:
    """The frames of the events after ``after`` (of ALO ``alo_id`` only, if given), each
    with its ALO's info now, from the read model: watching sends the engine nothing.
    Runs in a worker thread."""
    log = system.log
    if alo_id is None:
        events = list(log.read_all(after, limit=BATCH))
    else:
        events = [event for event in log.read_stream(alo_id) if event.position > after]
    if not events:
        return Batch(0, after, b"")
    infos = infos_of(log, list(dict.fromkeys([event.stream_id for event in events])))
    return Batch(len(events), events[-1].position, _frames(events, infos, stack_traces))


_encode = msgspec.json.Encoder().encode


def _frames(events: list[RecordedEvent], infos: dict[str, AloInfo], stack_traces: bool) -> bytes:
    """The SSE frames of ``events``, each with its ALO's info (null for one purged)."""
    chunks: list[bytes] = []
    bodies: dict[str, InfoBody | None] = {}
    for event in events:
        alo_id = event.stream_id
        if alo_id not in bodies:
            info = infos.get(alo_id)
            bodies[alo_id] = None if info is None else info_body(info, stack_traces)
        body = bodies[alo_id]
        change = ChangeBody(
            position=event.position,
            id=alo_id,
            type=event.type,
            status=None if body is None else body.status,
            info=body,
        )
        chunks.append(b"id: %d\nevent: change\ndata: %s\n\n" % (event.position, _encode(change)))
    return b"".join(chunks)


_STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def change_response(
    request: AnyRequest, after: int | None, last_event_id: str | None, alo_id: str | None
) -> Stream:
    """The SSE response of ``/v1/changes`` (and of the console's copy of it)."""
    start = start_position(after, last_event_id)
    service = service_of(request)
    return Stream(
        change_stream(service, watch_of(request), start, alo_id),
        media_type=EVENT_STREAM,
        headers=_STREAM_HEADERS,
    )


_KNOWN = frozenset({"after", "id"})


def refuse_unknown_parameters(request: AnyRequest) -> None:
    """InvalidArgument for a query parameter this route does not take, or given twice, or
    an ``after`` that is not a log position (Litestar would read ``null`` as none)."""
    params = request.query_params
    for name in params:
        if name not in _KNOWN:
            raise InvalidArgument(f"unknown query parameter {name!r}")
        if len(params.getall(name)) > 1:
            raise InvalidArgument(f"query parameter {name!r} is given more than once")
    after = params.get("after")
    if after is not None and _DIGITS.fullmatch(after) is None:
        raise InvalidArgument(f"after must be a log position (an integer >= 0), not {after!r}")


@get(
    "/v1/changes",
    summary="Follow the log: every event as a Server-Sent Event",
    description=(
        "A `text/event-stream` of the events appended to the log after `after` (by default, "
        "from now on). Each event has `id:` its log position, `event: change`, and `data:` "
        "a JSON object `{position, id, type, status, info}`: the ALO's id, the event's type "
        "(`Started`, `Completed`, ...) and the ALO's status and info as read when sent "
        "(null once purged). A reconnection with `Last-Event-ID` resumes after that position "
        "(it wins over `after`). A comment line comes every few seconds of quiet. The stream "
        "ends at shutdown and after the server's long-poll cap (`--max-wait`): reconnect "
        "with `Last-Event-ID`, as EventSource does by itself."
    ),
    media_type=EVENT_STREAM,
    response_description="the changes, as Server-Sent Events",
    responses={
        200: ResponseSpec(
            data_container=ChangeBody,
            media_type=EVENT_STREAM,
            description="Server-Sent Events; each `data:` line is a change (this schema)",
            generate_examples=False,
        ),
        **error_responses(400),
    },
)
async def stream_changes(
    request: AnyRequest,
    after: Annotated[
        int | None,
        QueryParameter(
            ge=0,
            le=MAX_POSITION,
            description="a log position: the changes after it (default: from now)",
        ),
    ] = None,
    alo_id: Annotated[
        str | None,
        QueryParameter(
            name="id",
            min_length=1,
            max_length=MAX_ID_LENGTH,
            description="only the changes of the ALO with this id",
        ),
    ] = None,
    last_event_id: Annotated[
        str | None,
        HeaderParameter(
            name="Last-Event-ID",
            description="the last position received: resume after it (EventSource sends it)",
        ),
    ] = None,
) -> Stream:
    refuse_unknown_parameters(request)
    return change_response(request, after, last_event_id, alo_id)
