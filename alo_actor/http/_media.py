"""Request bodies must say they are JSON: anything else is refused with 415.

Browsers send ``text/plain``, form and multipart POSTs to any site without asking
first (no CORS preflight), so a body parsed as JSON whatever its type would let any
web page drive a server on the user's machine. A JSON type needs a preflight, which
this server never grants.

Accepted: ``application/json`` and ``application/<anything>+json``, without a
charset or with ``charset=utf-8`` (JSON is UTF-8, RFC 8259). A request without a body
needs no type. The check is an app-level middleware, so it runs after routing (an
unknown route is still 404) and before the hot path of ``POST /v1/alos``, which thus
never sees a body the handler would refuse this way.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any

from litestar import Request
from litestar.enums import ScopeType
from litestar.exceptions import SerializationException
from litestar.types import ASGIApp, Receive, Scope, Send

from alo_actor._validate import MAX_NESTING
from alo_actor.http._auth import under
from alo_actor.http._errors import ServiceError


def json_bodies(*, skip: Collection[str] = ()) -> Callable[[ASGIApp], ASGIApp]:
    """A Litestar middleware factory: 415 for a request body that is not JSON, on every
    path but those at or under a prefix in ``skip`` (routes that take other bodies and
    check them themselves: the console's forms, Nexus inputs)."""
    prefixes = tuple(skip)

    def middleware(app: ASGIApp) -> ASGIApp:
        async def checked(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == ScopeType.HTTP and not under(scope["path"], prefixes):
                refuse_unless_json(scope["headers"])
            await app(scope, receive, send)

        return checked

    return middleware


def refuse_unless_json(headers: Iterable[tuple[bytes, bytes]]) -> None:
    """Raise ServiceError 415 if the request carries a body not declared as JSON."""
    content_type: bytes | None = None
    has_body = False
    for name, value in headers:
        if name == b"content-type":
            content_type = value
        elif name == b"content-length":
            has_body = has_body or value.strip() not in (b"0", b"")
        elif name == b"transfer-encoding":
            has_body = True
    if not has_body:
        return
    if content_type is None:
        raise ServiceError(
            415,
            "UnsupportedMediaType",
            "the request body needs 'Content-Type: application/json'",
        )
    if content_type != b"application/json" and not is_json(content_type):
        shown = content_type.decode("latin-1")
        raise ServiceError(
            415,
            "UnsupportedMediaType",
            f"the request body must be JSON ('Content-Type: application/json'), not {shown!r}",
        )


def is_json(content_type: bytes) -> bool:
    """Whether a Content-Type names JSON in UTF-8 (``application/json``, ``…+json``)."""
    media_type, *parameters = content_type.decode("latin-1").split(";")
    kind, _, subtype = media_type.strip().lower().partition("/")
    if kind != "application" or not (subtype == "json" or subtype.endswith("+json")):
        return False
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            return False
    return True


class JsonRequest(Request[Any, Any, Any]):
    """Litestar's Request, refusing (400, not 500) the bodies msgspec fails on with
    something other than a DecodeError: invalid UTF-8 inside a string, and arrays or
    objects nested past its recursion guard (~1,000 deep; the engine refuses anything
    past MAX_NESTING anyway)."""

    async def json(self) -> Any:
        try:
            return await super().json()
        except UnicodeDecodeError as exc:
            raise SerializationException(
                f"the body is not valid UTF-8 ({exc.reason} at byte {exc.start})"
            ) from None
        except RecursionError:
            raise SerializationException(
                f"arrays or objects nest too deeply (at most {MAX_NESTING} levels)"
            ) from None
