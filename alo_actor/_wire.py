"""The JSON forms of an ALO's info and failure, the same on every face.

The HTTP API answers with them (its OpenAPI document names them by these Structs, and
their docstrings describe them there; the API leaves out a stack trace unless told to
show it); result-URL POSTs carry the failure in this shape; ``alo ls --json`` and purge
archives write infos in it; ``alo_actor.client`` reads them back into ``AloInfo``.
Times are RFC 3339 (``alo_actor._times``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from alo_actor._model import AloInfo, Failure, Status
from alo_actor._times import utc


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


class ListBody(msgspec.Struct, frozen=True):
    """A page of ALOs in creation order; ``next_cursor`` is None on the last page."""

    alos: list[InfoBody]
    next_cursor: str | None


def failure_body(failure: Failure, stack_traces: bool = True) -> FailureBody:
    """The Failure's JSON form; without its stack trace unless ``stack_traces`` (the
    HTTP API leaves it out unless told to show it: a handler's traceback shows the
    server's files)."""
    return FailureBody(
        message=failure.message,
        metadata={"type": failure.type},
        details=failure.details,
        stack_trace=failure.stack_trace if stack_traces else None,
    )


def info_body(info: AloInfo, stack_traces: bool = True) -> InfoBody:
    """The info's JSON form (its failure's stack trace as ``failure_body`` says)."""
    settled_at, deadline, failure = info.settled_at, info.deadline, info.failure
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


def list_body(items: list[AloInfo], next_cursor: str | None) -> ListBody:
    """A listing's page in its JSON form (stack traces kept)."""
    return ListBody(alos=[info_body(info) for info in items], next_cursor=next_cursor)


# -- reading them back -------------------------------------------------------------------


def failure_from_json(data: Any) -> Failure:
    """A Failure from its JSON form (as decoded JSON); raises msgspec.ValidationError."""
    return _failure(msgspec.convert(data, FailureBody))


def info_from_json(data: Any, created: bool | None = None) -> AloInfo:
    """An AloInfo from an info's JSON form; raises msgspec.ValidationError."""
    return _info(msgspec.convert(data, InfoBody), created)


def page_from_json(data: Any) -> tuple[list[AloInfo], str | None]:
    """The infos and next cursor of a listing's JSON form; raises msgspec.ValidationError."""
    page = msgspec.convert(data, ListBody)
    return [_info(info, None) for info in page.alos], page.next_cursor


def _failure(failure: FailureBody) -> Failure:
    return Failure(
        message=failure.message,
        type=failure.metadata.get("type", "Error"),
        details=failure.details,
        stack_trace=failure.stack_trace,
    )


def _info(info: InfoBody, created: bool | None) -> AloInfo:
    settled_at, deadline, failure = info.settled_at, info.deadline, info.failure
    return AloInfo(
        id=info.id,
        operation=info.operation,
        status=info.status,
        metadata=info.metadata,
        result_urls=info.result_urls,
        attempt=info.attempt,
        created_at=info.created_at.timestamp(),
        settled_at=None if settled_at is None else settled_at.timestamp(),
        deadline=None if deadline is None else deadline.timestamp(),
        failure=None if failure is None else _failure(failure),
        result_metadata=info.result_metadata,
        created=created,
    )
