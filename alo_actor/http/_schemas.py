"""The JSON bodies of the HTTP API (msgspec Structs) and their conversion from AloInfo.

An info, a failure and a page of a listing are ``alo_actor._wire``'s: the same shapes
on every face (the CLI's ``--json``, result URLs, archives, the client).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from alo_actor._model import Failure
from alo_actor._validate import MAX_ID_LENGTH, MAX_METADATA_PAIRS, MAX_RESULT_URLS
from alo_actor._wire import FailureBody

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


class ResultBody(msgspec.Struct, frozen=True):
    """The outcome of a completed ALO."""

    result: Any
    result_metadata: dict[str, str]


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


def error_body(message: str, type: str, details: Any = None) -> FailureBody:
    """The Failure body of an error the service itself answers with."""
    return FailureBody(message=message, metadata={"type": type}, details=details)
