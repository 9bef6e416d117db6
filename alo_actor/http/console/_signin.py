"""Signing in to the console with the server's token, and out again."""

from __future__ import annotations

from typing import Any

from litestar import Response, get, post
from litestar.params import FromQuery
from litestar.response import Redirect

from alo_actor.http._service import AnyRequest
from alo_actor.http.console._access import (
    CONSOLE_PATH,
    CSRF_FIELD,
    access_of,
    origin_guard,
    signed_out_cookie,
)
from alo_actor.http.console._actions import Form
from alo_actor.http.console._render import page


def console_target(text: str | None) -> str:
    """``text`` if it is a console page (where to go once signed in), else the list:
    never another site, nor anything outside the console."""
    if text and (text == CONSOLE_PATH or text.startswith((CONSOLE_PATH + "/", CONSOLE_PATH + "?"))):
        return text
    return CONSOLE_PATH


@get("/login", guards=[origin_guard])
async def login_page(request: AnyRequest, next: FromQuery[str | None] = None) -> Response[Any]:
    """The token form (or, when no token is needed or the browser has signed in, onwards)."""
    access = access_of(request)
    target = console_target(next)
    if access.token is None or access.signed_in(request):
        return Redirect(target, status_code=303)
    return page(request, "login.html", target=target, error=None)


@post("/login", guards=[origin_guard], status_code=303)
async def login(request: AnyRequest, data: Form) -> Response[Any]:
    """Check the token; if right, set the console's cookie and go on."""
    access = access_of(request)
    target = console_target(data.get("next"))
    if not access.accepts_token(data.get("token", "")):
        return page(
            request,
            "login.html",
            401,
            target=target,
            error="That is not the token this server was started with.",
        )
    return Redirect(target, status_code=303, cookies=[access.session_cookie(request)])


@post("/logout", guards=[origin_guard], status_code=303)
async def logout(request: AnyRequest, data: Form) -> Response[Any]:
    """Forget the console's cookie."""
    access_of(request).check_csrf(data.get(CSRF_FIELD))
    return Redirect(f"{CONSOLE_PATH}/login", status_code=303, cookies=[signed_out_cookie()])
