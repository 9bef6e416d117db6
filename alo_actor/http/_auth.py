"""The optional bearer token, checked before routing: without it every route but the
open ones answers 401, and so do unknown paths and methods (a 404 or 405 would tell
an outsider which routes exist)."""

from __future__ import annotations

import hmac

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


def bearer_auth(app: ASGIApp, token: str) -> ASGIApp:
    """``app`` behind a check of ``Authorization: Bearer <token>`` on every HTTP request
    but those for ``OPEN_PATHS``."""
    expected = token.encode()

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and scope["path"] not in OPEN_PATHS:
            presented = _bearer(scope)
            # compare_digest: the time taken must not tell how much of a guess was right.
            if presented is None or not hmac.compare_digest(presented, expected):
                await _UNAUTHORIZED(scope, receive, send)
                return
        await app(scope, receive, send)

    return guarded


def _bearer(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, credentials = value.partition(b" ")
            if scheme.lower() == b"bearer":
                return credentials.strip()
            return None
    return None
