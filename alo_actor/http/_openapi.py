"""The OpenAPI document as the server behaves: what Litestar cannot say from the types.

Litestar writes the document from the handlers' signatures and the msgspec Structs;
it does not know that unknown fields are refused, what an id or a duration may look
like, which hosts result URLs may name, or which headers an answer carries. Each
amendment below states one rule the server enforces, in the words of the code that
enforces it (the same patterns, the same limits), so that a client or a fuzzer
reading the document (schemathesis ``--checks all``, ``tests/http/test_openapi.py``)
finds no request the document allows and the server refuses, and the reverse.
"""

from __future__ import annotations

import copy
import functools
import re
import sys
import unicodedata
from collections.abc import Collection
from typing import Any

from litestar import Request
from litestar.openapi.plugins import JsonRenderPlugin

from alo_actor._model import Status
from alo_actor._validate import (
    LOOPBACK_HOSTS,
    MAX_ID_LENGTH,
    MAX_METADATA_PAIRS,
    MAX_METADATA_TEXT,
    MAX_NESTING,
    MAX_RESULT_URLS,
    MAX_URL_LENGTH,
)
from alo_actor.http._changes import EVENT_STREAM, LAST_EVENT_ID_PATTERN, MAX_POSITION
from alo_actor.http._durations import AGE_PATTERN, DURATION_PATTERN, UNIX_TIME_PATTERN
from alo_actor.http._errors import ALO_STATUS

# Surrogates are left out: no JSON text or URL can carry a lone one (the body decoder
# and uvicorn refuse or replace them), and regex engines that work on Unicode scalar
# values (jsonschema-rs, as schemathesis uses) reject a class naming them.
_ID_FORBIDDEN = frozenset({"Cc", "Cf"})
_REQUESTS = (
    "StartRequest",
    "CompleteRequest",
    "FailRequest",
    "FailureMetadata",
    "CancelRequest",
    "BatchRequest",
    "BatchCompletion",
)
_VALUE = "StoredValue"
_STATUS_HEADER = {
    "description": "the ALO's status word",
    "schema": {"type": "string", "enum": [status.value for status in Status]},
    "required": True,
}


class AmendedJson(JsonRenderPlugin):
    """Serves ``/schema/openapi.json`` with the amendments of this module, the result-URL
    hosts those of the open system's callback allow-list."""

    def __init__(self) -> None:
        super().__init__()
        self._amended: tuple[int, Collection[str] | None, dict[str, Any]] | None = None

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        allowed = request.app.state.service.system.allowed_callback_hosts
        hosts = None if allowed is None else sorted(allowed)
        # Litestar builds the document once and hands the same dict every time.
        amended = self._amended
        if amended is None or amended[0] != id(openapi_schema) or amended[1] != hosts:
            amended = self._amended = (id(openapi_schema), hosts, amend(openapi_schema, hosts))
        return self.render_json(request, amended[2])


def amend(document: dict[str, Any], callback_hosts: Collection[str] | None) -> dict[str, Any]:
    """A copy of Litestar's ``document`` that says what the server enforces."""
    document = copy.deepcopy(document)
    schemas = document["components"]["schemas"]
    for name in _REQUESTS:  # msgspec's forbid_unknown_fields: an unknown field is a 400
        schemas[name]["additionalProperties"] = False
    start = schemas["StartRequest"]["properties"]
    start["id"] = id_schema()
    start["operation"] = {"oneOf": [{"type": "string", "minLength": 1}, {"type": "null"}]}
    start["metadata"] = {"oneOf": [_labels(), {"type": "null"}]}
    start["result_urls"] = {
        "oneOf": [
            {"type": "array", "maxItems": MAX_RESULT_URLS, "items": _url(callback_hosts)},
            {"type": "null"},
        ]
    }
    schemas[_VALUE] = _value_schema()
    value = {"$ref": f"#/components/schemas/{_VALUE}"}
    start["input"] = value
    schemas["CompleteRequest"]["properties"]["result"] = value
    if "BatchRequest" in schemas:  # POST /v1/batch: its items' rules are the routes' own
        completion = schemas["BatchCompletion"]["properties"]
        completion["id"] = id_schema()
        completion["result"] = value
        completion["result_metadata"] = {"oneOf": [_labels(), {"type": "null"}]}
        batch = schemas["BatchRequest"]["properties"]
        batch["results"] = {"type": "array", "items": id_schema()}
        batch["wait"] = {"oneOf": [_duration(), {"type": "null"}]}
        schemas["BatchRequest"]["description"] = (
            "at most 1,000 items in starts, completes and results together"
        )
    schemas["FailRequest"]["properties"]["details"] = value
    start["timeout"] = {
        "oneOf": [{"type": "number", "minimum": 0}, _duration(), {"type": "null"}],
        "description": 'a duration: "30s", "500ms", "5m", "1h" or seconds; '
        "past a hundred years it counts as a hundred years",
    }
    schemas["CompleteRequest"]["properties"]["result_metadata"] = {
        "oneOf": [_labels(), {"type": "null"}]
    }
    for path, item in document["paths"].items():
        for method, operation in item.items():
            _amend_operation(path, method, operation)
    changes = document["paths"].get("/v1/changes", {}).get("get")
    if changes is not None:
        changes["responses"]["200"]["content"] = {EVENT_STREAM: _change_events()}
    return document


