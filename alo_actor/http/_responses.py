"""A lean JSON response: the hot path's answers, without Litestar's header machinery.

Litestar's ``Response`` normalizes headers through ``MutableScopeHeaders`` three
times over (the response, ``to_asgi_response``, ``ASGIResponse``), which cost more
than the rest of a small request (measured with cProfile on start/result). These
answers are always JSON with a handful of fixed headers, so they are encoded once
and sent as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec
from litestar import Request, Response
from litestar.enums import MediaType
from litestar.response.base import ASGIResponse
from litestar.types import HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send

T = TypeVar("T")

_encoder = msgspec.json.Encoder()
_JSON = (b"content-type", b"application/json")


class JsonResponse(Response[T]):
    """``content`` as JSON with ``status_code`` and a few extra headers (``Alo-Status``)."""

    def __init__(
        self, content: T, *, status_code: int = 200, headers: Mapping[str, str] | None = None
    ) -> None:
        # Response's attributes, set directly rather than through its __init__ (above).
        self.content = content
        self.status_code = status_code
        self.headers = dict(headers) if headers else {}
        self.background = None
        self.cookies = []
        self.encoding = "utf-8"
        self.media_type = MediaType.JSON
        self.response_type_encoders = {}

    def to_asgi_response(self, app: Any, request: Request[Any, Any, Any], **_: Any) -> ASGIResponse:
        return self.asgi_response()

    def asgi_response(self) -> ASGIResponse:
        """The answer as an ASGI app (what Litestar would send; the hot path sends it)."""
        body = _encoder.encode(self.content)
        raw = [_JSON, (b"content-length", str(len(body)).encode())]
        for name, value in self.headers.items():
            raw.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        return _Sent(self.status_code or 200, raw, body)


class _Sent(ASGIResponse):
    """An already encoded answer: two ASGI messages."""

    def __init__(self, status_code: int, raw_headers: list[tuple[bytes, bytes]], body: bytes):
        # ASGIResponse's __init__ would rebuild the headers this class exists to skip.
        self.status_code = status_code
        self.body = body
        self._raw_headers = raw_headers

    __slots__ = ("_raw_headers",)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start: HTTPResponseStartEvent = {
            "type": "http.response.start",
            "status": self.status_code,
            "headers": self._raw_headers,
        }
        await send(start)
        body: HTTPResponseBodyEvent = {
            "type": "http.response.body",
            "body": self.body,
            "more_body": False,
        }
        await send(body)
