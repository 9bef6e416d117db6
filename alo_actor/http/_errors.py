"""Every error as a Nexus-style Failure body with the status code of http.md."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from litestar import Request
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.types import ExceptionHandlersMap

from alo_actor._errors import (
    AloError,
    AlreadyExists,
    InvalidArgument,
    NotFound,
    OperationCancelled,
    OperationFailed,
    OperationTimedOut,
    PayloadTooLarge,
    SystemClosed,
    Unavailable,
)
from alo_actor._model import Status
from alo_actor._wire import FailureBody, failure_body
from alo_actor.http._responses import JsonResponse
from alo_actor.http._schemas import error_body

ALO_STATUS = "Alo-Status"

logger = logging.getLogger("alo_actor.http")


class ServiceError(Exception):
    """An answer other than success that the routes give themselves (412, 408, 413)."""

    def __init__(
        self,
        status_code: int,
        type: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.type = type
        self.message = message
        self.headers = dict(headers or {})


def failure_response(
    body: FailureBody, status_code: int, headers: Mapping[str, str] | None = None
) -> JsonResponse[FailureBody]:
    return JsonResponse(body, status_code=status_code, headers=headers)


def status_of_failure(error: OperationFailed) -> Status:
    """The terminal status an unsuccessful outcome's error stands for."""
    if isinstance(error, OperationCancelled):
        return Status.CANCELLED
    if isinstance(error, OperationTimedOut):
        return Status.TIMED_OUT
    return Status.FAILED


_ALO_ERROR_STATUS: tuple[tuple[type[AloError], int], ...] = (
    (NotFound, 404),
    (AlreadyExists, 409),
    (PayloadTooLarge, 413),  # before InvalidArgument, of which it is one
    (InvalidArgument, 400),
    (OperationFailed, 424),
    (SystemClosed, 503),
    (Unavailable, 503),
)


def refusal_of(exc: AloError) -> tuple[str, int] | None:
    """How the API answers an engine's refusal: the error type it names and the status
    code; None for an error it does not expect (answered as an internal error)."""
    for kind, status_code in _ALO_ERROR_STATUS:
        if isinstance(exc, kind):
            return kind.__name__, status_code
    return None


def _alo_error(request: Request[Any, Any, Any], exc: AloError) -> JsonResponse[FailureBody]:
    if isinstance(exc, OperationFailed):
        stack_traces: bool = request.app.state.service.expose_stack_traces
        return failure_response(
            failure_body(exc.failure, stack_traces), 424, {ALO_STATUS: status_of_failure(exc).value}
        )
    refusal = refusal_of(exc)
    if refusal is None:
        return _internal_error(request, exc)
    kind, status_code = refusal
    return failure_response(error_body(str(exc), kind), status_code)


def _service_error(_: Request[Any, Any, Any], exc: ServiceError) -> JsonResponse[FailureBody]:
    return failure_response(error_body(exc.message, exc.type), exc.status_code, exc.headers)


_HTTP_TYPES = {
    400: "InvalidArgument",
    401: "Unauthorized",
    404: "NotFound",
    405: "MethodNotAllowed",
    413: "PayloadTooLarge",
}


def _http_error(_: Request[Any, Any, Any], exc: HTTPException) -> JsonResponse[FailureBody]:
    status_code = exc.status_code
    if isinstance(exc, ValidationException):
        message = _validation_message(exc)
    elif isinstance(exc.__cause__, SerializationException):
        message = f"malformed JSON in the request body: {exc.detail}"
    elif status_code == 413:
        message = "the request body is over the 4 MiB limit"
    else:
        message = exc.detail
    kind = _HTTP_TYPES.get(status_code, type(exc).__name__)
    return failure_response(error_body(message, kind), status_code, exc.headers)


def _validation_message(exc: ValidationException) -> str:
    """Litestar's message plus each field's own complaint (msgspec names the field)."""
    problems: list[str] = []
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if not isinstance(item, dict):
            continue
        message = str(item.get("message", "invalid value"))
        key = item.get("key")
        source = item.get("source")
        if key == "data" and source == "body":  # the body as a whole, e.g. an unknown field
            problems.append(f"in the body: {message}")
        elif key is not None:
            where = f"{source} " if source else ""
            problems.append(f"{where}field `{key}`: {message}")
        else:
            problems.append(message)
    detail = exc.detail.rstrip(".")
    return f"{detail}: {'; '.join(problems)}" if problems else detail


def _internal_error(request: Request[Any, Any, Any], exc: Exception) -> JsonResponse[FailureBody]:
    # The client gets no traceback (it would show internals); the log keeps it.
    logger.error("internal error answering %s %s", request.method, request.url.path, exc_info=exc)
    return failure_response(error_body("internal server error", "InternalError"), 500)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    AloError: _alo_error,
    ServiceError: _service_error,
    HTTPException: _http_error,
    Exception: _internal_error,
}
