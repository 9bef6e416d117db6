"""The JSON forms of an ALO's info and failure, the same on every face.

The HTTP API answers with them (``alo_actor.http`` has its own Structs of the same
shape, for its OpenAPI document, which may leave out a stack trace:
``tests/cli/test_time_rule.py`` checks that an info written here is the API's body);
result-URL POSTs carry the failure in this shape; ``alo ls --json`` and purge
archives write infos in it; ``alo_actor.client`` reads them back into ``AloInfo``.
Times are RFC 3339 (``alo_actor._times``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from alo_actor._model import AloInfo, Failure, Status
from alo_actor._times import utc


class FailureJson(msgspec.Struct, omit_defaults=True, frozen=True):
    """A Nexus-style Failure: ``{"message", "metadata": {"type"}, "details", "stackTrace"?}``."""

    message: str
    metadata: dict[str, str]
    details: Any
    stack_trace: str | None = msgspec.field(default=None, name="stackTrace")


class InfoJson(msgspec.Struct, frozen=True):
    """What is known of one ALO; times in RFC 3339, the status as its lower-case word."""

    id: str
    operation: str | None
    status: Status
    metadata: dict[str, str]
    result_urls: list[str]
    attempt: int
    created_at: datetime
    settled_at: datetime | None
    deadline: datetime | None
    failure: FailureJson | None
    result_metadata: dict[str, str] | None


class PageJson(msgspec.Struct, frozen=True):
    """A page of a listing: ``{"alos": [info…], "next_cursor"}``."""

    alos: list[InfoJson]
    next_cursor: str | None


def failure_json(failure: Failure) -> FailureJson:
    return FailureJson(
        message=failure.message,
        metadata={"type": failure.type},
        details=failure.details,
        stack_trace=failure.stack_trace,
    )


def info_json(info: AloInfo) -> InfoJson:
    settled_at, deadline, failure = info.settled_at, info.deadline, info.failure
    return InfoJson(
        id=info.id,
        operation=info.operation,
        status=info.status,
        metadata=info.metadata,
        result_urls=info.result_urls,
        attempt=info.attempt,
        created_at=utc(info.created_at),
        settled_at=None if settled_at is None else utc(settled_at),
        deadline=None if deadline is None else utc(deadline),
        failure=None if failure is None else failure_json(failure),
        result_metadata=info.result_metadata,
    )


def page_json(items: list[AloInfo], next_cursor: str | None) -> PageJson:
    return PageJson(alos=[info_json(info) for info in items], next_cursor=next_cursor)


# -- reading them back -------------------------------------------------------------------


def failure_from_json(data: Any) -> Failure:
    """A Failure from its JSON form (as decoded JSON); raises msgspec.ValidationError."""
    return _failure(msgspec.convert(data, FailureJson))


def info_from_json(data: Any, created: bool | None = None) -> AloInfo:
    """An AloInfo from an info's JSON form; raises msgspec.ValidationError."""
    return _info(msgspec.convert(data, InfoJson), created)


def page_from_json(data: Any) -> tuple[list[AloInfo], str | None]:
    """The infos and next cursor of a listing's JSON form; raises msgspec.ValidationError."""
    page = msgspec.convert(data, PageJson)
    return [_info(info, None) for info in page.alos], page.next_cursor


def _failure(failure: FailureJson) -> Failure:
    return Failure(
        message=failure.message,
        type=failure.metadata.get("type", "Error"),
        details=failure.details,
        stack_trace=failure.stack_trace,
    )


def _info(info: InfoJson, created: bool | None) -> AloInfo:
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
