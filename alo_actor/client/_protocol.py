"""The HTTP API as calls and answers, without I/O: shared by the sync and async clients.

Each verb builds a ``Call`` (method, path, query, body) and reads its ``httpx.Response``
back into what ``AloSystem`` returns or raises, so the two clients differ only in how
they send.
"""

from __future__ import annotations

import datetime
import math
import time
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple
from urllib.parse import quote

import httpx
import msgspec

from alo_actor._errors import (
    AloError,
    AlreadyExists,
    InvalidArgument,
    NotFound,
    OperationCancelled,
    OperationFailed,
    OperationTimedOut,
    SystemClosed,
)
from alo_actor._model import AloInfo, Failure, Status
from alo_actor._times import rfc3339
from alo_actor._validate import check_id, check_timeout
from alo_actor._wire import failure_from_json, info_from_json, page_from_json
from alo_actor.readmodel import AloPage

DEFAULT_URL = "http://127.0.0.1:8080"

# The longest wait one long poll asks for. The server caps it (``alo serve
# --max-wait``, 60 s by default) and answers 408 sooner; the client then asks again.
POLL_SECONDS = 60.0
# How much longer than its wait a long poll's HTTP request may take.
POLL_MARGIN = 10.0


class ServiceError(AloError):
    """An answer that no AloSystem call gives: 401 (a token is wanted), a 5xx, or a body
    that is not the API's. ``status_code`` is the HTTP status; ``failure`` its body."""

    def __init__(self, message: str, status_code: int, failure: Failure | None = None) -> None:
        super().__init__(message, failure)
        self.status_code = status_code


def auth_headers(token: str | None) -> dict[str, str]:
    return {} if token is None else {"Authorization": f"Bearer {token}"}


class Call(NamedTuple):
    """One HTTP request of the API."""

    method: str
    path: str
    params: tuple[tuple[str, str], ...] | None = None
    body: Any = None
    # The request's own limit (a long poll's), instead of the client's.
    timeout: float | None = None


def _path(alo_id: str, verb: str = "") -> str:
    # Checked here as AloSystem checks it: an id with a "/" would name another route.
    return f"/v1/alos/{quote(check_id(alo_id), safe='')}{verb}"


def _seconds(value: float | str | None, what: str) -> float | str | None:
    if value is None or isinstance(value, str):
        return value
    return check_timeout(value, what)


def start_call(
    alo_id: str,
    operation: str | None,
    input: Any,
    metadata: Mapping[str, str] | None,
    result_urls: list[str] | None,
    timeout: float | str | None,
    deadline: float | None,
) -> Call:
    check_id(alo_id)
    timeout = _seconds(timeout, "timeout")
    at = check_timeout(deadline, "deadline")
    if at is not None:
        if timeout is not None:
            raise InvalidArgument("give timeout or deadline, not both")
        # The API takes a timeout: the deadline as this machine's clock sees it.
        timeout = max(at - time.time(), 0.0)
    body: dict[str, Any] = {"id": alo_id, "operation": operation, "input": input}
    if metadata is not None:
        body["metadata"] = dict(metadata)
    if result_urls is not None:
        body["result_urls"] = list(result_urls)
    if timeout is not None:
        body["timeout"] = timeout
    return Call("POST", "/v1/alos", body=body)


def info_call(alo_id: str) -> Call:
    return Call("GET", _path(alo_id))


def events_call(alo_id: str) -> Call:
    return Call("GET", _path(alo_id, "/events"))


def complete_call(alo_id: str, result: Any, result_metadata: Mapping[str, str] | None) -> Call:
    body: dict[str, Any] = {"result": result}
    if result_metadata is not None:
        body["result_metadata"] = dict(result_metadata)
    return Call("POST", _path(alo_id, "/complete"), body=body)


def fail_call(
    alo_id: str,
    message: str | Failure,
    type: str | None,
    details: Any,
    stack_trace: str | None,
) -> Call:
    if isinstance(message, Failure):
        failure = message
    elif isinstance(message, str):
        failure = Failure(message, type or "Error", details, stack_trace)
    else:
        raise InvalidArgument("fail() takes a message string or a Failure")
    body: dict[str, Any] = {
        "message": failure.message,
        "metadata": {"type": failure.type},
        "details": failure.details,
    }
    if failure.stack_trace is not None:
        body["stackTrace"] = failure.stack_trace
    return Call("POST", _path(alo_id, "/fail"), body=body)


def cancel_call(alo_id: str, reason: str | None) -> Call:
    return Call("POST", _path(alo_id, "/cancel"), body={"reason": reason})


def pause_call(alo_id: str) -> Call:
    return Call("POST", _path(alo_id, "/pause"))


def resume_call(alo_id: str) -> Call:
    return Call("POST", _path(alo_id, "/resume"))


StatusFilter = Status | str | Iterable[Status | str] | None
TimeBound = float | int | str | datetime.datetime | None


