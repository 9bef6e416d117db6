"""``alo worker``: a process that runs handlers for the ALOs of a shared log, serving no
HTTP, so that execution capacity grows apart from the API (semantics §8)."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Annotated

import typer

from actors import DEFAULT_LEASE_SECONDS
from alo_actor.cli._app import app
from alo_actor.cli._common import cleanly, log_to_open
from alo_actor.cli._db import DbOption, db_shown
from alo_actor.cli._serve import DurabilityChoice, _delivery, _open, _run_setup, load_setup


@app.command("worker")
def worker(
    *,
    app_ref: Annotated[
        str,
        typer.Option(
            "--app",
            metavar="MODULE:CALLABLE",
            help="Called with the open AloSystem to register handlers.",
            show_default=False,
        ),
    ],
    db: DbOption = "alo.db",
    durability: Annotated[
        DurabilityChoice,
        typer.Option(help="normal survives a process crash; full survives power loss."),
    ] = DurabilityChoice.normal,
    lease_seconds: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            help="How soon another process takes over this one's ALOs if it dies.",
        ),
    ] = DEFAULT_LEASE_SECONDS,
    webhook_secret: Annotated[
        str | None,
        typer.Option(
            envvar="ALO_WEBHOOK_SECRET",
            metavar="SECRET",
            help="Sign the result-URL POSTs this worker sends (Standard Webhooks).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run handlers for the ALOs of a log other processes share, until SIGINT or SIGTERM.

    The worker holds a share of the log's shards: it runs the attempts, deadlines,
    retries and result-URL deliveries of their ALOs, while `alo serve` processes on the
    same log take the requests. On SIGINT or SIGTERM it hands its ALOs over at once.
    """
    stop = threading.Event()

    def on_signal(sig: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    with cleanly("worker"):
        path = log_to_open(db)
        setup = load_setup(app_ref)
        delivery = _delivery(webhook_secret)
        # The allow-list is checked where a start is taken (alo serve); a worker only
        # delivers what was accepted there.
        system = _open(path, durability.value, ["loopback"], delivery, lease_seconds)
    try:
        _run_setup(setup, system, app_ref)
        operations = ", ".join(sorted(system.registered_operations))
        typer.echo(f"alo worker on {db_shown(path)}: running {operations}", err=True)
        while not stop.wait(1.0):
            pass
    finally:
        system.close()