def _change_events() -> dict[str, Any]:
    """``GET /v1/changes``: each Server-Sent Event as a whole (OpenAPI's ``itemSchema``),
    its ``data`` a change in JSON; comment lines (keep-alives) are no events."""
    return {
        "itemSchema": {
            "type": "object",
            "required": ["data", "event", "id"],
            "properties": {
                "data": {
                    "type": "string",
                    "contentMediaType": "application/json",
                    "contentSchema": {"$ref": "#/components/schemas/ChangeBody"},
                },
                "event": {"const": "change"},
                "id": {"type": "string", "pattern": "^[0-9]+$"},
                "retry": {"type": "integer", "minimum": 0},
            },
        }
    }


def _amend_operation(path: str, method: str, operation: dict[str, Any]) -> None:
    for parameter in operation.get("parameters", []):
        name = parameter["name"]
        if name == "alo_id":
            parameter["schema"] = id_schema()
        elif name == "wait":
            parameter["schema"] = _duration()
        elif name in ("created_after", "created_before"):
            parameter["schema"] = {
                "anyOf": [
                    {"type": "string", "pattern": f"^{UNIX_TIME_PATTERN}$"},
                    {"type": "string", "pattern": f"^{AGE_PATTERN}$"},
                    {"type": "string", "format": "date-time"},
                ]
            }
        elif name == "status":
            parameter["schema"] = {"type": "string", "pattern": _statuses_pattern()}
        elif name == "operation":
            parameter["schema"] = {"type": "string", "minLength": 1}
        elif name == "after" and path == "/v1/changes":
            parameter["schema"] = {"type": "integer", "minimum": 0, "maximum": MAX_POSITION}
        elif name == "Last-Event-ID":
            parameter["schema"] = {"type": "string", "pattern": f"^{LAST_EVENT_ID_PATTERN}$"}
        elif name == "cursor":
            parameter["schema"] = {"type": "string", "minLength": 1}
            parameter["description"] = (
                "a next_cursor from an earlier page with the same filters, as it was "
                "given; any other value is refused (400)"
            )
    if path == "/v1/alos" and method == "get":
        operation.setdefault("parameters", []).append(
            {
                "name": "metadata.KEY",
                "in": "query",
                "required": False,
                "schema": {"type": "string"},
                "description": "a label filter: name the parameter `metadata.` and the "
                "label's key (`metadata.team=billing`); repeat for several labels, "
                "every one must match. `metadata.KEY` itself filters on the key `KEY`.",
            }
        )
    body = operation.get("requestBody")
    if body is not None and path.endswith("/cancel"):
        body["required"] = False  # the reason is optional, and so is the whole body
    responses = operation.get("responses", {})
    if path == "/v1/alos" and method == "post" and "201" in responses:
        responses["201"].setdefault("headers", {})["Location"] = {
            "description": "the created ALO's path, /v1/alos/{id}",
            "schema": {"type": "string"},
            "required": True,
        }
    for code, response in responses.items():
        if code in ("408", "412", "424") or (code.startswith("2") and ALO_STATUS in str(response)):
            response.setdefault("headers", {})[ALO_STATUS] = _STATUS_HEADER
        if code == "401":
            response.setdefault("headers", {})["WWW-Authenticate"] = {
                "description": "Bearer",
                "schema": {"type": "string"},
                "required": True,
            }


