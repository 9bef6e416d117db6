"""The optional bearer token: every route but ``/healthz`` (and routes that check a
credential of their own, the Nexus ones) answers 401 without it."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException
from litestar.types import ASGIApp, Receive, Scope, Send

OPEN_PATHS = frozenset({"/healthz"})


def bearer_auth(token: str, open_prefix: str | None = None) -> Callable[[ASGIApp], ASGIApp]:
    """A Litestar middleware factory that demands ``Authorization: Bearer <token>``,
    except on ``/healthz`` and on paths under ``open_prefix`` (routes that check
    credentials of their own)."""
    expected = token.encode()

    def middleware(app: ASGIApp) -> ASGIApp:
        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            path = scope["path"]
            if (
                scope["type"] == ScopeType.HTTP
                and path not in OPEN_PATHS
                and (open_prefix is None or not path.startswith(open_prefix))
            ):
                presented = _bearer(scope)
                # compare_digest: the time taken must not tell how much of a guess was right.
                if presented is None or not hmac.compare_digest(presented, expected):
                    raise NotAuthorizedException(
                        "a bearer token is required: send 'Authorization: Bearer <token>'",
                        headers={"WWW-Authenticate": "Bearer"},
                    )
            await app(scope, receive, send)

        return guarded

    return middleware


def _bearer(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, credentials = value.partition(b" ")
            if scheme.lower() == b"bearer":
                return credentials.strip()
            return None
    return None
