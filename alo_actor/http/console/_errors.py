"""The console's errors as pages (the API's are JSON Failure bodies)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Response
from litestar.exceptions import HTTPException
from litestar.response import Redirect
from litestar.types import ExceptionHandlersMap

from alo_actor._errors import AloError
from alo_actor.http._errors import refusal_of
from alo_actor.http._service import AnyRequest
from alo_actor.http.console._access import CONSOLE_PATH, CrossSiteRefused, SignInRequired
from alo_actor.http.console._render import page


def _sign_in(request: AnyRequest, _: SignInRequired) -> Response[Any]:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    login = f"{CONSOLE_PATH}/login?next={quote(here, safe='')}"
    if request.headers.get("hx-request"):
        # htmx would swap a redirect's page into the part it refreshes: have it go there.
        return Response("", status_code=401, headers={"HX-Redirect": login})
    if request.method == "GET" and not request.url.path.endswith("/changes"):
        return Redirect(login, status_code=303)
    return page(
        request, "error.html", 401, title="Sign in first", error="sign in to the console first"
    )


def _refused(request: AnyRequest, exc: CrossSiteRefused) -> Response[Any]:
    return page(request, "error.html", 403, title="Refused", error=str(exc))


def status_of_error(exc: AloError) -> int:
    """The status code the console answers an engine's refusal with: the API's (409 for
    one the API does not expect)."""
    refusal = refusal_of(exc)
    return 409 if refusal is None else refusal[1]


def _alo_error(request: AnyRequest, exc: AloError) -> Response[Any]:
    return page(request, "error.html", status_of_error(exc), title="Not done", error=str(exc))


def _http_error(request: AnyRequest, exc: HTTPException) -> Response[Any]:
    return page(request, "error.html", exc.status_code, title="Not done", error=exc.detail)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    SignInRequired: _sign_in,
    CrossSiteRefused: _refused,
    AloError: _alo_error,
    HTTPException: _http_error,
}
