"""``alo log …``: show, replay, verify, export, tail and plot a log, never writing to it;
copy it into a new one."""

from __future__ import annotations

import contextlib
import sys
from typing import Annotated, Any

import msgspec
import typer

from alo_actor import logtools
from alo_actor._machine import AloState
from alo_actor._times import rfc3339
from alo_actor.cli._app import app
from alo_actor.cli._common import cleanly, existing_log, log_to_open
from alo_actor.cli._common import out as _out
from alo_actor.cli._db import DB_HELP, db_shown, names_the_log
from alo_actor.logtools import (
    json_times,
    record_json,
    render_record,
    render_state,
    render_state_detail,
    render_summary,
    render_timeline,
    render_violation,
    state_fields,
    to_json,
)
from eventlog import LogReader

log_app = typer.Typer(
    name="log",
    help="Inspect, replay, verify and copy an ALO log. Read-only: a log read is never written.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(log_app, name="log")

Db = Annotated[str, typer.Argument(metavar="DB", help=DB_HELP, show_default=False)]
Json = Annotated[bool, typer.Option("--json", help="JSON instead of text (times in RFC 3339).")]
Full = Annotated[bool, typer.Option("--full", help="Do not shorten long values.")]


def _cleanly() -> contextlib.AbstractContextManager[None]:
    return cleanly("log")


def _json_line(value: Any) -> None:
    _out(to_json(value))


@log_app.command()
def show(
    db: Db,
    *,
    alo_id: Annotated[
        str | None, typer.Argument(metavar="[ID]", help="Show this ALO's timeline.")
    ] = None,
    json: Json = False,
    full: Full = False,
) -> None:
    """Summarise the log, or show one ALO's timeline: each event, decoded."""
    with _cleanly():
        existing_log(db)
        if alo_id is None:
            summary = logtools.summarize(db)
            _out(
                to_json(json_times(msgspec.structs.asdict(summary)))
                if json
                else render_summary(summary)
            )
            return
        timeline = logtools.timeline(db, alo_id)
        if not json:
            _out(render_timeline(timeline, short=not full))
            return

        def shown(value: Any) -> Any:
            return value if full else logtools.shorten(value)

        _json_line(
            {
                "id": timeline.id,
                "state": None
                if timeline.state is None
                else shown(json_times(state_fields(timeline.state))),
                "error": timeline.error,
                "events": [
                    {
                        "position": e.position,
                        "version": e.version,
                        "type": e.type,
                        "at": None if e.at is None else rfc3339(e.at),
                        "recorded_at": rfc3339(e.recorded_at),
                        "data": None if e.fields is None else shown(json_times(e.fields)),
                        "error": e.error,
                    }
                    for e in timeline.entries
                ],
            }
        )


@log_app.command()
def replay(
    db: Db,
    *,
    at: Annotated[
        str,
        typer.Option(
            "--at",
            metavar="POINT",
            help="A position (an integer), or a time: seconds with a decimal point, "
            "RFC 3339 (2025-01-31T12:00:00Z) or an age such as 1h.",
            show_default=False,
        ),
    ],
    alo_id: Annotated[str | None, typer.Argument(metavar="[ID]", help="Only this ALO.")] = None,
    json: Annotated[bool, typer.Option("--json", help="JSON Lines: one state a line.")] = False,
    full: Full = False,
) -> None:
    """The state of every ALO (or one) as it was at a position or a time."""
    with _cleanly():
        existing_log(db)
        point = logtools.parse_at(at)
        if alo_id is not None:
            state = logtools.replay_alo(db, alo_id, point)
            if state is None:
                if json:
                    _json_line(None)
                else:
                    _out(f"ALO {alo_id!r} did not exist yet at {at}")
            elif json:
                _json_line(_state_json(state, full))
            else:
                _out(render_state_detail(state, short=not full))
            return
        count = 0
        for state in logtools.replay(db, point):
            count += 1
            if json:
                _json_line(_state_json(state, full))
            else:
                _out(render_state(state))
        if not json:
            _out(f"{count:,} ALO{'' if count == 1 else 's'} at {_point(point)}")


@log_app.command()
def verify(
    db: Db,
    *,
    json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="JSON Lines: one violation a line, then {events, alos, violations}.",
        ),
    ] = False,
) -> None:
    """Check every invariant of the log (docs/semantics.md §4); exit 1 on any violation."""
    with _cleanly():
        existing_log(db)
        verification = logtools.Verification(db)
        for violation in verification:
            _out(to_json(violation) if json else render_violation(violation))
        counts = {
            "events": verification.events,
            "alos": verification.alos,
            "violations": verification.violations,
        }
        if json:
            _json_line(counts)
        elif verification.violations:
            _out(
                f"{verification.violations:,} violations in {verification.events:,} events "
                f"of {verification.alos:,} ALOs"
            )
        else:
            _out(
                f"ok: {verification.events:,} events of {verification.alos:,} ALOs "
                "keep every invariant"
            )
    if verification.violations:
        raise typer.Exit(1)


