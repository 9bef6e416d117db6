"""``alo serve``: the HTTP API of docs/http.md on uvicorn, over one log (a SQLite file or
a PostgreSQL database).

The log is opened and ``--app`` run before the server listens, so that a bad path
or a failing setup ends in one line, not a startup traceback. Litestar and uvicorn
are imported when ``serve`` runs, not when ``alo`` starts: every other verb would
pay for them (~0.3 s) for nothing.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import inspect
import os
import socket
import sqlite3
import sys
import traceback
from collections.abc import Awaitable, Callable
from enum import StrEnum
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

import typer

from actors import DEFAULT_LEASE_SECONDS
from alo_actor.cli._app import app
from alo_actor.cli._common import CliError, cleanly, fail, log_to_open
from alo_actor.cli._db import DbOption, db_shown
from alo_actor.cli._logs import log_config
from eventlog import backend_of

if TYPE_CHECKING:
    import uvicorn

    from alo_actor._system import AloSystem
    from alo_actor.delivery import DeliveryOptions
    from alo_actor.http import NexusOptions
    from eventlog import Durability

DEFAULT_MAX_WAIT = 60.0  # as alo_actor.http's: repeated so that --help imports no Litestar
DEFAULT_NEXUS_SERVICE = "alo"  # as NexusOptions', likewise
DEFAULT_NEXUS_WAIT = 0.5
DEFAULT_HEADER_TIMEOUT = 10.0

# uvicorn's exit status when the app's startup failed (the log would not open, --app raised).
STARTUP_FAILURE = 3


class DurabilityChoice(StrEnum):
    normal = "normal"
    full = "full"


class LogFormat(StrEnum):
    text = "text"
    json = "json"


class LogLevel(StrEnum):
    critical = "critical"
    error = "error"
    warning = "warning"
    info = "info"
    debug = "debug"


@app.command("serve")
def serve(
    *,
    db: DbOption = "alo.db",
    host: Annotated[str, typer.Option(metavar="HOST", help="The address to listen on.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(metavar="PORT", help="The port to listen on.")] = 8080,
    durability: Annotated[
        DurabilityChoice,
        typer.Option(help="normal survives a process crash; full survives power loss."),
    ] = DurabilityChoice.normal,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="ALO_TOKEN",
            metavar="TOKEN",
            help="Demand 'Authorization: Bearer TOKEN' on every route but /healthz, "
            "/readyz and /schema/openapi.json.",
            show_default=False,
        ),
    ] = None,
    allow_callback_host: Annotated[
        list[str] | None,
        typer.Option(
            metavar="HOST",
            help="A host that result URLs may name, besides loopback (repeatable).",
            show_default=False,
        ),
    ] = None,
    webhook_secret: Annotated[
        str | None,
        typer.Option(
            envvar="ALO_WEBHOOK_SECRET",
            metavar="SECRET",
            help="Sign result-URL POSTs with this Standard Webhooks secret (whsec_<base64>; "
            "alo_actor.webhooks.new_secret() makes one).",
            show_default=False,
        ),
    ] = None,
    app_ref: Annotated[
        str | None,
        typer.Option(
            "--app",
            metavar="MODULE:CALLABLE",
            help="Called with the open AloSystem before the server listens, to register "
            "handlers (e.g. alo_actor.examples.greeting:register).",
            show_default=False,
        ),
    ] = None,
    max_wait: Annotated[
        float,
        typer.Option(metavar="SECONDS", help="The longest long poll, whatever wait= asks."),
    ] = DEFAULT_MAX_WAIT,
    nexus_service: Annotated[
        str,
        typer.Option(metavar="NAME", help="The Nexus service served at /nexus/NAME/{operation}."),
    ] = DEFAULT_NEXUS_SERVICE,
    nexus_wait: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            help="How long a Nexus start waits for the outcome before answering 201 "
            "(an outcome within it is the answer).",
        ),
    ] = DEFAULT_NEXUS_WAIT,
    nexus_token: Annotated[
        str | None,
        typer.Option(
            envvar="ALO_NEXUS_TOKEN",
            metavar="TOKEN",
            help="The credential of the Nexus routes (HTTP Basic password, e.g. the "
            "user info of a Temporal endpoint's target URL, or a bearer token); "
            "default: --token.",
            show_default=False,
        ),
    ] = None,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
    log_level: Annotated[LogLevel, typer.Option(help="The least severe lines logged.")] = (
        LogLevel.info
    ),
    log_format: Annotated[
        LogFormat,
        typer.Option(help="text, or json: one JSON object a line, with the ALO's id."),
    ] = LogFormat.text,
    lease_seconds: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            help="With several processes on one log: how soon another takes over this "
            "one's ALOs if it dies.",
        ),
    ] = DEFAULT_LEASE_SECONDS,
    header_timeout: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            help="How long a client has to send a request's headers, from connecting or "
            "from the request's first byte; then 408 and the connection is closed.",
        ),
    ] = DEFAULT_HEADER_TIMEOUT,
    expose_stack_traces: Annotated[
        bool,
        typer.Option(
            "--expose-stack-traces",
            help="Answer failures with their stackTrace (a handler's traceback names "
            "the server's files; left out by default).",
        ),
    ] = False,
) -> None:
    """Serve the HTTP API (docs/http.md) until SIGINT or SIGTERM, then shut down cleanly.

    In-flight requests finish (pending long polls answer 408 at once), then the
    system is closed. GET /metrics serves Prometheus metrics.
    """
    with cleanly("serve"):
        if not header_timeout > 0:
            raise CliError(f"--header-timeout must be more than 0 seconds, not {header_timeout}")
        path = log_to_open(db)
        setup = None if app_ref is None else load_setup(app_ref)
        delivery = _delivery(webhook_secret)
        serving = _Serving(
            host=host,
            port=port,
            token=token or None,
            max_wait=max_wait,
            nexus=_nexus(nexus_service, nexus_wait, nexus_token),
            expose_stack_traces=expose_stack_traces,
            header_timeout=header_timeout,
            access_log=access_log,
            log_level=log_level,
            log_format=log_format,
        )
        hosts = ["loopback", *(allow_callback_host or [])]
        system = _open(path, durability.value, hosts, delivery, lease_seconds)
    try:
        if setup is not None:
            _run_setup(setup, system, app_ref or "")
        started = _run(system, serving)
    finally:
        system.close()
    if not started:
        raise typer.Exit(STARTUP_FAILURE)


def _delivery(secret: str | None) -> DeliveryOptions:
    from alo_actor.delivery import DeliveryOptions

    try:
        return DeliveryOptions(secret=secret or None)
    except ValueError as exc:
        raise CliError(f"--webhook-secret: {exc}") from None


def _nexus(service: str, wait: float, token: str | None) -> NexusOptions:
    from alo_actor.http import NexusOptions

    try:
        return NexusOptions(service=service, wait=wait, token=token or None)
    except ValueError as exc:
        raise CliError(f"--nexus-service/--nexus-wait: {exc}") from None


def _open(
    path: str,
    durability: Durability,
    hosts: list[str],
    delivery: DeliveryOptions,
    lease_seconds: float,
) -> AloSystem:
    from alo_actor._system import AloSystem

    errors: tuple[type[Exception], ...] = (sqlite3.Error, ValueError)
    if backend_of(path) == "postgresql":
        import psycopg

        errors = (*errors, psycopg.Error)
    try:
        return AloSystem.open(
            path,
            durability=durability,
            allowed_callback_hosts=hosts,
            delivery=delivery,
            lease_seconds=lease_seconds,
        )
    except errors as exc:
        raise CliError(f"cannot open the log {db_shown(path)}: {exc}") from None


def _run_setup(setup: Callable[[AloSystem], Any], system: AloSystem, ref: str) -> None:
    """Call the user's --app; what it raises ends the command in a line or two."""
    try:
        outcome = setup(system)
        if inspect.isawaitable(outcome):
            asyncio.run(_awaited(outcome))
    except Exception as exc:
        where = traceback.extract_tb(exc.__traceback__)[-1]
        fail(
            "serve",
            f"--app {ref} raised {type(exc).__name__}: {exc}\n"
            f"  at {where.filename}, line {where.lineno}, in {where.name}",
            STARTUP_FAILURE,
        )


