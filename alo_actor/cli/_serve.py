"""``alo serve``: the HTTP API of http.md on uvicorn, over one log file.

Litestar and uvicorn are imported when ``serve`` runs, not when ``alo`` starts: every
other verb would pay for them (~0.3 s) for nothing.
"""

from __future__ import annotations

import gc
import importlib
import os
import socket
import sys
from collections.abc import Callable
from enum import StrEnum
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from alo_actor.cli._app import app
from alo_actor.cli._db import DB_HELP

if TYPE_CHECKING:
    import uvicorn

    from alo_actor._system import AloSystem

DEFAULT_MAX_WAIT = 60.0  # as alo_actor.http's: repeated so that --help imports no Litestar

# uvicorn's exit status when the app's startup failed (the log would not open, --app raised).
STARTUP_FAILURE = 3


class DurabilityChoice(StrEnum):
    normal = "normal"
    full = "full"


@app.command("serve")
def serve(
    *,
    db: Annotated[str, typer.Option(help=DB_HELP + " Created if missing.")] = "alo.db",
    host: Annotated[str, typer.Option(help="the address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="the port to listen on")] = 8080,
    durability: Annotated[
        DurabilityChoice,
        typer.Option(help="normal survives a process crash; full survives power loss"),
    ] = DurabilityChoice.normal,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="ALO_TOKEN",
            help="demand 'Authorization: Bearer <token>' on every route but /healthz",
            show_default=False,
        ),
    ] = None,
    allow_callback_host: Annotated[
        list[str] | None,
        typer.Option(
            help="a host that result URLs may name, besides loopback (repeatable)",
            show_default=False,
        ),
    ] = None,
    app_ref: Annotated[
        str | None,
        typer.Option(
            "--app",
            help="module:callable called with the AloSystem to register handlers",
            show_default=False,
        ),
    ] = None,
    max_wait: Annotated[
        float, typer.Option(help="the longest long poll in seconds, whatever wait= asks")
    ] = DEFAULT_MAX_WAIT,
    access_log: Annotated[bool, typer.Option(help="log every request")] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level")] = "info",
) -> None:
    """Serve the HTTP API (http.md) until SIGINT or SIGTERM, then shut down cleanly.

    In-flight requests finish (pending long polls answer 408 at once), then the
    system is closed.
    """
    import uvicorn

    from alo_actor.http import create_app

    setup = None if app_ref is None else load_setup(app_ref)
    asgi = create_app(
        db,
        token=token or None,
        setup=setup,
        allowed_callback_hosts=["loopback", *(allow_callback_host or [])],
        durability=durability.value,
        max_wait=max_wait,
    )
    service = asgi.state.service
    config = uvicorn.Config(
        asgi,
        host=host,
        port=port,
        lifespan="on",
        access_log=access_log,
        log_level=log_level,
        # Long polls end at once on shutdown, so this bounds only a stuck request.
        timeout_graceful_shutdown=30,
    )
    server = _server(config, on_exit=service.begin_shutdown)
    server.run()
    if not server.started:
        raise typer.Exit(STARTUP_FAILURE)


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
        ) from exc
    for name in attribute.split("."):
        try:
            target = getattr(target, name)
        except AttributeError as exc:
            raise typer.BadParameter(
                f"{module_name!r} has no attribute {attribute!r}", param_hint="--app"
            ) from exc
    if not callable(target):
        raise typer.BadParameter(f"{ref!r} is not callable", param_hint="--app")
    setup: Callable[[AloSystem], Any] = target
    return setup
