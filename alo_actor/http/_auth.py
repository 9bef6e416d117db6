"""The optional bearer token, checked before routing: without it every route but the
open ones answers 401, and so do unknown paths and methods (a 404 or 405 would tell
an outsider which routes exist).

Routes that check a credential of their own are let through: the console (under
``/ui``: the token from its session cookie or from this header) and the Nexus routes
(under ``/nexus``: the Nexus token as HTTP Basic password or bearer token).
"""

from __future__ import annotations

import hmac
from collections.abc import Collection

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from alo_actor.http._responses import JsonResponse
from alo_actor.http._schemas import error_body

# Probes (liveness, readiness) carry no token; the OpenAPI document holds no data, and
# a browser opening it cannot send one.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/schema/openapi.json"})

_UNAUTHORIZED = JsonResponse(
    error_body("a bearer token is required: send 'Authorization: Bearer <token>'", "Unauthorized"),
    status_code=401,
    headers={"WWW-Authenticate": "Bearer"},
).asgi_response()


def bearer_auth(app: ASGIApp, token: str, *, self_guarded: Collection[str] = ()) -> ASGIApp:
    """``app`` behind a check of ``Authorization: Bearer <token>`` on every HTTP request
    but those for ``OPEN_PATHS`` and for paths at or under a prefix in ``self_guarded``
    (their routes guard themselves)."""
    expected = token.encode()
    prefixes = tuple(self_guarded)

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            path = scope["path"]
            if path not in OPEN_PATHS and not under(path, prefixes):
                presented = bearer_credentials(scope)
                # compare_digest: the time taken must not tell how much of a guess was right.
                if presented is None or not hmac.compare_digest(presented, expected):
                    await _UNAUTHORIZED(scope, receive, send)
                    return
        await app(scope, receive, send)

    return guarded


def under(path: str, prefixes: tuple[str, ...]) -> bool:
    """Whether ``path`` is one of ``prefixes`` or lies under one."""
    return any(path == prefix or path.startswith(prefix + "/") for prefix in prefixes)


def bearer_credentials(scope: Scope) -> bytes | None:
    """The credentials of an ``Authorization: Bearer`` header, if the request has one."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, credentials = value.partition(b" ")
            if scheme.lower() == b"bearer":
                return credentials.strip()
            return None
    return None