async def _awaited(outcome: Awaitable[Any]) -> None:
    await outcome


class _Serving(NamedTuple):
    """How the HTTP side of ``alo serve`` runs (its options, checked)."""

    host: str
    port: int
    token: str | None
    max_wait: float
    nexus: NexusOptions
    expose_stack_traces: bool
    header_timeout: float
    access_log: bool
    log_level: LogLevel
    log_format: LogFormat


def _run(system: AloSystem, serving: _Serving) -> bool:
    """Serve until a signal; False if the server never started (the port was taken)."""
    import uvicorn

    from alo_actor.http import create_app
    from alo_actor.http._protocol import header_timeout_protocol

    asgi = create_app(
        lambda: system,
        token=serving.token,
        max_wait=serving.max_wait,
        nexus=serving.nexus,
        expose_stack_traces=serving.expose_stack_traces,
    )
    service = asgi.state.service
    options: dict[str, Any] = {}
    config_dict = log_config(serving.log_format.value, serving.log_level.value)
    if config_dict is not None:
        options["log_config"] = config_dict
    config = uvicorn.Config(
        asgi,
        host=serving.host,
        port=serving.port,
        lifespan="on",
        access_log=serving.access_log,
        log_level=serving.log_level.value,
        http=header_timeout_protocol(serving.header_timeout),
        # Long polls end at once on shutdown, so this bounds only a stuck request.
        timeout_graceful_shutdown=30,
        **options,
    )
    server = _server(config, on_exit=service.begin_shutdown)
    try:
        server.run()
    except SystemExit:  # uvicorn's answer to a port it cannot bind (logged already)
        return False
    return bool(server.started)


