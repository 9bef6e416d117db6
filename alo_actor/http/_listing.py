"""``GET /v1/alos``: listing with filters, ``metadata.KEY=VALUE`` pairs and cursors."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.params import FromQuery, Parameter

from alo_actor._errors import InvalidArgument
from alo_actor._wire import ListBody, info_body
from alo_actor.http._docs import error_responses
from alo_actor.http._durations import parse_time
from alo_actor.http._responses import JsonResponse
from alo_actor.http._service import AnyRequest, service_of

_LIST_PARAMETERS = frozenset(
    {"status", "operation", "created_after", "created_before", "limit", "cursor"}
)
_METADATA_PREFIX = "metadata."


@get(
    "/v1/alos",
    summary="List ALOs",
    description="A page of ALOs in creation order that pass every filter. Filter on metadata "
    "with `metadata.KEY=VALUE` (repeat for several pairs: every pair must match). Pass "
    "`next_cursor` back as `cursor`, with the same filters, for the next page.",
    responses=error_responses(400),
)
async def list_alos(
    request: AnyRequest,
    status: Annotated[
        str | None,
        Parameter(description="one status word or several, comma-separated: running,paused"),
    ] = None,
    operation: FromQuery[str | None] = None,
    created_after: Annotated[
        str | None, Parameter(description="inclusive: RFC 3339 or Unix seconds")
    ] = None,
    created_before: Annotated[
        str | None, Parameter(description="exclusive: RFC 3339 or Unix seconds")
    ] = None,
    limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
    cursor: FromQuery[str | None] = None,
) -> JsonResponse[ListBody]:
    metadata: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name.startswith(_METADATA_PREFIX):
            key = name[len(_METADATA_PREFIX) :]
            if key in metadata:
                raise InvalidArgument(f"query parameter {name!r} is given more than once")
            metadata[key] = value
        elif name not in _LIST_PARAMETERS:
            raise InvalidArgument(f"unknown query parameter {name!r}")
    service = service_of(request)
    page = await service.system.aio.list(
        status,
        operation=operation,
        metadata=metadata,
        created_after=parse_time(created_after, "created_after"),
        created_before=parse_time(created_before, "created_before"),
        limit=limit,
        cursor=cursor,
    )
    return JsonResponse(
        ListBody(
            alos=[info_body(info, service.expose_stack_traces) for info in page.items],
            next_cursor=page.next_cursor,
        )
    )
