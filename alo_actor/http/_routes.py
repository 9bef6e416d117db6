"""The routes about one ALO (start, read, wait, settle, steer, history) and ROUTES."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from urllib.parse import quote

import msgspec
from litestar import get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from litestar.types import ControllerRouterHandler

from alo_actor._errors import (
    InvalidArgument,
    NotFound,
    OperationCancelled,
    OperationFailed,
    OperationTimedOut,
)
from alo_actor._model import AloInfo, Failure, Status
from alo_actor._validate import MAX_PAYLOAD_BYTES
from alo_actor.http._docs import STATUS_HEADER, AloId, error_responses
from alo_actor.http._durations import parse_duration
from alo_actor.http._errors import ALO_STATUS, ServiceError
from alo_actor.http._history import event_bodies
from alo_actor.http._listing import list_alos
from alo_actor.http._longpoll import PollInterrupted, wait_for_result
from alo_actor.http._responses import JsonResponse
from alo_actor.http._schemas import (
    CancelRequest,
    CompleteRequest,
    EventsBody,
    FailRequest,
    HealthBody,
    InfoBody,
    ResultBody,
    StartRequest,
    info_body,
)
from alo_actor.http._service import AnyRequest, Service, service_of


def _info_response(info: AloInfo, status_code: int = 200) -> JsonResponse[InfoBody]:
    return JsonResponse(
        info_body(info), status_code=status_code, headers={ALO_STATUS: info.status.value}
    )


def _refuse_if_too_large(value: Any, what: str) -> None:
    """413 if ``value`` is over the stored-size limit (the engine's refusal is a 400)."""
    try:
        size = len(msgspec.msgpack.encode(value))
    except (TypeError, ValueError, OverflowError):
        return
    if size > MAX_PAYLOAD_BYTES:
        raise ServiceError(
            413,
            "PayloadTooLarge",
            f"{what} is {size} bytes as stored, over the {MAX_PAYLOAD_BYTES}-byte limit",
        )


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
)
async def start_alo(request: AnyRequest, data: StartRequest) -> JsonResponse[InfoBody]:
    service = service_of(request)
    timeout = None if data.timeout is None else parse_duration(data.timeout, "timeout")
    try:
        info = await service.system.aio.start(
            data.id,
            data.operation,
            data.input,
            metadata=data.metadata,
            result_urls=data.result_urls,
            timeout=timeout,
        )
    except InvalidArgument:
        _refuse_if_too_large(data.input, "input")
        raise
    response = _info_response(info, 201 if info.created else 200)
    if info.created:
        response.headers["Location"] = f"/v1/alos/{quote(info.id, safe='')}"
    return response


@get(
    "/v1/alos/{alo_id:str}",
    summary="Get an ALO's info",
    response_headers=STATUS_HEADER,
    responses=error_responses(400, 404),
)
async def get_info(request: AnyRequest, alo_id: AloId) -> JsonResponse[InfoBody]:
    return _info_response(await service_of(request).system.aio.get_info(alo_id))