@log_app.command()
def export(
    db: Db,
    *,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write to this file, not stdout."),
    ] = None,
    from_position: Annotated[
        int, typer.Option("--from", metavar="POSITION", help="Start after this position.", min=0)
    ] = 0,
    until_position: Annotated[
        int | None,
        typer.Option("--until", metavar="POSITION", help="Stop at this position.", min=0),
    ] = None,
) -> None:
    """Every event as JSON Lines: position, stream_id, version, type, recorded_at, data."""
    with _cleanly():
        existing_log(db)
        if output is None:
            count = logtools.write_jsonl(db, sys.stdout.buffer, from_position, until_position)
        else:
            _refuse_to_overwrite(db, output)
            with open(output, "wb") as out:
                count = logtools.write_jsonl(db, out, from_position, until_position)
        sys.stdout.flush()
    if count.undecodable:
        typer.echo(
            f"alo log: {count.undecodable:,} of {count.events:,} events do not decode "
            '(see their "error")',
            err=True,
        )
        raise typer.Exit(1)


@log_app.command()
def tail(
    db: Db,
    *,
    lines: Annotated[
        int, typer.Option("--lines", "-n", metavar="N", help="Show the last N events.", min=0)
    ] = 10,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Then print events as they are appended.")
    ] = False,
    interval: Annotated[
        float,
        typer.Option(
            "--interval", metavar="SECONDS", help="Seconds between polls with --follow.", min=0.01
        ),
    ] = 0.2,
    json: Annotated[bool, typer.Option("--json", help="JSON Lines, as export.")] = False,
    full: Full = False,
) -> None:
    """The last events; with --follow, new ones as any process appends them (Ctrl-C stops)."""

    def emit(record: dict[str, Any]) -> None:
        _out(to_json(record_json(record)) if json else render_record(record, short=not full))
        sys.stdout.flush()

    with _cleanly(), LogReader.open(existing_log(db)) as reader:
        last = reader.read_last(lines) if lines else []
        for stored in last:
            emit(logtools.event_record(stored))
        if not follow:
            return
        start = last[-1].position if last else reader.last_position()
        try:
            for record in logtools.follow(reader, start, poll_interval=interval):
                emit(record)
        except KeyboardInterrupt:
            # Ctrl-C is how a follow ends: not an error.
            return


@log_app.command()
def plot(
    db: Db,
    *,
    output: Annotated[
        str, typer.Option("--output", "-o", metavar="FILE", help="The PNG file to write.")
    ],
    max_alos: Annotated[
        int,
        typer.Option(
            "--max-alos", metavar="N", help="Draw a uniform sample of at most N ALOs.", min=1
        ),
    ] = logtools.MAX_ALOS,
) -> None:
    """Draw the ALOs' lifetimes over time, coloured by outcome, as a PNG."""
    with _cleanly():
        existing_log(db)
        _refuse_to_overwrite(db, output)
        logtools.plot_lifetimes(db, output, max_alos=max_alos)
        _out(f"wrote {output}")


def _state_json(state: AloState, full: bool) -> Any:
    fields = json_times(state_fields(state))
    return fields if full else logtools.shorten(fields)


@log_app.command()
def copy(
    source: Annotated[str, typer.Argument(metavar="SRC", help="The log to copy (read only).")],
    destination: Annotated[
        str, typer.Argument(metavar="DST", help="A new log: " + DB_HELP, show_default=False)
    ],
) -> None:
    """Copy a log into a new one (SQLite to PostgreSQL, or back), verified position by
    position; a destination that already holds events is refused."""
    with _cleanly():
        report = logtools.copy_log(existing_log(source), log_to_open(destination))
        _out(
            f"copied {report.events:,} events ({report.alos:,} ALOs, head at position "
            f"{report.head.position:,}) to {db_shown(destination)}; "
            "verified position by position"
        )


def _refuse_to_overwrite(db: str, output: str) -> None:
    """An output path that names the log itself would destroy it."""
    if names_the_log(db, output):
        raise logtools.LogToolsError(f"refusing to write over the log itself: {output}")


def _point(point: int | float) -> str:
    return f"position {point:,}" if isinstance(point, int) else logtools.format_time(point)
