"""The console's pages: the list of ALOs, one ALO, the log, and the live feed."""

from __future__ import annotations

import asyncio
import os
from typing import Annotated, Any
from urllib.parse import quote

from litestar import Response, get
from litestar.params import FromPath, HeaderParameter, QueryParameter
from litestar.response import Stream

from alo_actor._errors import InvalidArgument, NotFound
from alo_actor._system import AloSystem
from alo_actor.http._changes import change_response
from alo_actor.http._service import AnyRequest, service_of
from alo_actor.http.console._access import console_guard
from alo_actor.http.console._logview import lifetimes_png, rate_chart
from alo_actor.http.console._render import page
from alo_actor.http.console._views import STATUSES, ListQuery, detail
from alo_actor.logtools import summarize

_COUNTS = "SELECT status, COUNT(*) FROM alos GROUP BY status"


def _head_and_counts(system: AloSystem) -> tuple[int, dict[str, int]]:
    # The head first: a change committed after it reaches the page through the feed,
    # whether or not the listing read just after it already shows it.
    head = system.log.last_position()
    counts = dict.fromkeys(STATUSES, 0)
    for status, count in system.log.query(_COUNTS):
        counts[status] = count
    return head, counts


@get("/", guards=[console_guard])
async def list_page(request: AnyRequest) -> Response[str]:
    """The ALOs that pass the filters, a page at a time, with counts by status."""
    system = service_of(request).system
    query = ListQuery.of(request.query_params)
    head, counts = await asyncio.to_thread(_head_and_counts, system)
    error: str | None = None
    alos: list[Any] = []
    next_cursor: str | None = None
    try:
        listing = await system.aio.list(**query.list_arguments())
    except InvalidArgument as exc:
        error = str(exc)
    else:
        alos = listing.items
        next_cursor = listing.next_cursor
    return page(
        request,
        "list.html",
        400 if error else 200,
        query=query,
        statuses=STATUSES,
        counts=counts,
        total=sum(counts.values()),
        alos=alos,
        next_cursor=next_cursor,
        error=error,
        changes=f"/ui/changes?after={head}",
    )


async def detail_page(
    request: AnyRequest, alo_id: str, *, status_code: int = 200, error: str | None = None
) -> Response[str]:
    """The ALO page (also the answer to an action that failed, with its ``error``)."""
    system = service_of(request).system
    try:
        info = await system.aio.get_info(alo_id)
    except NotFound as exc:
        return page(request, "missing.html", 404, alo_id=alo_id, error=str(exc))
    records = await asyncio.to_thread(system.log.read_stream, alo_id)
    shown = detail(info, records, service_of(request).expose_stack_traces)
    return page(
        request,
        "detail.html",
        status_code,
        alo=shown,
        error=error,
        changes=f"/ui/changes?after={shown.last_position}&id={quote(alo_id, safe='')}",
    )


@get("/alos/{alo_id:str}", guards=[console_guard])
async def alo_page(request: AnyRequest, alo_id: FromPath[str]) -> Response[str]:
    """One ALO: its info, input, outcome, attempts, deliveries and timeline."""
    return await detail_page(request, alo_id)


def _log_view(system: AloSystem) -> dict[str, Any]:
    log = system.log
    return {"summary": summarize(log.path), "rate": rate_chart(log.query, dialect=log.dialect)}


@get("/log", guards=[console_guard])
async def log_page(request: AnyRequest) -> Response[str]:
    """What ``alo log show`` says of the log, its rate over time, and ``alo log plot``."""
    system = service_of(request).system
    view = await asyncio.to_thread(_log_view, system)
    log = system.log
    name = os.path.basename(log.path) if log.dialect == "sqlite" else log.location
    return page(request, "log.html", name=name, **view)


@get("/log/lifetimes.png", guards=[console_guard])
async def lifetimes(request: AnyRequest) -> Response[bytes]:
    """The lifetimes picture of ``alo log plot``, drawn now."""
    png = await asyncio.to_thread(lifetimes_png, service_of(request).system.log.path)
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


@get("/changes", guards=[console_guard])
async def changes(
    request: AnyRequest,
    after: Annotated[int | None, QueryParameter(ge=0)] = None,
    alo_id: Annotated[str | None, QueryParameter(name="id", min_length=1)] = None,
    last_event_id: Annotated[str | None, HeaderParameter(name="Last-Event-ID")] = None,
) -> Stream:
    """``/v1/changes`` for the console's pages (it shares their cookie)."""
    return change_response(request, after, last_event_id, alo_id)