def _time_param(value: TimeBound, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise InvalidArgument(f"{what} must be an aware datetime (with a time zone)")
        return value.isoformat()
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidArgument(f"{what} must be clock seconds or an aware datetime")
    # As RFC 3339, like every time the API shows: the server reads such a bound as the
    # instants that round to it, so a time read back from an info bounds as expected.
    return rfc3339(float(value))


def list_call(
    status: StatusFilter,
    operation: str | None,
    metadata: Mapping[str, str] | None,
    created_after: TimeBound,
    created_before: TimeBound,
    limit: int,
    cursor: str | None,
) -> Call:
    params: list[tuple[str, str]] = [("limit", str(limit))]
    if status is not None:
        words = [status] if isinstance(status, str) else list(status)
        params.append(("status", ",".join(str(word) for word in words)))
    if operation is not None:
        params.append(("operation", operation))
    for key, value in (metadata or {}).items():
        params.append((f"metadata.{key}", value))
    for name, bound in (("created_after", created_after), ("created_before", created_before)):
        text = _time_param(bound, name)
        if text is not None:
            params.append((name, text))
    if cursor is not None:
        params.append(("cursor", cursor))
    return Call("GET", "/v1/alos", params=tuple(params))


# -- answers --------------------------------------------------------------------------


def _json(response: httpx.Response) -> Any:
    try:
        return msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        raise ServiceError(
            f"HTTP {response.status_code} with a body that is not JSON: {response.text[:200]!r}",
            response.status_code,
        ) from None


def _failure(response: httpx.Response) -> Failure:
    try:
        return failure_from_json(_json(response))
    except msgspec.ValidationError:
        raise ServiceError(
            f"HTTP {response.status_code} without a Failure body: {response.text[:200]!r}",
            response.status_code,
        ) from None


_ERRORS: dict[int, type[AloError]] = {
    400: InvalidArgument,
    404: NotFound,
    409: AlreadyExists,
    413: InvalidArgument,  # AloSystem refuses an oversized input as an invalid argument
    503: SystemClosed,
}
_UNSUCCESSFUL: dict[str, type[OperationFailed]] = {
    Status.FAILED.value: OperationFailed,
    Status.CANCELLED.value: OperationCancelled,
    Status.TIMED_OUT.value: OperationTimedOut,
}


def error_of(response: httpx.Response) -> Exception:
    """What AloSystem would raise for the same request (or a ServiceError)."""
    code = response.status_code
    failure = _failure(response)
    if code == 424:
        kind = _UNSUCCESSFUL.get(response.headers.get("Alo-Status", ""), OperationFailed)
        return kind(failure)
    error = _ERRORS.get(code)
    if error is not None:
        return error(failure.message, failure)
    return ServiceError(f"HTTP {code}: {failure.message}", code, failure)


def _ok(response: httpx.Response) -> Any:
    if not 200 <= response.status_code < 300:
        raise error_of(response)
    return _json(response)


def _info(response: httpx.Response, created: bool | None = None) -> AloInfo:
    data = _ok(response)
    try:
        return info_from_json(data, created)
    except msgspec.ValidationError as exc:
        raise ServiceError(f"not an info body: {exc}", response.status_code) from None


def read_start(response: httpx.Response) -> AloInfo:
    """201: this call created it; 200: the same start was made before."""
    return _info(response, created=response.status_code == 201)


def read_info(response: httpx.Response) -> AloInfo:
    return _info(response)


def read_page(response: httpx.Response) -> AloPage:
    data = _ok(response)
    try:
        items, next_cursor = page_from_json(data)
    except msgspec.ValidationError as exc:
        raise ServiceError(f"not a listing body: {exc}", response.status_code) from None
    return AloPage(items=items, next_cursor=next_cursor)


def read_events(response: httpx.Response) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = _ok(response)["events"]
    return events


class ResultPoll:
    """``get_result`` over HTTP: long polls, one after another, until an outcome or the
    caller's ``timeout`` (None: for ever), since the server caps each wait."""

    def __init__(self, alo_id: str, timeout: float | None) -> None:
        self.path = _path(alo_id, "/result")
        timeout = check_timeout(timeout)
        self.deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        self.alo_id = alo_id
        self.timeout = timeout

    def next_call(self) -> Call:
        wait = POLL_SECONDS
        if self.deadline is not None:
            wait = min(wait, max(self.deadline - time.monotonic(), 0.0))
        return Call("GET", self.path, params=(("wait", f"{wait:.3f}"),), timeout=wait + POLL_MARGIN)

    def read(self, response: httpx.Response) -> tuple[bool, Any]:
        """``(True, result)`` once settled; ``(False, None)`` to poll again. Raises
        what get_result raises (TimeoutError once the timeout is spent)."""
        if response.status_code == 200:
            return True, _json(response)["result"]
        if response.status_code != 408:
            raise error_of(response)
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise TimeoutError(f"ALO {self.alo_id!r} did not settle within {self.timeout} s")
        return False, None