def _server(config: uvicorn.Config, on_exit: Callable[[], None]) -> uvicorn.Server:
    """uvicorn's server, which also tells the app when a shutdown signal arrives."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                _freeze_startup_objects()

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            on_exit()  # long polls answer now, so the graceful shutdown is quick
            super().handle_exit(sig, frame)

    return Server(config)


def _freeze_startup_objects() -> None:
    """Move everything alive once the server is up (modules, Litestar's app and route
    tables, the open system) out of the garbage collector's reach.

    Those objects live until exit, yet every full collection walked them all again:
    under bench_http's load a full collection came every second or so and took
    ~65 ms, after this ~12 ms (gc.callbacks, the app driven in-process). bench_http
    A/B back to back: p99 latency 124 -> 60-70 ms,
    server CPU per ALO ~10% lower. Raising the collection thresholds instead helped
    about as much on its own, added nothing on top of this, and lets cyclic garbage
    pile up; so the thresholds stay as they are.
    """
    gc.collect()
    gc.freeze()


def load_setup(ref: str) -> Callable[[AloSystem], Any]:
    """The callable named by ``module:attribute`` (importable from the current directory)."""
    module_name, _, attribute = ref.partition(":")
    if not module_name or not attribute:
        raise typer.BadParameter(f"expected module:callable, not {ref!r}", param_hint="--app")
    # Like uvicorn: a module beside the user, not only an installed one.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise typer.BadParameter(
            f"cannot import {module_name!r}: {exc}", param_hint="--app"
        ) from None
    except Exception as exc:  # the module itself raised (a SyntaxError, a NameError...)
        where = traceback.extract_tb(exc.__traceback__)[-1]
        raise typer.BadParameter(
            f"importing {module_name!r} raised {type(exc).__name__}: {exc} "
            f"(at {where.filename}, line {where.lineno})",
            param_hint="--app",
        ) from None
    for name in attribute.split("."):
        try:
            target = getattr(target, name)
        except AttributeError:
            raise typer.BadParameter(
                f"{module_name!r} has no attribute {attribute!r}", param_hint="--app"
            ) from None
    if not callable(target):
        raise typer.BadParameter(f"{ref!r} is not callable", param_hint="--app")
    setup: Callable[[AloSystem], Any] = target
    return setup
