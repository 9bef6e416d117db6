"""The JSON bodies of the HTTP API (msgspec Structs) and their conversion from AloInfo."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from alo_actor._model import AloInfo, Failure, Status
from alo_actor._times import utc
from alo_actor._validate import MAX_ID_LENGTH, MAX_METADATA_PAIRS, MAX_RESULT_URLS

# -- requests: unknown fields are refused, so a typo is a 400, not a silent default ------


class StartRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """``POST /v1/alos``: ``timeout`` is ``"30s"``, ``"500ms"``, ``"5m"`` or seconds."""

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]
    operation: str | None = None
    input: Any = None
    metadata: Annotated[dict[str, str], msgspec.Meta(max_length=MAX_METADATA_PAIRS)] | None = None
    result_urls: Annotated[list[str], msgspec.Meta(max_length=MAX_RESULT_URLS)] | None = None
    timeout: float | str | None = None


class CompleteRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """``POST /v1/alos/{id}/complete``."""

    result: Any
    result_metadata: dict[str, str] | None = None


class FailureMetadata(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A Failure's ``metadata``: the error type."""

    type: str = "Error"


class FailRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """``POST /v1/alos/{id}/fail``: a Nexus Failure."""

    message: str
    metadata: FailureMetadata = FailureMetadata()
    details: Any = None
    stack_trace: str | None = msgspec.field(default=None, name="stackTrace")

    def failure(self) -> Failure:
        return Failure(
            message=self.message,
            type=self.metadata.type,
            details=self.details,
            stack_trace=self.stack_trace,
        )


class CancelRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """``POST /v1/alos/{id}/cancel``."""

    reason: str | None = None


# -- responses ------------------------------------------------------------------------


class FailureBody(msgspec.Struct, omit_defaults=True, frozen=True):
    """A Nexus-style Failure: every error body, and why an ALO did not complete."""

    message: str
    metadata: dict[str, str]
    details: Any
    stack_trace: str | None = msgspec.field(default=None, name="stackTrace")


class InfoBody(msgspec.Struct, frozen=True):
    """What is known of one ALO; times in RFC 3339."""

    id: str
    operation: str | None
    status: Status
    metadata: dict[str, str]
    result_urls: list[str]
    attempt: int
    created_at: datetime
    settled_at: datetime | None
    deadline: datetime | None
    failure: FailureBody | None
    result_metadata: dict[str, str] | None


class ResultBody(msgspec.Struct, frozen=True):
    """The outcome of a completed ALO."""

    result: Any
    result_metadata: dict[str, str]


class ListBody(msgspec.Struct, frozen=True):
    """A page of ALOs in creation order; ``next_cursor`` is None on the last page."""

    alos: list[InfoBody]
    next_cursor: str | None


class EventBody(msgspec.Struct, frozen=True):
    """One stored event: its type name, its version in the ALO's stream and its fields."""

    version: int
    type: str
    at: datetime | None
    recorded_at: datetime
    data: dict[str, Any]


class EventsBody(msgspec.Struct, frozen=True):
    """The ALO's event history, oldest first."""

    id: str
    events: list[EventBody]


class HealthBody(msgspec.Struct, frozen=True):
    """Liveness."""

    status: str = "ok"


# -- conversion -----------------------------------------------------------------------


def failure_body(failure: Failure, stack_traces: bool) -> FailureBody:
    """The Failure as answered; without its stack trace unless ``stack_traces`` (a
    handler's traceback shows the server's files: ``alo serve --expose-stack-traces``)."""
    return FailureBody(
        message=failure.message,
        metadata={"type": failure.type},
        details=failure.details,
        stack_trace=failure.stack_trace if stack_traces else None,
    )


def error_body(message: str, type: str, details: Any = None) -> FailureBody:
    """The Failure body of an error the service itself answers with."""
    return FailureBody(message=message, metadata={"type": type}, details=details)


def info_body(info: AloInfo, stack_traces: bool) -> InfoBody:
    settled_at = info.settled_at
    deadline = info.deadline
    failure = info.failure
    return InfoBody(
        id=info.id,
        operation=info.operation,
        status=info.status,
        metadata=info.metadata,
        result_urls=info.result_urls,
        attempt=info.attempt,
        created_at=utc(info.created_at),
        settled_at=None if settled_at is None else utc(settled_at),
        deadline=None if deadline is None else utc(deadline),
        failure=None if failure is None else failure_body(failure, stack_traces),
        result_metadata=info.result_metadata,
    )
