"""The Nexus RPC HTTP protocol, as pure functions: operation tokens, durations,
failures, the callback headers of a start and the times of a completion.

The wire format is the Nexus RPC HTTP spec (nexus-rpc/api, ``SPEC.md``) as Temporal
1.32 speaks it; what Temporal was seen to send and accept is in the README.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import msgspec

from alo_actor._errors import InvalidArgument
from alo_actor._model import Failure, Status
from alo_actor._validate import check_id

OPERATION_ERROR = "nexus.OperationError"
HANDLER_ERROR = "nexus.HandlerError"
CALLBACK_PREFIX = "nexus-callback-"
SERVICE_KEY = "nexus.service"
LINK_KEY = "nexus.link"

# The spec's predefined handler errors and their status codes.
HANDLER_ERROR_STATUS: dict[str, int] = {
    "BAD_REQUEST": 400,
    "UNAUTHENTICATED": 401,
    "UNAUTHORIZED": 403,
    "NOT_FOUND": 404,
    "REQUEST_TIMEOUT": 408,
    "CONFLICT": 409,
    "RESOURCE_EXHAUSTED": 429,
    "INTERNAL": 500,
    "NOT_IMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "UPSTREAM_TIMEOUT": 520,
}

_STATE = {
    Status.RUNNING: "running",
    Status.PAUSED: "running",
    Status.COMPLETED: "succeeded",
    Status.FAILED: "failed",
    Status.CANCELLED: "canceled",
    Status.TIMED_OUT: "failed",
}

_TOKEN_VERSION = 1
_TOKEN_TEXT = re.compile(r"[A-Za-z0-9_-]{1,2048}")


class _Token(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    v: int
    id: str


_token_decoder = msgspec.json.Decoder(_Token)
_json = msgspec.json.Encoder()


def operation_token(alo_id: str) -> str:
    """The operation token of the ALO ``alo_id``: base64url (unpadded) of a small JSON
    record. Opaque to the caller, which hands it back to cancel."""
    data = _json.encode(_Token(v=_TOKEN_VERSION, id=alo_id))
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def alo_id_of_token(token: str) -> str:
    """The ALO id an operation token names; raises InvalidArgument for anything that
    ``operation_token`` did not make (decoded strictly: one spelling per token)."""
    if not _TOKEN_TEXT.fullmatch(token) or len(token) % 4 == 1:
        raise InvalidArgument("malformed operation token")
    try:
        data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        record = _token_decoder.decode(data)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise InvalidArgument("malformed operation token") from None
    if record.v != _TOKEN_VERSION or operation_token(record.id) != token:
        raise InvalidArgument("malformed operation token")
    try:
        return check_id(record.id)
    except InvalidArgument:
        raise InvalidArgument("malformed operation token") from None


# The spec's "number + unit" (ms, s, m), and Go's Duration.String() ("1m30.5s"),
# which Temporal uses for some of these headers.
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION = re.compile(rf"(?:{_DURATION_PART.pattern})+")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_MAX_DURATION = 10 * 365 * 86400.0


def parse_duration(text: str, header: str) -> float:
    """Seconds in a duration header (``"44997ms"``, ``"30s"``, ``"1m30s"``); raises
    InvalidArgument naming ``header`` for anything else."""
    if len(text) > 64 or not _DURATION.fullmatch(text):
        raise InvalidArgument(
            f"{header} must be a number and a unit (ms, s or m), like 30s, not {text!r}"
        )
    seconds = sum(
        float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(text)
    )
    if seconds > _MAX_DURATION:
        raise InvalidArgument(f"{header} is over ten years: {text!r}")
    return seconds


def operation_state(status: Status) -> str:
    """The Nexus operation state of an ALO status (timed out reports ``failed``)."""
    return _STATE[status]


def failure_json(failure: Failure) -> dict[str, Any]:
    """An ALO's failure as a Nexus Failure: ``{"message", "metadata": {"type"},
    "details", "stackTrace"}``, the last two only when there are any."""
    body: dict[str, Any] = {"message": failure.message, "metadata": {"type": failure.type}}
    if failure.details is not None:
        body["details"] = failure.details
    if failure.stack_trace:
        body["stackTrace"] = failure.stack_trace
    return body


def operation_error(status: Status, failure: Failure | None) -> dict[str, Any]:
    """The Nexus OperationError Failure of an unsuccessful outcome: the spec's
    wrapper (state in its details) around the ALO's own failure as its cause."""
    cause = failure or Failure(message=status.value, type=status.name)
    return {
        "message": cause.message,
        "metadata": {"type": OPERATION_ERROR},
        "details": {"state": operation_state(status)},
        "cause": failure_json(cause),
    }


def handler_error(error_type: str, message: str) -> dict[str, Any]:
    """A Nexus HandlerError Failure (``error_type`` one of HANDLER_ERROR_STATUS)."""
    return {
        "message": message,
        "metadata": {"type": HANDLER_ERROR},
        "details": {"type": error_type},
    }


def callback_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The ``Nexus-Callback-*`` headers of a start request, prefix stripped, in the
    canonical spelling (``Temporal-Callback-Token``): what the completion echoes."""
    found: dict[str, str] = {}
    for name, value in headers:
        lowered = name.lower()
        if lowered.startswith(CALLBACK_PREFIX) and len(lowered) > len(CALLBACK_PREFIX):
            stripped = "-".join(
                part[:1].upper() + part[1:] for part in lowered[len(CALLBACK_PREFIX) :].split("-")
            )
            if stripped in found:
                raise InvalidArgument(f"callback header {name!r} is given more than once")
            found[stripped] = value
    return found


def http_date(seconds: float) -> str:
    """RFC 5322 date (``Nexus-Operation-Start-Time``)."""
    return email.utils.formatdate(seconds, usegmt=True)


def rfc3339_ms(seconds: float) -> str:
    """RFC 3339 in UTC with milliseconds (``Nexus-Operation-Close-Time``)."""
    return (
        datetime.fromtimestamp(seconds, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )
