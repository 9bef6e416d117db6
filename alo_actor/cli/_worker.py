"""``alo worker``: a process that runs handlers for the ALOs of a shared log, serving no
HTTP, so that execution capacity grows apart from the API (semantics §8)."""

from __future__ import annotations

import asyncio
import inspect
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from actors import DEFAULT_LEASE_SECONDS
from alo_actor.cli._app import app
from alo_actor.cli._serve import DurabilityChoice, load_setup


@app.command("worker")
def worker(
    *,
    app_ref: Annotated[
        str,
        typer.Option(
            "--app",
            help="module:callable called with the AloSystem to register handlers",
            show_default=False,
        ),
    ],
    db: Annotated[Path, typer.Option(help="the event log file (created if missing)")] = Path(
        "alo.db"
    ),
    durability: Annotated[
        DurabilityChoice,
        typer.Option(help="normal survives a process crash; full survives power loss"),
    ] = DurabilityChoice.normal,
    lease_seconds: Annotated[
        float,
        typer.Option(help="how soon another process takes over this one's ALOs if it dies"),
    ] = DEFAULT_LEASE_SECONDS,
    webhook_secret: Annotated[
        str | None,
        typer.Option(
            envvar="ALO_WEBHOOK_SECRET",
            help="sign the result-URL POSTs this worker sends (Standard Webhooks)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run handlers for the ALOs of a log other processes share, until SIGINT or SIGTERM.

    The worker holds a share of the log's shards: it runs the attempts, deadlines,
    retries and result-URL deliveries of their ALOs, while `alo serve` processes on the
    same log take the requests. On SIGINT or SIGTERM it hands its ALOs over at once.
    """
    from alo_actor import AloSystem

    setup = load_setup(app_ref)
    stop = threading.Event()

    def on_signal(sig: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    system = AloSystem.open(
        str(db),
        durability=durability.value,
        lease_seconds=lease_seconds,
        webhook_secret=webhook_secret or None,
    )
    try:
        outcome = setup(system)
        if inspect.isawaitable(outcome):
            asyncio.run(_awaited(outcome))
        typer.echo(
            f"alo worker on {db}: running {', '.join(sorted(system.registered_operations))}",
            err=True,
        )
        while not stop.wait(1.0):
            pass
    finally:
        system.close()


async def _awaited(outcome: object) -> None:
    await outcome  # type: ignore[misc]
