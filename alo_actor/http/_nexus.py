"""The Nexus routes: ``POST /nexus/{service}/{operation}`` starts an ALO,
``POST /nexus/{service}/{operation}/cancel`` cancels it (the Nexus RPC HTTP spec).

A start maps to ``start``: the ALO's id is the ``Nexus-Request-Id`` (a retry of the
start is the same start), ``Operation-Timeout`` sets its deadline, and the callback
URL with its ``Nexus-Callback-*`` headers becomes a durable result URL that is sent
the Nexus completion. The start request waits a little (``NexusOptions.wait``) for
the outcome: one that comes within that window is the answer (200, or 424 with an
OperationError), and the window is stored with the callback so that the callback is
owed exactly the outcomes that the start did not answer with (201 and a token).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Response, Router, post
from litestar.params import FromPath, FromQuery
from litestar.types import Middleware

from alo_actor._errors import InvalidArgument
from alo_actor._events import NexusCallback
from alo_actor._machine import AloState, owed_urls
from alo_actor._model import Status
from alo_actor._requests import start_command
from alo_actor._validate import MAX_METADATA_TEXT, check_id
from alo_actor.http._longpoll import PollInterrupted, wait_settled
from alo_actor.http._nexus_errors import EXCEPTION_HANDLERS, NexusError, nexus_auth
from alo_actor.http._responses import JsonResponse
from alo_actor.http._service import AnyRequest, Service, service_of
from alo_actor.nexus import (
    LINK_KEY,
    SERVICE_KEY,
    alo_id_of_token,
    callback_headers,
    operation_error,
    operation_state,
    operation_token,
    parse_duration,
)

PREFIX = "/nexus"
CANCEL_REASON = "cancelled by the Nexus caller"

_json = msgspec.json.Decoder()


@dataclass(frozen=True, slots=True)
class NexusOptions:
    """The Nexus routes of ``create_app``.

    Attributes:
        service: the one Nexus service served; its operations are the registered ones.
        wait: seconds a start waits for the outcome before answering 201 (at most half
            the caller's ``Request-Timeout``).
        token: the credential these routes want (Basic password or bearer token);
            ``None`` takes the app's token (and none when the app has none).
    """

    service: str = "alo"
    wait: float = 0.5
    token: str | None = None

    def __post_init__(self) -> None:
        if not self.service:
            raise ValueError("the Nexus service name must not be empty")
        if not 0 <= self.wait <= 60:
            raise ValueError("the Nexus wait must be 0 to 60 seconds")


def nexus_router(options: NexusOptions, token: str | None) -> Router:
    """The Nexus routes under ``/nexus``, guarded by ``options.token or token``."""
    secret = options.token or token
    middleware: list[Middleware] = [nexus_auth(secret)] if secret else []

    @post("/{service:str}/{operation:str}", status_code=201, include_in_schema=False)
    async def start_operation(
        request: AnyRequest,
        service: FromPath[str],
        operation: FromPath[str],
        callback: FromQuery[str | None] = None,
    ) -> Response[Any]:
        return await _start(request, options, service, operation, callback)

    @post("/{service:str}/{operation:str}/cancel", status_code=202, include_in_schema=False)
    async def cancel_operation(
        request: AnyRequest,
        service: FromPath[str],
        operation: FromPath[str],
        token: FromQuery[str | None] = None,
    ) -> Response[bytes]:
        return await _cancel(request, options, service, operation, token)

    return Router(
        PREFIX,
        route_handlers=[start_operation, cancel_operation],
        middleware=middleware,
        exception_handlers=EXCEPTION_HANDLERS,
    )


def _check_service(options: NexusOptions, service: str) -> None:
    if service != options.service:
        raise NexusError(
            "NOT_FOUND", f"no Nexus service {service!r} here (this one is {options.service!r})"
        )


async def _start(
    request: AnyRequest,
    options: NexusOptions,
    service: str,
    operation: str,
    callback: str | None,
) -> Response[Any]:
    _check_service(options, service)
    served = service_of(request)
    system = served.system
    if operation not in system.registered_operations:
        raise NexusError("NOT_FOUND", f"no operation {operation!r} in Nexus service {service!r}")
    headers = request.headers
    request_id = headers.get("nexus-request-id")
    if request_id is None:
        raise NexusError("BAD_REQUEST", "a start needs a Nexus-Request-Id header (the ALO's id)")
    check_id(request_id)
    timeout = _duration(headers.get("operation-timeout"), "Operation-Timeout")
    request_timeout = _duration(headers.get("request-timeout"), "Request-Timeout")
    value = _input(await request.body(), headers.get("content-type"))
    wait = options.wait if request_timeout is None else min(options.wait, request_timeout / 2)
    now = system.clock.now()
    metadata = {SERVICE_KEY: service}
    link = headers.get("nexus-link")
    if link is not None and len(link) <= MAX_METADATA_TEXT:
        metadata[LINK_KEY] = link
    nexus_callback = (
        None
        if callback is None
        else NexusCallback(callback, callback_headers(headers.multi_items()), now + wait)
    )
    command = start_command(
        request_id,
        operation,
        value,
        metadata,
        None,
        timeout,
        None,
        now=now,
        registered=system.registered_operations,
        allowed_hosts=system.allowed_callback_hosts,
        nexus_callback=nexus_callback,
    )
    state, _ = await system.aio.start_with(command)
    return await _answer(served, state, now + wait)


def _duration(text: str | None, header: str) -> float | None:
    return None if text is None else parse_duration(text, header)


def _input(body: bytes, content_type: str | None) -> Any:
    """The start's input: JSON, raw bytes (``application/octet-stream``) or nothing."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if not media and not body:
        return None
    if media == "application/json" or media.endswith("+json"):
        try:
            return _json.decode(body)
        except msgspec.DecodeError as exc:
            raise InvalidArgument(f"the input is not valid JSON: {exc}") from None
    if media == "application/octet-stream":
        return body
    raise NexusError(
        "BAD_REQUEST",
        f"input of Content-Type {content_type!r} is not understood: "
        "send application/json (or application/octet-stream)",
    )


async def _answer(service: Service, state: AloState, window_end: float) -> Response[Any]:
    """The start's answer: the outcome if it came within the start's window (this
    request's, or the stored one if later), else 201 with the operation's token."""
    callback = state.nexus_callback
    until = window_end if callback is None else max(window_end, callback.answer_until)
    settled: AloState | None = state if state.terminal else await _settled_by(service, state, until)
    if settled is None or (callback is not None and callback.url in owed_urls(settled)):
        # The callback will be told (it is owed every outcome after the window).
        return JsonResponse(
            {"token": operation_token(state.id), "state": "running"}, status_code=201
        )
    if settled.status is Status.COMPLETED:
        assert settled.result is not None
        return JsonResponse(
            msgspec.msgpack.decode(settled.result),
            headers={"Nexus-Operation-State": "succeeded"},
        )
    return JsonResponse(
        operation_error(settled.status, settled.failure),
        status_code=424,
        headers={"Nexus-Operation-State": operation_state(settled.status)},
    )


async def _settled_by(service: Service, state: AloState, until: float) -> AloState | None:
    """The ALO's final state if it settles before the clock reads ``until``, else None.

    The last look is taken after the clock has passed ``until``: an outcome that it
    misses settles later, so the callback is owed it.
    """
    clock = service.system.clock
    while (remaining := until - clock.now()) > 0:
        try:
            return await wait_settled(service, state.id, remaining)
        except TimeoutError:
            continue
        except PollInterrupted:
            raise NexusError(
                "UNAVAILABLE", "the server is shutting down: retry the start"
            ) from None
    try:
        return await service.system.aio._settled(state.id, timeout=0)
    except TimeoutError:
        return None


async def _cancel(
    request: AnyRequest,
    options: NexusOptions,
    service: str,
    operation: str,
    query_token: str | None,
) -> Response[bytes]:
    header_token = request.headers.get("nexus-operation-token")
    if header_token is not None and query_token is not None and header_token != query_token:
        raise NexusError("BAD_REQUEST", "the Nexus-Operation-Token header and ?token= differ")
    token = header_token if header_token is not None else query_token
    if token is None:
        raise NexusError(
            "BAD_REQUEST", "a cancel needs the operation token (Nexus-Operation-Token or ?token=)"
        )
    alo_id = alo_id_of_token(token)
    _check_service(options, service)
    aio = service_of(request).system.aio
    info = await aio.get_info(alo_id)
    if info.operation != operation or info.metadata.get(SERVICE_KEY) != service:
        raise NexusError("NOT_FOUND", f"no {service}/{operation} operation has that token")
    await aio.cancel(alo_id, CANCEL_REASON)
    return Response(b"", status_code=202)
