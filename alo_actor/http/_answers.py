"""What the two routes every ALO takes answer: a start, and its result (with ``wait``).

Shared by the Litestar handlers in ``_routes`` and the hot path in ``_hotpath``, so
that both give the same answer, from the same code, to the same request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import quote

import msgspec

from alo_actor._errors import (
    InvalidArgument,
    OperationCancelled,
    OperationFailed,
    OperationTimedOut,
)
from alo_actor._machine import AloState
from alo_actor._model import AloInfo, Failure, Status
from alo_actor._validate import MAX_NESTING, MAX_PAYLOAD_BYTES
from alo_actor._wire import InfoBody, info_body
from alo_actor.http._durations import parse_duration
from alo_actor.http._errors import ALO_STATUS, ServiceError
from alo_actor.http._longpoll import PollInterrupted, wait_settled
from alo_actor.http._responses import JsonResponse
from alo_actor.http._schemas import ResultBody, StartRequest
from alo_actor.http._service import Service

T = TypeVar("T")


def info_response(
    service: Service, info: AloInfo, status_code: int = 200
) -> JsonResponse[InfoBody]:
    return JsonResponse(
        info_body(info, service.expose_stack_traces),
        status_code=status_code,
        headers={ALO_STATUS: info.status.value},
    )


def refuse_if_too_large(value: Any, what: str) -> None:
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


async def stored(
    call: Callable[[Any], Awaitable[T]], value: Any, what: str, whole: Any = None
) -> T:
    """``call(value)``, for a command that stores a value from a JSON body.

    If the engine refuses it: 413 if it (or ``whole``, what is stored around it) is
    over the size limit; and a JSON integer beyond msgpack's 64 bits, which a JSON
    reader in JavaScript takes as the nearest double, is taken so here too (one
    retry), so that whether a number is stored does not depend on how it is written
    (``1e21`` or ``1000000000000000000000``), as the OpenAPI document says.
    """
    try:
        return await call(value)
    except InvalidArgument:
        refuse_if_too_large(value if whole is None else whole, what)
        widened = _widened(value, MAX_NESTING)
        if widened is _UNCHANGED:
            raise
    return await call(widened)


_UNCHANGED: Any = object()
_INT_RANGE = range(-(2**63), 2**64)


def _widened(value: Any, room: int) -> Any:
    """``value`` with integers outside 64 bits as floats; _UNCHANGED if it has none
    (or nests deeper than ``room``, which the engine refuses anyway)."""
    kind = type(value)
    if kind is int:
        return _UNCHANGED if value in _INT_RANGE else float(value)
    if room < 0 or (kind is not list and kind is not dict):
        return _UNCHANGED
    items = value.items() if kind is dict else enumerate(value)
    changed = {}
    for key, item in items:
        widened = _widened(item, room - 1)
        if widened is not _UNCHANGED:
            changed[key] = widened
    if not changed:
        return _UNCHANGED
    if kind is dict:
        return {**value, **changed}
    return [changed.get(i, item) for i, item in enumerate(value)]


async def start(service: Service, data: StartRequest) -> JsonResponse[InfoBody]:
    """``POST /v1/alos``: 201 with a Location when this call created the ALO, else 200."""
    timeout = None if data.timeout is None else parse_duration(data.timeout, "timeout")

    def start_with(input: Any) -> Awaitable[AloInfo]:
        return service.system.aio.start(
            data.id,
            data.operation,
            input,
            metadata=data.metadata,
            result_urls=data.result_urls,
            timeout=timeout,
        )

    info = await stored(start_with, data.input, "input")
    response = info_response(service, info, 201 if info.created else 200)
    if info.created:
        response.headers["Location"] = f"/v1/alos/{quote(info.id, safe='')}"
    return response


async def result(service: Service, alo_id: str, wait: str | None) -> JsonResponse[ResultBody]:
    """``GET /v1/alos/{id}/result``: the outcome, long-polling up to ``wait``."""
    aio = service.system.aio
    seconds = None if wait is None else min(parse_duration(wait, "wait"), service.max_wait)
    if seconds:
        # The usual case: one request to the supervisor answers with the final state,
        # the result and the info together.
        try:
            return _outcome(await wait_settled(service, alo_id, seconds))
        except (TimeoutError, PollInterrupted) as exc:
            shutting_down = isinstance(exc, PollInterrupted)
    else:
        shutting_down = False
    info = await aio.get_info(alo_id)
    if not info.status.terminal:  # a wait that ran out may have just missed the outcome
        raise _not_settled(info, 412 if seconds is None else 408, shutting_down)
    if info.status is not Status.COMPLETED:
        raise _unsuccessful(info.status, info.failure)
    # Settled, so immutable: this answers at once, with the result the info promised.
    return _outcome(await aio._settled(alo_id))


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


def _unsuccessful(status: Status, failure: Failure | None) -> OperationFailed:
    """The error (answered 424 with the failure) for a failed, cancelled or timed-out ALO."""
    return _UNSUCCESSFUL[status](failure or Failure(message=status.value, type=status.name))


def _outcome(state: AloState) -> JsonResponse[ResultBody]:
    """The answer for a settled ALO: its result, or (raised, answered 424) its failure."""
    status = state.status
    if status is not Status.COMPLETED:
        raise _unsuccessful(status, state.failure)
    assert state.result is not None
    return JsonResponse(
        ResultBody(
            result=msgspec.msgpack.decode(state.result),
            result_metadata=state.result_metadata or {},
        ),
        headers={ALO_STATUS: status.value},
    )
