"""How the Nexus routes refuse: every error as a Nexus HandlerError Failure with the
spec's status code, and the credentials a Temporal endpoint can send."""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from collections.abc import Callable, Mapping
from typing import Any

from litestar import Request
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ASGIApp, ExceptionHandlersMap, Receive, Scope, Send

from alo_actor._errors import (
    AloError,
    AlreadyExists,
    InvalidArgument,
    NotFound,
    SystemClosed,
    Unavailable,
)
from alo_actor.http._responses import JsonResponse
from alo_actor.nexus import HANDLER_ERROR_STATUS, handler_error

logger = logging.getLogger("alo_actor.http")


class NexusError(Exception):
    """A Nexus HandlerError to answer: ``error_type`` is a key of HANDLER_ERROR_STATUS."""

    def __init__(
        self, error_type: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.headers = dict(headers or {})


def _answer(
    error_type: str, message: str, headers: Mapping[str, str] | None = None
) -> JsonResponse[dict[str, Any]]:
    return JsonResponse(
        handler_error(error_type, message),
        status_code=HANDLER_ERROR_STATUS[error_type],
        headers=headers,
    )


def _nexus_error(_: Request[Any, Any, Any], exc: NexusError) -> JsonResponse[dict[str, Any]]:
    return _answer(exc.error_type, exc.message, exc.headers)


_ALO_ERRORS: tuple[tuple[type[AloError], str], ...] = (
    (InvalidArgument, "BAD_REQUEST"),
    (NotFound, "NOT_FOUND"),
    (AlreadyExists, "CONFLICT"),
    (SystemClosed, "UNAVAILABLE"),
    (Unavailable, "UNAVAILABLE"),
)


def _alo_error(request: Request[Any, Any, Any], exc: AloError) -> JsonResponse[dict[str, Any]]:
    for kind, error_type in _ALO_ERRORS:
        if isinstance(exc, kind):
            return _answer(error_type, str(exc))
    return _internal_error(request, exc)


# Litestar's own refusals (a body over the limit, a malformed query) by status code.
_HTTP_ERRORS = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "UNAUTHORIZED",
    404: "NOT_FOUND",
    405: "NOT_IMPLEMENTED",
    413: "BAD_REQUEST",
    429: "RESOURCE_EXHAUSTED",
}


def _http_error(
    request: Request[Any, Any, Any], exc: HTTPException
) -> JsonResponse[dict[str, Any]]:
    error_type = _HTTP_ERRORS.get(exc.status_code)
    if error_type is None:
        return _internal_error(request, exc)
    message = exc.detail
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list):
        message = f"{message}: {exc.extra}"
    elif exc.status_code == 413:
        message = "the request body is over the 4 MiB limit"
    return _answer(error_type, message)


def _internal_error(
    request: Request[Any, Any, Any], exc: Exception
) -> JsonResponse[dict[str, Any]]:
    # The caller gets no traceback (it would show internals); the log keeps it.
    logger.error("internal error answering %s %s", request.method, request.url.path, exc_info=exc)
    return _answer("INTERNAL", "internal server error")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    NexusError: _nexus_error,
    AloError: _alo_error,
    HTTPException: _http_error,
    Exception: _internal_error,
}


def nexus_auth(secret: str) -> Callable[[ASGIApp], ASGIApp]:
    """A route middleware that wants ``secret`` as the password of HTTP Basic
    credentials (any user name), or as a bearer token.

    Basic is what a Temporal endpoint can send: its target URL's user info
    (``http://nexus:SECRET@host:8080/nexus``) becomes ``Authorization: Basic ...``
    on every request (Go's HTTP client does it); Temporal adds no other header.
    """
    expected = secret.encode()

    def middleware(app: ASGIApp) -> ASGIApp:
        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            presented = _credential(scope)
            # compare_digest: the time taken must not tell how much of a guess was right.
            if presented is None or not hmac.compare_digest(presented, expected):
                raise NexusError(
                    "UNAUTHENTICATED",
                    "credentials are required: HTTP Basic with the Nexus token as the "
                    "password (user info in the endpoint's target URL), or a bearer token",
                    headers={"WWW-Authenticate": 'Basic realm="alo-nexus"'},
                )
            await app(scope, receive, send)

        return guarded

    return middleware


def _credential(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, credentials = value.partition(b" ")
            scheme = scheme.lower()
            if scheme == b"bearer":
                return credentials.strip()
            if scheme == b"basic":
                try:
                    decoded = base64.b64decode(credentials.strip(), validate=True)
                except binascii.Error:
                    return None
                _, colon, password = decoded.partition(b":")
                return password if colon else None
            return None
    return None
