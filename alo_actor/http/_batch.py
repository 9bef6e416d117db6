"""``POST /v1/batch``: many starts, completions and result waits in one request.

Each item is still its own command with its own answer (the batch verbs of the engine,
``alo_actor._batch``); what a batch saves is the requests: one round trip for up to
1,000 ALOs. The body's parts run in order (``starts``, then ``completes``, then
``results``), so one batch can start ALOs and wait for their results. Each answer
carries the status code the item's own request would have had (201, 200, 400, 404,
408, 409, 413, 424), its info, result or Failure.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import post
from litestar.params import JSONBody

from alo_actor._batch import AloCompletion, AloStart, plan_reads
from alo_actor._errors import AloError, InvalidArgument, OperationFailed
from alo_actor._machine import AloState
from alo_actor._model import AloInfo
from alo_actor._requests import result_of
from alo_actor._validate import (
    MAX_ID_LENGTH,
    check_id,
    check_metadata,
    check_operation,
    check_result_urls,
)
from alo_actor._wire import FailureBody, InfoBody, failure_body, info_body
from alo_actor.http._docs import error_responses
from alo_actor.http._durations import parse_duration
from alo_actor.http._errors import refusal_of
from alo_actor.http._responses import JsonResponse
from alo_actor.http._schemas import StartRequest, error_body
from alo_actor.http._service import AnyRequest, Service, service_of

MAX_ITEMS = 1000  # items of all parts together: one request's answers stay small

AloId = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]


class BatchCompletion(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One completion: ``POST /v1/alos/{id}/complete``'s body, with the id."""

    id: AloId
    result: Any
    result_metadata: dict[str, str] | None = None


class BatchRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """``POST /v1/batch``: ``results`` are waited for up to ``wait`` (the server caps
    it; without it, the ones not settled answer 412)."""

    starts: list[StartRequest] = []
    completes: list[BatchCompletion] = []
    results: list[AloId] = []
    wait: str | None = None


class ItemAnswer(msgspec.Struct, frozen=True):
    """One start's or completion's answer: ``info`` on success, else ``error``."""

    status: int
    info: InfoBody | None = None
    error: FailureBody | None = None


class ResultAnswer(msgspec.Struct, frozen=True):
    """One result's answer: 200 with ``result``; 424 with the failure as ``error``;
    404, 408 (the wait ran out) or 412 (not settled, no wait) with their Failure."""

    status: int
    result: Any = None
    result_metadata: dict[str, str] | None = None
    error: FailureBody | None = None


class BatchBody(msgspec.Struct, frozen=True):
    """The answers, one per item, in the order of the request's parts."""

    starts: list[ItemAnswer]
    completes: list[ItemAnswer]
    results: list[ResultAnswer]


def _error(service: Service, error: BaseException) -> tuple[int, FailureBody]:
    """The status code and Failure a single request would have answered with."""
    if isinstance(error, OperationFailed):
        return 424, failure_body(error.failure, service.expose_stack_traces)
    refusal = refusal_of(error) if isinstance(error, AloError) else None
    if refusal is not None:
        kind, status_code = refusal
        return status_code, error_body(str(error), kind)
    raise error  # not an item's fault: the request fails as a whole (500, logged)


def _item(service: Service, answer: AloInfo | BaseException, created_status: int) -> ItemAnswer:
    if isinstance(answer, AloInfo):
        status = created_status if answer.created else 200
        return ItemAnswer(status, info=info_body(answer, service.expose_stack_traces))
    status, failure = _error(service, answer)
    return ItemAnswer(status, error=failure)


def _checked(service: Service, data: BatchRequest) -> tuple[list[AloStart], float | None]:
    """The starts and the wait (seconds), once every item passes the checks its own
    request's schema states (the OpenAPI document's patterns and limits);
    InvalidArgument (400, for the whole batch) naming the first item that does not.
    What only the engine can tell (an id taken, an unknown operation, a value too large
    to store) is the item's own answer."""
    count = len(data.starts) + len(data.completes) + len(data.results)
    if count > MAX_ITEMS:
        raise InvalidArgument(f"a batch takes at most {MAX_ITEMS} items, not {count}")
    hosts = service.system.allowed_callback_hosts
    starts = []
    for n, item in enumerate(data.starts):
        where = f"starts[{n}]"
        try:
            check_id(item.id)
            check_operation(item.operation)
            check_metadata(item.metadata)
            check_result_urls(item.result_urls, hosts)
            timeout = None if item.timeout is None else parse_duration(item.timeout, "timeout")
        except InvalidArgument as exc:
            raise InvalidArgument(f"{where}: {exc}") from None
        starts.append(
            AloStart(item.id, item.operation, item.input, item.metadata, item.result_urls, timeout)
        )
    for n, done in enumerate(data.completes):
        try:
            check_id(done.id)
            check_metadata(done.result_metadata, "result_metadata")
        except InvalidArgument as exc:
            raise InvalidArgument(f"completes[{n}]: {exc}") from None
    for n, alo_id in enumerate(data.results):
        try:
            check_id(alo_id)
        except InvalidArgument as exc:
            raise InvalidArgument(f"results[{n}]: {exc}") from None
    wait = None if data.wait is None else parse_duration(data.wait, "wait")
    return starts, wait


async def answer(service: Service, data: BatchRequest) -> BatchBody:
    """Run the batch's parts in order; every item answered in its place."""
    aio = service.system.aio
    checked, wait = _checked(service, data)
    starts = [_item(service, a, 201) for a in await aio.start_many(checked)]
    completed = await aio.complete_many(
        [AloCompletion(c.id, c.result, c.result_metadata) for c in data.completes]
    )
    completes = [_item(service, answer, 200) for answer in completed]
    results: list[ResultAnswer] = []
    if data.results:
        plan = plan_reads(data.results)
        states, errors = await aio._settled_many(
            plan, 0.0 if wait is None else min(wait, service.max_wait)
        )
        for alo_id, state, error in zip(data.results, states, errors, strict=True):
            results.append(_result(service, alo_id, state, error, wait is None))
    return BatchBody(starts, completes, results)


def _result(
    service: Service,
    alo_id: str,
    state: AloState | None,
    error: BaseException | None,
    no_wait: bool,
) -> ResultAnswer:
    if error is not None:
        status, failure = _error(service, error)
        return ResultAnswer(status, error=failure)
    if state is None or not state.terminal:
        where = "not settled" if state is None else state.status.value
        if no_wait:
            message = f"ALO {alo_id!r} is {where}, not settled; pass wait to wait for it"
            return ResultAnswer(412, error=error_body(message, "NotSettled"))
        message = f"ALO {alo_id!r} did not settle within the wait; it is {where}"
        return ResultAnswer(408, error=error_body(message, "WaitTimedOut"))
    try:
        value = result_of(state)
    except OperationFailed as exc:
        status, failure = _error(service, exc)
        return ResultAnswer(status, error=failure)
    return ResultAnswer(200, result=value, result_metadata=state.result_metadata or {})


@post(
    "/v1/batch",
    status_code=200,
    summary="Start, complete and wait for many ALOs in one request",
    description="Up to 1,000 items in all. `starts` run first, then `completes`, then "
    "`results` are waited for (up to `wait`). Each answer has the status code its own "
    "request would have had, and its info, result or Failure.",
    responses=error_responses(400, 413),
)
async def batch(request: AnyRequest, data: JSONBody[BatchRequest]) -> JsonResponse[BatchBody]:
    return JsonResponse(await answer(service_of(request), data))


BATCH_ROUTES = [batch]
