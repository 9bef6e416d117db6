"""Turning the API's arguments into validated commands (shared by sync and async faces)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import msgspec

from alo_actor._errors import (
    AloError,
    InvalidArgument,
    NotFound,
    OperationCancelled,
    OperationFailed,
    OperationTimedOut,
)
from alo_actor._events import NexusCallback
from alo_actor._machine import AloState, Cancel, Complete, Fail, Start
from alo_actor._model import AloInfo, Failure, Status
from alo_actor._validate import (
    check_callback_headers,
    check_id,
    check_metadata,
    check_operation,
    check_result_urls,
    check_text,
    check_timeout,
    encode_payload,
)


def start_command(
    alo_id: str,
    operation: str | None,
    input: Any,
    metadata: Mapping[str, str] | None,
    result_urls: list[str] | None,
    timeout: float | None,
    deadline: float | None,
    *,
    now: float,
    registered: Collection[str],
    allowed_hosts: Collection[str] | None,
    nexus_callback: NexusCallback | None = None,
) -> Start:
    """The validated Start; a ``nexus_callback`` joins the result URLs (last), under
    the same checks and the same allow-list."""
    check_id(alo_id)
    operation = check_operation(operation)
    if operation is not None and operation not in registered:
        raise NotFound(f"no handler is registered for operation {operation!r}")
    timeout = check_timeout(timeout)
    deadline = check_timeout(deadline, "deadline")
    if timeout is not None and deadline is not None:
        raise InvalidArgument("give timeout or deadline, not both")
    if timeout is not None:
        deadline = now + timeout
    urls = check_result_urls(result_urls, allowed_hosts)
    if nexus_callback is not None:
        check_callback_headers(nexus_callback.headers)
        check_timeout(nexus_callback.answer_until, "the Nexus callback's answer_until")
        urls = check_result_urls([*urls, nexus_callback.url], allowed_hosts)
    # Positional, every field in order (keywords cost a third more, for every start).
    return Start(
        alo_id,  # id
        operation,  # operation
        encode_payload(input, "input"),  # input
        check_metadata(metadata),  # metadata
        urls,  # result_urls
        deadline,  # deadline
        nexus_callback,  # nexus_callback
    )


def complete_command(result: Any, result_metadata: Mapping[str, str] | None) -> Complete:
    return Complete(
        result=encode_payload(result, "result"),
        result_metadata=check_metadata(result_metadata, "result_metadata"),
    )


def fail_command(
    message: str | Failure, type: str | None, details: Any, stack_trace: str | None
) -> Fail:
    if isinstance(message, Failure):
        failure = message
    else:
        if not isinstance(message, str):
            raise InvalidArgument("fail() takes a message string or a Failure")
        failure = Failure(
            message=message, type=type or "Error", details=details, stack_trace=stack_trace
        )
    if not isinstance(failure.message, str):
        raise InvalidArgument("failure message must be a string")
    if not isinstance(failure.type, str) or (
        failure.stack_trace is not None and not isinstance(failure.stack_trace, str)
    ):
        raise InvalidArgument("failure type and stack_trace must be strings")
    # The failure as stored, not the caller's: its details are then the log's own
    # decoded copy, which no later change of the caller's object alters.
    return Fail(_decode_failure(encode_payload(failure, "failure", wrapped=True)))


_decode_failure = msgspec.msgpack.Decoder(Failure).decode


def cancel_command(reason: str | None) -> Cancel:
    if reason is not None:
        if not isinstance(reason, str):
            raise InvalidArgument("reason must be a string")
        check_text(reason, "reason")
    return Cancel(reason)


def info_of(answer: tuple[AloState, bool | None]) -> AloInfo:
    state, created = answer
    return state.info(created)


def result_of(state: AloState) -> Any:
    """The value of a COMPLETED ALO; the matching error for any other outcome."""
    status = state.status
    if status is Status.COMPLETED:
        assert state.result is not None
        return msgspec.msgpack.decode(state.result)
    failure = state.failure or Failure(message=status.value, type=status.name)
    if status is Status.CANCELLED:
        raise OperationCancelled(failure)
    if status is Status.TIMED_OUT:
        raise OperationTimedOut(failure)
    if status is Status.FAILED:
        raise OperationFailed(failure)
    raise AloError(f"ALO {state.id!r} is not settled")
