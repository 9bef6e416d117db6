"""``alo ls``, ``alo purge`` and ``alo projection rebuild``: the ALOs of a log, by row.

``ls DB`` only reads (a read-only ``LogReader`` of the projection); ``ls`` without a
log asks a server (``--url``). ``purge`` and ``projection rebuild`` write through the
same functions the library uses; a system open on the file in another process keeps
serving what it had cached of purged ALOs until it reopens.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from alo_actor._errors import InvalidArgument
from alo_actor._model import TERMINAL, AloInfo
from alo_actor._times import TIME_HELP, parse_time
from alo_actor._wire import list_body
from alo_actor.cli._app import app
from alo_actor.cli._common import CliError, cleanly, existing_log, out, parse_pairs
from alo_actor.cli._db import DB_HELP, names_the_log
from alo_actor.cli._remote import Json, Token, Url, remote
from alo_actor.logtools import format_time, shorten, to_json
from alo_actor.readmodel import (
    AloPage,
    ensure_projection,
    list_alos,
    reading,
    rebuild_projection,
)
from alo_actor.readmodel import purge as purge_alos
from eventlog import EventLog, inspect_schema

projection_app = typer.Typer(
    name="projection",
    help="The `alos` read model that listing and retention query.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(projection_app, name="projection")

Db = Annotated[str, typer.Argument(metavar="DB", help=DB_HELP, show_default=False)]
Statuses = Annotated[
    list[str] | None,
    typer.Option(
        "--status",
        metavar="STATUS",
        help="running, paused, completed, failed, cancelled, timed_out; "
        "repeat it or separate with commas.",
        show_default=False,
    ),
]
TERMINAL_WORDS = ", ".join(sorted(status.value for status in TERMINAL))


def _time(text: str | None, option: str) -> float | None:
    return None if text is None else parse_time(text, option)


@app.command("ls")
def ls(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Argument(
            metavar="[DB]",
            help="Read this log (a SQLite file or a postgresql:// URL); without it, ask the "
            "server at --url.",
            show_default=False,
        ),
    ] = None,
    *,
    status: Statuses = None,
    operation: Annotated[
        str | None,
        typer.Option(
            "--operation", metavar="NAME", help="Only this operation.", show_default=False
        ),
    ] = None,
    metadata: Annotated[
        list[str] | None,
        typer.Option(
            "--metadata",
            metavar="KEY=VALUE",
            help="Repeat it: every pair must match.",
            show_default=False,
        ),
    ] = None,
    created_after: Annotated[
        str | None,
        typer.Option(
            "--created-after",
            metavar="TIME",
            help=f"Created at or after: {TIME_HELP}.",
            show_default=False,
        ),
    ] = None,
    created_before: Annotated[
        str | None,
        typer.Option(
            "--created-before",
            metavar="TIME",
            help="Created before (exclusive).",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", metavar="N", help="At most this many (1-1000).")
    ] = 100,
    cursor: Annotated[
        str | None,
        typer.Option(
            "--cursor",
            metavar="CURSOR",
            help="Continue a listing (its next cursor).",
            show_default=False,
        ),
    ] = None,
    url: Url = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """List ALOs in creation order, filtered; read-only.

    --json prints {"alos": [info...], "next_cursor"}, as GET /v1/alos answers.
    """
    with cleanly("ls"):
        source = ctx.get_parameter_source("url")  # ALO_URL alone does not count
        if db is not None and source is not None and source.name == "COMMANDLINE":
            raise CliError("give a log or --url, not both")
        pairs = parse_pairs(metadata, "--metadata")
        after = _time(created_after, "--created-after")
        before = _time(created_before, "--created-before")
        if db is None:
            with remote(url, token) as client:
                page = client.list(
                    status,
                    operation=operation,
                    metadata=pairs,
                    created_after=after,
                    created_before=before,
                    limit=limit,
                    cursor=cursor,
                )
        else:
            page = _read_page(
                existing_log(db), status, operation, pairs, after, before, limit, cursor
            )
    if json:
        out(to_json(list_body(page.items, page.next_cursor)))
        return
    out(table(page.items))
    if page.next_cursor is not None:
        out(f"more: add --cursor {page.next_cursor}")


def _read_page(
    db: str,
    status: list[str] | None,
    operation: str | None,
    metadata: dict[str, str],
    after: float | None,
    before: float | None,
    limit: int,
    cursor: str | None,
) -> AloPage:
    with reading(db) as reader:
        return list_alos(
            reader,
            status=status,
            operation=operation,
            metadata=metadata,
            created_after=after,
            created_before=before,
            limit=limit,
            cursor=cursor,
        )


_HEADINGS = ("ID", "STATUS", "OPERATION", "ATTEMPT", "CREATED", "SETTLED", "METADATA")


def table(items: list[AloInfo]) -> str:
    """ALOs as a table for a terminal, one a row."""
    rows = [
        (
            info.id,
            info.status.value,
            "-" if info.operation is None else info.operation,
            str(info.attempt),
            format_time(info.created_at),
            format_time(info.settled_at),
            to_json(shorten(info.metadata, limit=40)).decode() if info.metadata else "-",
        )
        for info in items
    ]
    everything = [_HEADINGS, *rows]
    widths = [max(len(row[i]) for row in everything) for i in range(len(_HEADINGS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in everything
    ]
    if not rows:
        lines.append("(no ALOs)")
    return "\n".join(lines)


@app.command("purge")
def purge(
    db: Db,
    *,
    settled_before: Annotated[
        str,
        typer.Option(
            "--settled-before",
            metavar="TIME",
            help=f"Purge ALOs settled before this: {TIME_HELP}.",
        ),
    ],
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            metavar="STATUS",
            help=f"Only these settled statuses: {TERMINAL_WORDS}; repeat it or separate "
            "with commas (default: all of them).",
            show_default=False,
        ),
    ] = None,
    archive: Annotated[
        str | None,
        typer.Option(
            "--archive",
            metavar="FILE",
            help="First append each purged ALO (its info and events, as JSON) to this "
            "JSON Lines file; nothing purged, no file.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Delete settled ALOs (events and rows), optionally archiving them first."""
    with cleanly("purge"):
        before = parse_time(settled_before, "--settled-before")
        existing_log(db)
        if archive is not None:
            if os.path.isdir(archive):
                raise CliError(f"--archive {archive} is a directory, not a file")
            if names_the_log(db, archive):
                raise InvalidArgument(f"refusing to archive into the log itself: {archive}")
        inspect_schema(db)  # never create a log where none was
        with EventLog.open(db) as log:
            ensure_projection(log)
            count = purge_alos(log, before, status=status, archive=archive)
    out(f"purged {count:,} ALO{'' if count == 1 else 's'} settled before {format_time(before)}")


@projection_app.command("rebuild")
def rebuild(db: Db) -> None:
    """Drop the `alos` projection and fold it again from the log's events."""
    with cleanly("projection rebuild"):
        inspect_schema(existing_log(db))  # never create a log where none was
        with EventLog.open(db) as log:
            count = rebuild_projection(log)
    out(f"rebuilt the projection of {count:,} ALO{'' if count == 1 else 's'}")
