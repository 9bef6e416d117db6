"""``alo demo``: the design note's greeting example, durable, on the embedded SQLite log
(or on PostgreSQL)."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer

from alo_actor import AloInfo, AloSystem, Status
from alo_actor.cli._app import app
from alo_actor.cli._common import cleanly, log_to_open
from alo_actor.cli._db import DB_HELP, db_location, db_shown
from alo_actor.examples.greeting import register

RESULT_TIMEOUT = 30.0


def _describe(info: AloInfo) -> str:
    return (
        f"id={info.id} operation={info.operation} status={info.status.value} "
        f"attempt={info.attempt} created={info.created}"
    )


@app.command("demo")
def demo(
    db: Annotated[
        str, typer.Option("--db", metavar="DB", help=DB_HELP + " Created if missing.")
    ] = "./alo.db",
    name: Annotated[str, typer.Option("--name", metavar="NAME", help="Who to greet.")] = "Ada",
) -> None:
    """Run the greeting example: start an ALO, wait for its result, reopen the file."""
    with cleanly("demo"):
        path = db_location(log_to_open(db))
    alo_id = f"greeting-{uuid.uuid4().hex[:12]}"

    typer.echo(f"opening {db_shown(path)}")
    with AloSystem.open(path) as system:
        register(system)
        typer.echo("registered operation 'greeting' (alo_actor.examples.greeting)")
        info = system.start(alo_id, "greeting", {"name": name})
        typer.echo(f"started: {_describe(info)}")
        result = system.get_result(alo_id, timeout=RESULT_TIMEOUT)
        typer.echo(f"result: {result}")
        typer.echo(f"info: {_describe(system.get_info(alo_id))}")
    typer.echo(f"closed {db_shown(path)}")

    with AloSystem.open(path) as system:
        again = system.get_info(alo_id)
        stored = system.get_result(alo_id, timeout=RESULT_TIMEOUT)
        if again.status is not Status.COMPLETED or stored != result:
            typer.echo(f"reopened: {alo_id} is {again.status.value} with {stored}: NOT durable")
            raise typer.Exit(1)
        typer.echo(
            f"reopened: {alo_id} is still {again.status.value} with result {stored}: durable"
        )
        total = len(system.log.stream_ids())
        completed = total - len(system.log.stream_ids(where_type_not_in=("Completed",)))
        noun = "ALO" if total == 1 else "ALOs"
        typer.echo(f"{db_shown(path)} holds {total} {noun} ({completed} completed)")
