"""The optional bearer token: every route but ``/healthz`` answers 401 without it.

Routes that check a credential of their own are let through: the console (under
``/ui``: the token from its session cookie or from this header) and the Nexus routes
(under ``/nexus``: the Nexus token as HTTP Basic password or bearer token).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Collection

from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException
from litestar.types import ASGIApp, Receive, Scope, Send

OPEN_PATHS = frozenset({"/healthz"})


def bearer_auth(token: str, *, self_guarded: Collection[str] = ()) -> Callable[[ASGIApp], ASGIApp]:
    """A Litestar middleware factory that demands ``Authorization: Bearer <token>``.

    Paths at or under a prefix in ``self_guarded`` pass: their routes guard themselves.
    """
    expected = token.encode()
    prefixes = tuple(self_guarded)

    def middleware(app: ASGIApp) -> ASGIApp:
        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            path = scope["path"]
            if (
                scope["type"] == ScopeType.HTTP
                and path not in OPEN_PATHS
                and not _under(path, prefixes)
            ):
                presented = bearer_credentials(scope)
                # compare_digest: the time taken must not tell how much of a guess was right.
                if presented is None or not hmac.compare_digest(presented, expected):
                    raise NotAuthorizedException(
                        "a bearer token is required: send 'Authorization: Bearer <token>'",
                        headers={"WWW-Authenticate": "Bearer"},
                    )
            await app(scope, receive, send)

        return guarded

    return middleware


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
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
