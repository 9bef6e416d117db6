"""The web console at ``/ui``: see and steer the ALOs in a browser.

Server-rendered Jinja2 pages, made live by htmx and the changes feed; every asset
is served from this package (``static/``), so it works offline.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Router
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from alo_actor.http.console._access import CONSOLE_PATH, Access
from alo_actor.http.console._actions import act
from alo_actor.http.console._errors import EXCEPTION_HANDLERS
from alo_actor.http.console._pages import alo_page, changes, lifetimes, list_page, log_page
from alo_actor.http.console._signin import login, login_page, logout

STATIC = Path(__file__).parent / "static"

__all__ = ["CONSOLE_PATH", "console_routes"]


def console_routes(token: str | None) -> list[ControllerRouterHandler]:
    """The console's routes for an app whose API wants ``token`` (``None``: open)."""
    return [
        Router(
            CONSOLE_PATH,
            route_handlers=[
                list_page,
                alo_page,
                act,
                log_page,
                lifetimes,
                changes,
                login_page,
                login,
                logout,
            ],
            exception_handlers=EXCEPTION_HANDLERS,
            opt={"console": Access(token)},
            include_in_schema=False,
        ),
        create_static_files_router(
            path=f"{CONSOLE_PATH}/static",
            directories=[STATIC],
            name="console-static",
            include_in_schema=False,
        ),
    ]
