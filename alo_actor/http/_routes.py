"""The routes about one ALO (start, read, wait, settle, steer, history) and ROUTES."""

from __future__ import annotations

import asyncio
from typing import Annotated

import msgspec
from litestar import get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody, Parameter
from litestar.types import ControllerRouterHandler

from alo_actor._errors import NotFound
from alo_actor._wire import InfoBody
from alo_actor.http import _answers as answers
from alo_actor.http._answers import info_response, stored
from alo_actor.http._batch import BATCH_ROUTES
from alo_actor.http._changes import stream_changes
from alo_actor.http._docs import STATUS_HEADER, AloId, error_responses
from alo_actor.http._errors import ALO_STATUS, ServiceError
from alo_actor.http._history import event_bodies
from alo_actor.http._hotpath import result_lane, start_lane
from alo_actor.http._listing import list_alos
from alo_actor.http._responses import JsonResponse
from alo_actor.http._schemas import (
    CancelRequest,
    CompleteRequest,
    EventsBody,
    FailRequest,
    HealthBody,
    ResultBody,
    StartRequest,
)
from alo_actor.http._service import AnyRequest, service_of

# -- starting and reading ------------------------------------------------------------


@post(
    "/v1/alos",
    status_code=201,
    summary="Start an ALO",
    description="201 when this call created it, 200 when the same start was made before.",
    response_headers=STATUS_HEADER,
    responses={
        200: ResponseSpec(InfoBody, description="the same start repeated: unchanged"),
        **error_responses(400, 404, 409, 413),
    },
    middleware=[start_lane],
)
async def start_alo(request: AnyRequest, data: JSONBody[StartRequest]) -> JsonResponse[InfoBody]:
    return await answers.start(service_of(request), data)


@get(
    "/v1/alos/{alo_id:str}",
    summary="Get an ALO's info",
    response_headers=STATUS_HEADER,
    responses=error_responses(400, 404),
)
async def get_info(request: AnyRequest, alo_id: AloId) -> JsonResponse[InfoBody]:
    service = service_of(request)
    return info_response(service, await service.system.aio.get_info(alo_id))


@get(
    "/v1/alos/{alo_id:str}/result",
    summary="Get an ALO's result, long-polling up to `wait`",
    response_headers=STATUS_HEADER,
    responses=error_responses(400, 404, 408, 412, 424),
    middleware=[result_lane],
)
async def get_result(
    request: AnyRequest,
    alo_id: AloId,
    wait: Annotated[
        str | None,
        Parameter(
            description='how long to wait for the outcome: "30s", "500ms", "5m" or seconds '
            "(the server caps it); without it a running or paused ALO answers 412"
        ),
    ] = None,
) -> JsonResponse[ResultBody]:
    return await answers.result(service_of(request), alo_id, wait)


@get(
    "/v1/alos/{alo_id:str}/events",
    summary="An ALO's event history, oldest first",
    response_headers=STATUS_HEADER,
    responses=error_responses(400, 404),
)
async def get_events(request: AnyRequest, alo_id: AloId) -> JsonResponse[EventsBody]:
    service = service_of(request)
    system = service.system
    info = await system.aio.get_info(alo_id)
    stack_traces = service.expose_stack_traces
    # A read of committed rows: in a worker thread, so the loop never waits on SQLite.
    events = await asyncio.to_thread(
        lambda: event_bodies(system.log.read_stream(alo_id), stack_traces)
    )
    if not events:
        raise NotFound(f"no ALO has id {alo_id!r}")
    return JsonResponse(
        EventsBody(id=alo_id, events=events), headers={ALO_STATUS: info.status.value}
    )


# -- settling and steering -------------------------------------------------------------


@post(
    "/v1/alos/{alo_id:str}/complete",
    status_code=200,
    summary="Complete an external ALO with a result",
    response_headers=STATUS_HEADER,
    responses=error_responses(400, 404, 413),
)
async def complete_alo(
    request: AnyRequest, alo_id: AloId, data: JSONBody[CompleteRequest]
) -> JsonResponse[InfoBody]:
    service = service_of(request)
    aio = service.system.aio
    info = await stored(
        lambda result: aio.complete(alo_id, result, data.result_metadata), data.result, "result"
    )
    return info_response(service, info)


@post(
    "/v1/alos/{alo_id:str}/fail",
    status_code=200,
    summary="Fail an ALO with a Failure",
    response_headers=STATUS_HEADER,
    responses=error_responses(400, 404, 413),
)
async def fail_alo(
    request: AnyRequest, alo_id: AloId, data: JSONBody[FailRequest]
) -> JsonResponse[InfoBody]:
    service = service_of(request)
    aio = service.system.aio
    failure = data.failure()
    info = await stored(
        lambda details: aio.fail(alo_id, msgspec.structs.replace(failure, details=details)),
        failure.details,
        "failure",
        whole=failure,
    )
    return info_response(service, info)


@post(
    "/v1/alos/{alo_id:str}/cancel",
    status_code=200,
    summary="Cancel an ALO",
    response_headers=STATUS_HEADER,
    responses=error_responses(400, 404, 413),
)
async def cancel_alo(
    request: AnyRequest, alo_id: AloId, data: JSONBody[CancelRequest | None] = None
) -> JsonResponse[InfoBody]:
    service = service_of(request)
    reason = None if data is None else data.reason
    return info_response(service, await service.system.aio.cancel(alo_id, reason))


@post(
    "/v1/alos/{alo_id:str}/pause",
    status_code=200,
    summary="Pause an ALO: no new attempt starts",
    response_headers=STATUS_HEADER,
    responses=error_responses(400, 404),
)
async def pause_alo(request: AnyRequest, alo_id: AloId) -> JsonResponse[InfoBody]:
    service = service_of(request)
    return info_response(service, await service.system.aio.pause(alo_id))


@post(
    "/v1/alos/{alo_id:str}/resume",
    status_code=200,
    summary="Resume a paused ALO",
    response_headers=STATUS_HEADER,
    responses=error_responses(400, 404),
)
async def resume_alo(request: AnyRequest, alo_id: AloId) -> JsonResponse[InfoBody]:
    service = service_of(request)
    return info_response(service, await service.system.aio.resume(alo_id))


@get(
    "/healthz",
    summary="Liveness (open even when a bearer token is required)",
    responses={500: error_responses()[500]},
    security=[{}],
)
async def healthz() -> JsonResponse[HealthBody]:
    return JsonResponse(HealthBody())


@get(
    "/readyz",
    summary="Readiness: whether the log takes writes (open even when a token is required)",
    description="503, with a Failure naming the cause, while the log cannot be written "
    "(the disk is full, the file is read-only, an I/O error, its WAL file was deleted) "
    "or the server is shutting down; reads may still be served.",
    responses={code: error_responses()[code] for code in (500, 503)},
    security=[{}],
)
async def readyz(request: AnyRequest) -> JsonResponse[HealthBody]:
    reason = await service_of(request).unwritable()
    if reason is not None:
        raise ServiceError(503, "Unavailable", reason)
    return JsonResponse(HealthBody(status="ready"))


ROUTES: list[ControllerRouterHandler] = [
    *BATCH_ROUTES,
    start_alo,
    list_alos,
    get_info,
    get_result,
    get_events,
    complete_alo,
    fail_alo,
    cancel_alo,
    pause_alo,
    resume_alo,
    stream_changes,
    healthz,
    readyz,
]