def warm_up() -> None:
    """Read the Unicode tables for the id's pattern now (~0.3 s), not in the first
    request for the document, which would hold the event loop that long."""
    _id_pattern()


def id_schema() -> dict[str, Any]:
    """An ALO id as ``check_id`` takes it."""
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_ID_LENGTH,
        "pattern": _id_pattern(),
        "description": "the ALO's id, chosen by the client: 1 to 256 characters, none of "
        "them whitespace, a control or format character or '/'; not '.' or '..'",
    }


def _value_schema() -> dict[str, Any]:
    """Any JSON value the log can store."""
    value = {"$ref": f"#/components/schemas/{_VALUE}"}
    return {
        "description": f"any JSON value, its arrays and objects nested at most {MAX_NESTING} "
        "deep; an integer beyond 64 bits is stored as the nearest double",
        "anyOf": [
            {"type": ["null", "boolean", "string", "number"]},
            {"type": "array", "items": value},
            {"type": "object", "additionalProperties": value},
        ],
    }


def _labels() -> dict[str, Any]:
    return {
        "type": "object",
        "maxProperties": MAX_METADATA_PAIRS,
        "propertyNames": {"maxLength": MAX_METADATA_TEXT},
        "additionalProperties": {"type": "string", "maxLength": MAX_METADATA_TEXT},
    }


def _duration() -> dict[str, Any]:
    return {"type": "string", "pattern": f"^{DURATION_PATTERN}$"}


def _url(callback_hosts: Collection[str] | None) -> dict[str, Any]:
    """A result URL as ``check_result_urls`` takes it, for these allowed hosts."""
    schema: dict[str, Any] = {"type": "string", "maxLength": MAX_URL_LENGTH}
    if callback_hosts is None:
        schema["format"] = "uri"
        return schema
    hosts: set[str] = set()
    for host in callback_hosts:
        hosts.update(LOOPBACK_HOSTS if host == "loopback" else {host})
    names = "|".join(
        r"\[::1\]" if host == "::1" else _any_case(re.escape(host)) for host in sorted(hosts)
    )
    # urlsplit's reading: user info up to the last '@' of the authority, a port of
    # 0-65535 (leading zeros allowed, or none after the ':'), then printable ASCII.
    user = r"([!\"$-.0->@-Z\\^-~]*@)?"
    number = r"0*([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
    port = f"(:({number})?)?"
    schema["pattern"] = f"^{_any_case('http')}[Ss]?://{user}({names}){port}([/?#][!-~]*)?$"
    schema["description"] = "an http(s) URL whose host is one the server allows: " + ", ".join(
        sorted(hosts)
    )
    return schema


def _any_case(text: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in text)


def _statuses_pattern() -> str:
    """One status word or several, comma-separated; case and blanks as the server allows."""
    word = "|".join(_any_case(status.value) for status in Status)
    item = rf"\s*({word})\s*"
    return f"^{item}(,{item})*$"


@functools.cache
def _id_pattern() -> str:
    return rf"^(?!\.\.?$)[^{_id_forbidden()}]{{1,{MAX_ID_LENGTH}}}$"


@functools.cache
def _id_forbidden() -> str:
    """What an id may not hold, as the inside of a regex class, read from this Python's
    Unicode tables as ``check_id`` reads them: whitespace, control and format code
    points, and '/'."""
    ranges: list[list[int]] = []
    for code in range(sys.maxunicode + 1):
        ch = chr(code)
        if not (ch.isspace() or ch == "/" or unicodedata.category(ch) in _ID_FORBIDDEN):
            continue
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(
        _char(low) if low == high else f"{_char(low)}-{_char(high)}" for low, high in ranges
    )


def _char(code: int) -> str:
    # Escapes (valid in Python's and ECMA-262's regexes) below U+10000; the character
    # itself above, where the two dialects' escapes differ.
    return f"\\u{code:04X}" if code <= 0xFFFF else chr(code)