@get(
    "/v1/alos/{alo_id:str}/result",
    summary="Get an ALO's result, long-polling up to `wait`",
    response_headers=STATUS_HEADER,
    responses=error_responses(400, 404, 408, 412, 424),
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
    service = service_of(request)
    aio = service.system.aio
    seconds = None if wait is None else min(parse_duration(wait, "wait"), service.max_wait)
    if not seconds:
        info = await aio.get_info(alo_id)
        if not info.status.terminal:
            raise _not_settled(info, 412 if seconds is None else 408)
        return await _outcome(service, info)
    try:
        result = await wait_for_result(service, alo_id, seconds)
    except (TimeoutError, PollInterrupted) as exc:
        info = await aio.get_info(alo_id)
        if not info.status.terminal:  # it may have settled just as the wait ran out
            raise _not_settled(info, 408, isinstance(exc, PollInterrupted)) from None
        return await _outcome(service, info)
    # An unsuccessful outcome raised OperationFailed above: the error handler answers 424.
    # Settled, so immutable: this read sees the very outcome the wait saw.
    info = await aio.get_info(alo_id)
    return _result_response(result, info)


def _not_settled(info: AloInfo, status_code: int, shutting_down: bool = False) -> ServiceError:
    status = info.status.value
    if status_code == 412:
        message = f"ALO {info.id!r} is {status}, not settled; pass wait= to wait for it"
        kind = "NotSettled"
    elif shutting_down:
        message = f"the server is shutting down; ALO {info.id!r} is {status}: ask again later"
        kind = "WaitTimedOut"
    else:
        message = f"ALO {info.id!r} did not settle within the wait; it is {status}"
        kind = "WaitTimedOut"
    return ServiceError(status_code, kind, message, headers={ALO_STATUS: info.status.value})


_UNSUCCESSFUL: dict[Status, type[OperationFailed]] = {
    Status.FAILED: OperationFailed,
    Status.CANCELLED: OperationCancelled,
    Status.TIMED_OUT: OperationTimedOut,
}


async def _outcome(service: Service, info: AloInfo) -> JsonResponse[ResultBody]:
    """The answer for a settled ALO: its result, or (raised) its failure."""
    if info.status is not Status.COMPLETED:
        failure = info.failure or Failure(message=info.status.value, type=info.status.name)
        raise _UNSUCCESSFUL[info.status](failure)
    result = await service.system.aio.get_result(info.id)
    return _result_response(result, info)


def _result_response(result: Any, info: AloInfo) -> JsonResponse[ResultBody]:
    return JsonResponse(
        ResultBody(result=result, result_metadata=info.result_metadata or {}),
        headers={ALO_STATUS: info.status.value},
    )


@get(
    "/v1/alos/{alo_id:str}/events",
    summary="An ALO's event history, oldest first",
    response_headers=STATUS_HEADER,
    responses=error_responses(400, 404),
)
async def get_events(request: AnyRequest, alo_id: AloId) -> JsonResponse[EventsBody]:
    system = service_of(request).system
    info = await system.aio.get_info(alo_id)
    # A read of committed rows: in a worker thread, so the loop never waits on SQLite.
    events = await asyncio.to_thread(lambda: event_bodies(system.log.read_stream(alo_id)))
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
    request: AnyRequest, alo_id: AloId, data: CompleteRequest
) -> JsonResponse[InfoBody]:
    aio = service_of(request).system.aio
    try:
        info = await aio.complete(alo_id, data.result, data.result_metadata)
    except InvalidArgument:
        _refuse_if_too_large(data.result, "result")
        raise
    return _info_response(info)


@post(
    "/v1/alos/{alo_id:str}/fail",
    status_code=200,
    summary="Fail an ALO with a Failure",
    response_headers=STATUS_HEADER,
    responses=error_responses(400, 404, 413),
)
async def fail_alo(request: AnyRequest, alo_id: AloId, data: FailRequest) -> JsonResponse[InfoBody]:
    failure = data.failure()
    try:
        info = await service_of(request).system.aio.fail(alo_id, failure)
    except InvalidArgument:
        _refuse_if_too_large(failure, "failure")
        raise
    return _info_response(info)


@post(
    "/v1/alos/{alo_id:str}/cancel",
    status_code=200,
    summary="Cancel an ALO",
    response_headers=STATUS_HEADER,
    responses=error_responses(400, 404, 413),
)
async def cancel_alo(
    request: AnyRequest, alo_id: AloId, data: CancelRequest | None = None
) -> JsonResponse[InfoBody]:
    reason = None if data is None else data.reason
    return _info_response(await service_of(request).system.aio.cancel(alo_id, reason))


@post(
    "/v1/alos/{alo_id:str}/pause",
    status_code=200,
    summary="Pause an ALO: no new attempt starts",
    response_headers=STATUS_HEADER,
    responses=error_responses(400, 404),
)
async def pause_alo(request: AnyRequest, alo_id: AloId) -> JsonResponse[InfoBody]:
    return _info_response(await service_of(request).system.aio.pause(alo_id))


@post(
    "/v1/alos/{alo_id:str}/resume",
    status_code=200,
    summary="Resume a paused ALO",
    response_headers=STATUS_HEADER,
    responses=error_responses(400, 404),
)
async def resume_alo(request: AnyRequest, alo_id: AloId) -> JsonResponse[InfoBody]:
    return _info_response(await service_of(request).system.aio.resume(alo_id))


@get(
    "/healthz",
    summary="Liveness (open even when a bearer token is required)",
    responses={500: error_responses()[500]},
    security=[{}],
)
async def healthz() -> JsonResponse[HealthBody]:
    return JsonResponse(HealthBody())


ROUTES: list[ControllerRouterHandler] = [
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
    healthz,
]
