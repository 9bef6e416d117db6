"""The OpenAPI document's ``webhooks``: the POST each result URL receives (semantics §5).

The body's schema is msgspec's for the very Struct the dispatcher encodes
(``alo_actor.delivery.OutcomeBody``), with its definitions inlined: the OpenAPI
document's component schemas are Litestar's to generate, and this one is used by
no route.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    PathItem,
    Reference,
    RequestBody,
    Schema,
)

from alo_actor._model import TERMINAL
from alo_actor.delivery import OutcomeBody


class _JsonSchema(Schema):
    """A schema given as plain JSON Schema (OpenAPI 3.1 schemas are JSON Schema)."""

    def __init__(self, schema: dict[str, Any]) -> None:
        super().__init__()
        self._json = schema

    def to_schema(self) -> dict[str, Any]:
        return self._json


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with every ``#/$defs/`` reference replaced by its definition."""
    definitions = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(definitions[ref.removeprefix("#/$defs/")])
            return {key: walk(value) for key, value in node.items() if key != "$defs"}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    inlined: dict[str, Any] = walk(schema)
    return inlined


def outcome_schema() -> dict[str, Any]:
    """The JSON Schema of a result-URL POST's body."""
    schema = _inlined(msgspec.json.schema(OutcomeBody))
    # The Struct's field is the Status enum; an outcome is only ever a terminal one.
    schema["properties"]["status"] = {
        "enum": sorted(status.value for status in TERMINAL),
        "description": "the terminal status word",
    }
    return schema


def _header(name: str, description: str, required: bool = True) -> Parameter:
    return Parameter(
        name=name,
        param_in="header",
        schema=Schema(type=OpenAPIType.STRING),
        description=description,
        required=required,
    )


_HEADERS = [
    _header("Nexus-Operation-Token", "the ALO's id"),
    _header(
        "Nexus-Operation-State",
        "succeeded, failed or canceled (a timeout reports failed)",
    ),
    _header("Nexus-Operation-Start-Time", "when the ALO was created (RFC 3339)"),
    _header("Nexus-Operation-Close-Time", "when it settled (RFC 3339)"),
    _header(
        "webhook-id",
        "Standard Webhooks message id: the same on every retry of one outcome to one URL "
        "(deduplicate on it); sent when the server has a signing secret",
        required=False,
    ),
    _header("webhook-timestamp", "Unix seconds when this POST was signed", required=False),
    _header(
        "webhook-signature",
        "v1,<base64 HMAC-SHA256>: check it with alo_actor.webhooks.verify or any "
        "Standard Webhooks library",
        required=False,
    ),
]


def result_webhooks() -> dict[str, PathItem | Reference]:
    """The ``webhooks`` section of the OpenAPI document."""
    post = Operation(
        summary="An ALO's outcome, POSTed to each of its result URLs",
        description=(
            "Sent once the outcome is durable, at least once per URL until a 2xx; retried "
            "with exponential backoff on connection errors, timeouts, 408, 429 and 5xx, "
            "given up at once on other 4xx and redirects. `result` is set for completed "
            "ALOs, `failure` (the Failure of every error body) for the others."
        ),
        operation_id="resultUrlOutcome",
        parameters=list(_HEADERS),
        request_body=RequestBody(
            content={"application/json": OpenAPIMediaType(schema=_JsonSchema(outcome_schema()))},
            required=True,
        ),
        responses={
            "2XX": OpenAPIResponse(description="received: the delivery is recorded as done"),
            "default": OpenAPIResponse(
                description="408, 429 and 5xx are retried; any other answer gives up"
            ),
        },
    )
    return {"alo-outcome": PathItem(post=post)}
