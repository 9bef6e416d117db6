"""What the OpenAPI document says beyond the types: path ids, error answers, headers."""

from __future__ import annotations

from typing import Annotated

from litestar.datastructures import ResponseHeader
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from alo_actor._validate import MAX_ID_LENGTH
from alo_actor._wire import FailureBody
from alo_actor.http._errors import ALO_STATUS

AloId = Annotated[
    str,
    Parameter(
        min_length=1,
        max_length=MAX_ID_LENGTH,
        description="the ALO's id, chosen by the client (no whitespace, control characters or '/')",
    ),
]

_DESCRIPTIONS = {
    400: "malformed JSON, a wrong type, an unknown field or an invalid value",
    401: "a bearer token is configured and the request does not carry it",
    404: "no ALO has this id (for a start: no handler has this operation)",
    408: "the ALO did not settle within `wait`",
    409: "an ALO with this id exists with a different operation, input, metadata or URLs",
    412: "the ALO is not settled (running or paused) and no `wait` was asked for",
    413: "the request body is over 4 MiB, or an input or result over 2 MiB",
    415: "a request body that is not `application/json` (or `+json`) in UTF-8",
    424: "the ALO failed, was cancelled or timed out: the body is its failure",
    500: "a failure inside the service",
    503: "the log cannot be written now (the disk is full, the file is read-only, an I/O "
    "error, its WAL file was deleted: the message says which) or the server is shutting "
    "down; nothing was written, ask again later",
}

STATUS_HEADER = [
    ResponseHeader(
        name=ALO_STATUS,
        documentation_only=True,
        description="the ALO's status word (running, paused, completed, failed, "
        "cancelled, timed_out)",
    )
]


def error_responses(*codes: int) -> dict[int, ResponseSpec]:
    """Failure bodies for ``codes``, plus the 401, 415, 500 and 503 any route may give."""
    return {
        code: ResponseSpec(
            data_container=FailureBody, description=_DESCRIPTIONS[code], generate_examples=False
        )
        for code in sorted({*codes, 401, 415, 500, 503})
    }
