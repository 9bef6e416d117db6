"""Who may use the console: the token once, then a cookie; and no cross-site actions.

With a token (``alo serve --token``) the console asks for it once and keeps, in a
cookie scoped to the console's path (HttpOnly, SameSite=Strict), a value derived
from it: the cookie opens the console, never the ``/v1`` API, and a new token
invalidates it. Every state-changing request must come from the console's own
origin (the ``Origin`` header, when the browser sends one, as browsers do on a
POST) and carry the console's CSRF token (a hidden field of each form), which a
page on another origin cannot read.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any
from urllib.parse import urlsplit

from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.handlers import BaseRouteHandler

from alo_actor.http._auth import bearer_credentials

CONSOLE_PATH = "/ui"
SESSION_COOKIE = "alo_console"
SESSION_DAYS = 30
CSRF_FIELD = "csrf"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

AnyConnection = ASGIConnection[Any, Any, Any, Any]


class SignInRequired(Exception):
    """The request carries neither the session cookie nor the bearer token."""


class CrossSiteRefused(Exception):
    """A state-changing request from another origin, or without the CSRF token."""


class Access:
    """The console's credentials for one app: ``token`` (``None``: an open console)."""

    def __init__(self, token: str | None) -> None:
        self.token = token
        # Derived from the token, the cookie and the CSRF token survive a restart;
        # without a token there is no secret to derive from, so one is drawn.
        secret = token.encode() if token is not None else secrets.token_bytes(32)
        key = hmac.new(secret, b"alo-console", hashlib.sha256).digest()
        self._session = hmac.new(key, b"session", hashlib.sha256).hexdigest()
        self.csrf_token = hmac.new(key, b"csrf", hashlib.sha256).hexdigest()

    def signed_in(self, connection: AnyConnection) -> bool:
        """Whether the request may see the console: no token is set, or it carries the
        session cookie or the bearer token."""
        if self.token is None:
            return True
        cookie = connection.cookies.get(SESSION_COOKIE)
        if cookie is not None and hmac.compare_digest(cookie.encode(), self._session.encode()):
            return True
        presented = bearer_credentials(connection.scope)
        return presented is not None and hmac.compare_digest(presented, self.token.encode())

    def accepts_token(self, presented: str) -> bool:
        return self.token is not None and hmac.compare_digest(
            presented.encode(), self.token.encode()
        )

    def session_cookie(self, connection: AnyConnection) -> Cookie:
        """The cookie that a correct token buys."""
        return Cookie(
            key=SESSION_COOKIE,
            value=self._session,
            path=CONSOLE_PATH,
            max_age=SESSION_DAYS * 86400,
            httponly=True,
            samesite="strict",
            secure=connection.url.scheme == "https",
        )

    def check_csrf(self, presented: str | None) -> None:
        """Raises CrossSiteRefused unless ``presented`` is this console's CSRF token."""
        if presented is None or not hmac.compare_digest(
            presented.encode(), self.csrf_token.encode()
        ):
            raise CrossSiteRefused(
                "the form's CSRF token is missing or stale: reload the page and try again"
            )


def signed_out_cookie() -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value="",
        path=CONSOLE_PATH,
        max_age=0,
        httponly=True,
        samesite="strict",
    )


def access_of(connection: AnyConnection) -> Access:
    """The console's Access (in the console routers' ``opt``)."""
    access: Access = connection.route_handler.opt["console"]
    return access


def same_origin(connection: AnyConnection) -> bool:
    """Whether the browser says the request comes from the console's own origin.

    Browsers send ``Origin`` on every POST (``null`` from an opaque origin, which is
    refused); a client that sends neither it nor ``Referer`` is no browser on another
    site, and the CSRF token still decides.
    """
    headers = connection.headers
    origin = headers.get("origin")
    if origin is None:
        origin = headers.get("referer")
        if origin is None:
            return True
    host = headers.get("host")
    # The host part only: behind a TLS proxy the scheme seen here is not the browser's.
    return host is not None and urlsplit(origin).netloc.lower() == host.lower()


def console_guard(connection: AnyConnection, handler: BaseRouteHandler) -> None:
    """The guard of every console route but signing in: signed in, and, for anything
    but a read, from the console's own origin."""
    access: Access = handler.opt["console"]
    if not access.signed_in(connection):
        raise SignInRequired
    if connection.scope.get("method", "GET") not in _SAFE_METHODS and not same_origin(connection):
        raise CrossSiteRefused("a request from another origin may not change anything here")


def origin_guard(connection: AnyConnection, _: BaseRouteHandler) -> None:
    """The guard of signing in and out: only from the console's own origin."""
    if connection.scope.get("method", "GET") not in _SAFE_METHODS and not same_origin(connection):
        raise CrossSiteRefused("a request from another origin may not sign in or out here")
