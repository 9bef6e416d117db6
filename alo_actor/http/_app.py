"""``create_app``: the Litestar application of http.md around one AloSystem."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from importlib import metadata
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from actors import DEFAULT_LEASE_SECONDS
from alo_actor._system import AloSystem
from alo_actor.http._auth import bearer_auth
from alo_actor.http._changes import HeadWatch
from alo_actor.http._errors import EXCEPTION_HANDLERS
from alo_actor.http._hotpath import MAX_BODY_BYTES
from alo_actor.http._media import JsonRequest, json_bodies
from alo_actor.http._metrics import METRICS_ROUTES, metrics_registry
from alo_actor.http._nexus import PREFIX as NEXUS_PREFIX
from alo_actor.http._nexus import NexusOptions, nexus_router
from alo_actor.http._openapi import AmendedJson, warm_up
from alo_actor.http._options import with_options
from alo_actor.http._routes import ROUTES
from alo_actor.http._service import Service
from alo_actor.http._webhooks import result_webhooks
from alo_actor.http.console import CONSOLE_PATH, console_routes
from eventlog import Durability

DEFAULT_MAX_WAIT = 60.0


def create_app(
    system: str | Callable[[], AloSystem] = "alo.db",
    *,
    token: str | None = None,
    setup: Callable[[AloSystem], Any] | None = None,
    allowed_callback_hosts: Collection[str] = ("loopback",),
    durability: Durability = "normal",
    max_wait: float = DEFAULT_MAX_WAIT,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    nexus: NexusOptions | None = NexusOptions(),  # noqa: B008  (frozen: shared safely)
    webhook_secret: str | None = None,
    expose_stack_traces: bool = False,
) -> Litestar:
    """The HTTP API of http.md as an ASGI app (serve it with uvicorn).

    Args:
        system: the log's path, opened at startup with ``durability`` and
            ``allowed_callback_hosts`` (``"loopback"`` is 127.0.0.1, localhost, ::1);
            or a function that opens the AloSystem itself (then those two arguments
            are not used, and the function should pass an allow-list: without one
            the service would post outcomes to any host a client names).
        token: when set, every request wants ``Authorization: Bearer <token>`` (checked
            before routing, so unknown paths and methods answer 401 too), except for
            ``/healthz``, ``/readyz`` and ``/schema/openapi.json``.
        setup: called with the open system before the first request, to register
            handlers (a coroutine function is awaited).
        max_wait: the longest long poll, in seconds, whatever ``wait`` asks.
        lease_seconds: how long the opened system's hold on its ALOs lasts without a
            heartbeat, when several processes share the log (``AloSystem.open``).
        nexus: the Nexus routes under ``/nexus`` (``None``: none). They want
            ``nexus.token`` (else ``token``) as HTTP Basic password or bearer token,
            never the bearer token alone when ``nexus.token`` is set.
        webhook_secret: signs result-URL POSTs (Standard Webhooks, ``whsec_<base64>``)
            when ``system`` is a path.
        expose_stack_traces: answer failures with their ``stackTrace`` (a handler's
            traceback names the server's files, so by default it is left out).

    The system is opened at startup and closed at shutdown, after in-flight requests.
    ``app.state.service.begin_shutdown()`` ends the pending long polls early.
    """
    if isinstance(system, str):
        path = system
        hosts = list(allowed_callback_hosts)

        def open_system() -> AloSystem:
            return AloSystem.open(
                path,
                durability=durability,
                allowed_callback_hosts=hosts,
                lease_seconds=lease_seconds,
                webhook_secret=webhook_secret,
            )

    else:
        open_system = system
    service = Service(
        open_system, setup=setup, max_wait=max_wait, expose_stack_traces=expose_stack_traces
    )
    openapi = OpenAPIConfig(
        title="alo-actor",
        version=_version(),
        description="Durable promises (ALOs): start, read, wait for and settle them over HTTP.",
        path="/schema",
        webhooks=result_webhooks(),
        # The document only: the HTML viewers load their scripts from CDNs.
        render_plugins=[AmendedJson()],
    )
    if token is not None:
        openapi.components = Components(
            security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer")}
        )
        openapi.security = [{"bearer": []}]
    routes = with_options(ROUTES)
    guarded = [CONSOLE_PATH]  # routes that check a credential (and a body) of their own
    if nexus is not None:
        routes.append(nexus_router(nexus, token))
        guarded.append(NEXUS_PREFIX)
    app = Litestar(
        route_handlers=[*routes, *METRICS_ROUTES, *console_routes(token)],
        state=State(
            {
                "service": service,
                "metrics": metrics_registry(service),
                "changes": HeadWatch(service),
            }
        ),
        on_startup=[service.open, _warm_up],
        on_shutdown=[service.close],
        exception_handlers=dict(EXCEPTION_HANDLERS),
        middleware=[json_bodies(skip=guarded)],
        openapi_config=openapi,
        request_class=JsonRequest,
        request_max_body_size=MAX_BODY_BYTES,
    )
    if token is not None:
        # In front of the router, so that unknown paths and methods answer 401 too.
        app.asgi_handler = bearer_auth(app.asgi_handler, token, self_guarded=guarded)
    return app


async def _warm_up() -> None:
    await asyncio.to_thread(warm_up)


def _version() -> str:
    try:
        return metadata.version("alo-actor")
    except metadata.PackageNotFoundError:
        return "0.0.0"
