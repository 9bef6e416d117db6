"""The hot path: the two requests every ALO takes, answered below Litestar's handler layer.

``POST /v1/alos`` and ``GET /v1/alos/{id}/result?wait=…`` are most of a busy
server's requests. Through Litestar's handler layer each costs ~90 us of Python
(a Request object, the kwargs model, the signature model's validation, an
AsyncExitStack, the response machinery) against ~30 us for the work itself. So each
of the two handlers carries a route middleware, ``start_lane`` or ``result_lane``,
that answers a well-formed request itself: the same msgspec decoding, the same
``_answers`` code, the same bytes sent.

It runs after everything in front of a handler: the bearer token (before routing),
routing, the check that a body is JSON (415, ``_media``), and Litestar's exception
middleware, which answers whatever the lane raises exactly as it answers the
handler's errors. Anything the lane is not sure of goes on
to the handler, which then answers as it always has: a body with no Content-Length,
announced or grown over the limit, that does not decode, or that msgspec refuses
(with its message naming the field); an id outside the length limits; a query string
other than a plain ``wait=``. So every refusal of a request comes from the handler,
and the lane answers only requests the handler would have accepted
(``tests/http/test_hotpath.py`` compares the two answers).

The lane skips what these two handlers do not have: guards, before/after-request
hooks, DTOs, dependencies. Give either handler one of those and its lane must do
the same, or go.

At DEBUG, the ``alo_actor.http.lane`` logger says, before any answer is sent, which
way each request went: ``answered`` here (its errors too, which the exception
middleware turns into the answer) or ``passed`` to the handler; the tests check
that the lane answers what it should.
"""

from __future__ import annotations

import logging
import re

import msgspec
from litestar.types import ASGIApp, Receive, ReceiveMessage, Scope, Send

from alo_actor._validate import MAX_ID_LENGTH
from alo_actor.http import _answers as answers
from alo_actor.http._schemas import StartRequest
from alo_actor.http._service import Service

MAX_BODY_BYTES = 4 * 1024 * 1024

_json = msgspec.json.Decoder()
_WAIT = re.compile(rb"wait=([0-9A-Za-z.]{1,32})")
_log = logging.getLogger("alo_actor.http.lane")


def _passed(scope: Scope) -> None:
    if _log.isEnabledFor(logging.DEBUG):
        _log.debug("passed %s %s", scope.get("method"), scope["path"])


def _answered(scope: Scope) -> None:
    if _log.isEnabledFor(logging.DEBUG):
        _log.debug("answered %s %s", scope.get("method"), scope["path"])


def _service(scope: Scope) -> Service:
    service: Service = scope["litestar_app"].state.service
    return service


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() and len(value) < 16 else None
    return None


async def _read_body(receive: Receive, limit: int) -> tuple[list[ReceiveMessage], bytes | None]:
    """The messages received and the whole body; None for the body if it was not whole
    (a disconnect, or more than ``limit`` bytes)."""
    messages: list[ReceiveMessage] = []
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return messages, None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return messages, b"".join(chunks)


def _replay(messages: list[ReceiveMessage], receive: Receive) -> Receive:
    """``receive`` as it was before ``messages`` were taken from it."""
    pending = list(messages)

    async def replayed() -> ReceiveMessage:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


def _decode_start(body: bytes) -> StartRequest | None:
    """The body as Litestar decodes a handler's ``data`` (JSON to builtins, then a lax
    convert); None if that fails in any way, for the handler to answer."""
    try:
        data: StartRequest = msgspec.convert(_json.decode(body), StartRequest, strict=False)
    except Exception:
        return None
    return data


def start_lane(app: ASGIApp) -> ASGIApp:
    """The route middleware of ``POST /v1/alos``."""

    async def lane(scope: Scope, receive: Receive, send: Send) -> None:
        length = _content_length(scope)
        if not length or length > MAX_BODY_BYTES:
            _passed(scope)
            await app(scope, receive, send)
            return
        messages, body = await _read_body(receive, MAX_BODY_BYTES)
        data = None if body is None else _decode_start(body)
        if data is None:
            _passed(scope)
            await app(scope, _replay(messages, receive), send)
            return
        _answered(scope)
        response = await answers.start(_service(scope), data)
        await response.asgi_response()(scope, receive, send)

    return lane


def result_lane(app: ASGIApp) -> ASGIApp:
    """The route middleware of ``GET /v1/alos/{id}/result``."""

    async def lane(scope: Scope, receive: Receive, send: Send) -> None:
        alo_id = scope["path_params"].get("alo_id")
        wait = _WAIT.fullmatch(scope["query_string"])
        if wait is None or not isinstance(alo_id, str) or not 0 < len(alo_id) <= MAX_ID_LENGTH:
            _passed(scope)
            await app(scope, receive, send)
            return
        _answered(scope)
        response = await answers.result(_service(scope), alo_id, wait.group(1).decode())
        await response.asgi_response()(scope, receive, send)

    return lane
