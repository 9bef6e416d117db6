"""``alo ls``, ``alo purge`` and ``alo projection rebuild``: the ALOs of a log, by row.

``ls`` only reads (a read-only ``LogReader`` of the projection). ``purge`` and
``projection rebuild`` write through the same functions the library uses; a system
open on the file in another process keeps serving what it had cached of purged ALOs
until it reopens.
"""

from __future__ import annotations

import contextlib
import datetime
import re
import sys
import time
from collections.abc import Iterator
from typing import Annotated

import typer

from alo_actor._errors import InvalidArgument
from alo_actor._model import AloInfo
from alo_actor.cli._app import app
from alo_actor.cli._db import DB_HELP, names_the_log
from alo_actor.logtools import format_time, shorten, to_json
from alo_actor.readmodel import (
    ensure_projection,
    info_fields,
    list_alos,
    reading,
    rebuild_projection,
)
from alo_actor.readmodel import purge as purge_alos
from eventlog import EventLog, EventLogError, inspect_schema

USAGE_ERROR = 2

projection_app = typer.Typer(
    name="projection",
    help="The `alos` read model that listing and retention query.",
    no_args_is_help=True,
)
app.add_typer(projection_app, name="projection")

Db = Annotated[str, typer.Argument(help=DB_HELP, show_default=False)]
Statuses = Annotated[
    list[str] | None,
    typer.Option(
        "--status",
        help="running, paused, completed, failed, cancelled, timed_out; "
        "repeat it or separate with commas.",
        show_default=False,
    ),
]
TIME_HELP = (
    "RFC 3339 (2025-01-31T12:00:00Z), clock seconds (1738324800), "
    "or an age such as 90s, 15m, 12h, 7d, 2w (that long before now)."
)

_AGE = re.compile(r"(\d+(?:\.\d*)?)\s*([smhdw])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def parse_time(text: str, option: str) -> float:
    """A time from the command line: RFC 3339, clock seconds, or an age before now."""
    text = text.strip()
    if _NUMBER.fullmatch(text):
        return float(text)
    age = _AGE.fullmatch(text)
    if age is not None:
        return time.time() - float(age.group(1)) * _UNIT[age.group(2)]
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(f"{option} {text!r} is not a time: {TIME_HELP}") from None
    if moment.tzinfo is None:
        raise InvalidArgument(f"{option} {text!r} has no UTC offset; add one, e.g. 'Z'")
    return moment.timestamp()


def _metadata(pairs: list[str]) -> dict[str, str]:
    metadata: dict[str, str] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise InvalidArgument(f"--metadata {pair!r} is not KEY=VALUE")
        metadata[key] = value
    return metadata


@contextlib.contextmanager
def _cleanly(verb: str) -> Iterator[None]:
    """Bad input ends with one line on stderr and exit code 2, never a traceback."""
    try:
        yield
    except (InvalidArgument, EventLogError, OSError) as exc:
        typer.echo(f"alo {verb}: {exc}", err=True)
        raise typer.Exit(USAGE_ERROR) from None


@app.command("ls")
def ls(
    db: Db,
    *,
    status: Statuses = None,
    operation: Annotated[
        str | None, typer.Option("--operation", help="Only this operation.", show_default=False)
    ] = None,
    metadata: Annotated[
        list[str] | None,
        typer.Option("--metadata", help="KEY=VALUE; repeat it: every pair must match."),
    ] = None,
    created_after: Annotated[
        str | None,
        typer.Option("--created-after", help="Created at or after. " + TIME_HELP),
    ] = None,
    created_before: Annotated[
        str | None, typer.Option("--created-before", help="Created before (exclusive).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many (1-1000).")] = 100,
    cursor: Annotated[
        str | None,
        typer.Option("--cursor", help="Continue a listing (its next cursor).", show_default=False),
    ] = None,
    json: Annotated[
        bool, typer.Option("--json", help='JSON: {"alos": [info…], "next_cursor"}.')
    ] = False,
) -> None:
    """List ALOs in creation order, filtered; read-only."""
    with _cleanly("ls"):
        after = None if created_after is None else parse_time(created_after, "--created-after")
        before = None if created_before is None else parse_time(created_before, "--created-before")
        with reading(db) as reader:
            page = list_alos(
                reader,
                status=status,
                operation=operation,
                metadata=_metadata(metadata or []),
                created_after=after,
                created_before=before,
                limit=limit,
                cursor=cursor,
            )
    if json:
        sys.stdout.buffer.write(
            to_json({"alos": [info_fields(i) for i in page.items], "next_cursor": page.next_cursor})
            + b"\n"
        )
        return
    typer.echo(_table(page.items))
    if page.next_cursor is not None:
        typer.echo(f"more: add --cursor {page.next_cursor}")


_HEADINGS = ("ID", "STATUS", "OPERATION", "ATTEMPT", "CREATED", "SETTLED", "METADATA")


def _table(items: list[AloInfo]) -> str:
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
    table = [_HEADINGS, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(_HEADINGS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in table
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
        typer.Option("--settled-before", help="Purge ALOs settled before this. " + TIME_HELP),
    ],
    status: Statuses = None,
    archive: Annotated[
        str | None,
        typer.Option(
            "--archive",
            help="First append each purged ALO (info and events) to this JSON Lines file.",
        ),
    ] = None,
) -> None:
    """Delete settled ALOs (events and rows), optionally archiving them first."""
    with _cleanly("purge"):
        before = parse_time(settled_before, "--settled-before")
        if archive is not None and names_the_log(db, archive):
            raise InvalidArgument(f"refusing to archive into the log itself: {archive}")
        inspect_schema(db)  # never create a log where none was
        with EventLog.open(db) as log:
            ensure_projection(log)
            count = purge_alos(log, before, status=status, archive=archive)
    typer.echo(
        f"purged {count:,} ALO{'' if count == 1 else 's'} settled before {format_time(before)}"
    )


@projection_app.command("rebuild")
def rebuild(db: Db) -> None:
    """Drop the `alos` projection and fold it again from the log's events."""
    with _cleanly("projection rebuild"):
        inspect_schema(db)  # never create a log where none was
        with EventLog.open(db) as log:
            count = rebuild_projection(log)
    typer.echo(f"rebuilt the projection of {count:,} ALO{'' if count == 1 else 's'}")
