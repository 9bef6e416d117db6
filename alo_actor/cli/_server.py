"""``alo start/info/result/complete/fail/cancel/pause/resume``: one ALO, on a server.

Each verb is one call of ``alo_actor.client.AloClient`` against ``alo serve`` at
``--url`` (or ``ALO_URL``; default ``http://127.0.0.1:8080``), with ``--token`` (or
``ALO_TOKEN``). Text for a person by default, ``--json`` as the HTTP API answers.
Exit status: 0; 1 when ``result`` finds the ALO unsuccessful or its wait runs out;
2 when the request is refused or the server cannot be reached.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import typer

from alo_actor._errors import OperationFailed
from alo_actor._model import AloInfo
from alo_actor._times import DURATION_HELP, parse_duration
from alo_actor._wire import failure_body, info_body
from alo_actor.cli._app import app
from alo_actor.cli._common import CliError, cleanly, fail, out, parse_pairs
from alo_actor.cli._remote import AloId, Json, Token, Url, remote
from alo_actor.logtools import format_time, to_json

OUTCOME_ERROR = 1


def _json_value(text: str | None, option: str) -> Any:
    if text is None:
        return None
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise CliError(f"{option} is not JSON ({exc}): {text!r}") from None


def _show(info: AloInfo, json: bool, first: str | None = None) -> None:
    if json:
        out(to_json(info_body(info)))
        return
    if first is not None:
        out(first)
    out(info_text(info))


def info_text(info: AloInfo) -> str:
    """One ALO, a field a line."""
    failure = info.failure
    fields = [
        ("id", info.id),
        ("status", info.status.value),
        ("operation", "-" if info.operation is None else info.operation),
        ("attempt", str(info.attempt)),
        ("created", format_time(info.created_at)),
        ("settled", format_time(info.settled_at)),
        ("deadline", format_time(info.deadline)),
        ("metadata", to_json(info.metadata).decode() if info.metadata else "-"),
        ("result_urls", " ".join(info.result_urls) or "-"),
        ("failure", "-" if failure is None else f"{failure.message} ({failure.type})"),
    ]
    if info.result_metadata:
        fields.append(("result_metadata", to_json(info.result_metadata).decode()))
    return "\n".join(f"{name:<12} {value}" for name, value in fields)


@app.command("start")
def start(
    alo_id: AloId,
    operation: Annotated[
        str | None,
        typer.Argument(
            metavar="[OPERATION]",
            help="The registered operation to run; without it, an external promise "
            "that complete, fail or cancel settle.",
            show_default=False,
        ),
    ] = None,
    *,
    input: Annotated[
        str | None,
        typer.Option("--input", metavar="JSON", help="The input, as JSON.", show_default=False),
    ] = None,
    metadata: Annotated[
        list[str] | None,
        typer.Option(
            "--metadata", metavar="KEY=VALUE", help="A label (repeatable).", show_default=False
        ),
    ] = None,
    result_url: Annotated[
        list[str] | None,
        typer.Option(
            "--result-url",
            metavar="URL",
            help="POST the outcome here (repeatable).",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[
        str | None,
        typer.Option(
            "--timeout",
            metavar="DURATION",
            help=f"Time it out after this long: {DURATION_HELP}.",
            show_default=False,
        ),
    ] = None,
    url: Url = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """Start an ALO (repeating the same start changes nothing)."""
    with cleanly("start"), remote(url, token) as client:
        info = client.start(
            alo_id,
            operation,
            _json_value(input, "--input"),
            metadata=parse_pairs(metadata, "--metadata") if metadata else None,
            result_urls=result_url or None,
            timeout=None if timeout is None else parse_duration(timeout, "--timeout"),
        )
    _show(info, json, "started" if info.created else "unchanged: this start was made before")


@app.command("info")
def info(alo_id: AloId, *, url: Url = None, token: Token = None, json: Json = False) -> None:
    """What is known of an ALO: its status, attempt, times and failure."""
    with cleanly("info"), remote(url, token) as client:
        shown = client.get_info(alo_id)
    _show(shown, json)


@app.command("result")
def result(
    alo_id: AloId,
    *,
    wait: Annotated[
        str | None,
        typer.Option(
            "--wait",
            metavar="DURATION",
            help=f"Wait at most this long for the outcome ({DURATION_HELP}); "
            "without it, until the ALO settles.",
            show_default=False,
        ),
    ] = None,
    url: Url = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """Print the ALO's result as JSON, waiting for it; exit 1 if it failed, was
    cancelled or timed out (with --json, its failure goes to stdout)."""
    with cleanly("result"), remote(url, token) as client:
        timeout = None if wait is None else parse_duration(wait, "--wait")
        try:
            value = client.get_result(alo_id, timeout=timeout)
        except OperationFailed as exc:
            if json:
                out(to_json(failure_body(exc.failure)))
            status = type(exc).__name__.removeprefix("Operation").lower()
            fail("result", f"{alo_id} {status}: {exc.failure.message}", OUTCOME_ERROR)
        except TimeoutError as exc:
            fail("result", str(exc), OUTCOME_ERROR)
    out(to_json(value))


@app.command("complete")
def complete(
    alo_id: AloId,
    *,
    result: Annotated[
        str | None,
        typer.Option("--result", metavar="JSON", help="The result, as JSON.", show_default=False),
    ] = None,
    result_metadata: Annotated[
        list[str] | None,
        typer.Option(
            "--result-metadata",
            metavar="KEY=VALUE",
            help="Metadata of the result (repeatable).",
            show_default=False,
        ),
    ] = None,
    url: Url = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """Complete an ALO with a result (the first settle wins)."""
    with cleanly("complete"), remote(url, token) as client:
        pairs = parse_pairs(result_metadata, "--result-metadata") if result_metadata else None
        shown = client.complete(alo_id, _json_value(result, "--result"), pairs)
    _show(shown, json)


@app.command("fail")
def fail_alo(
    alo_id: AloId,
    message: Annotated[str, typer.Argument(metavar="MESSAGE", help="Why it failed.")],
    *,
    type: Annotated[str, typer.Option("--type", metavar="TYPE", help="The error type.")] = "Error",
    details: Annotated[
        str | None,
        typer.Option("--details", metavar="JSON", help="Details, as JSON.", show_default=False),
    ] = None,
    url: Url = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """Fail an ALO with a message (the first settle wins)."""
    with cleanly("fail"), remote(url, token) as client:
        shown = client.fail(alo_id, message, type=type, details=_json_value(details, "--details"))
    _show(shown, json)


@app.command("cancel")
def cancel(
    alo_id: AloId,
    *,
    reason: Annotated[
        str | None,
        typer.Option("--reason", metavar="TEXT", help="Why.", show_default=False),
    ] = None,
    url: Url = None,
    token: Token = None,
    json: Json = False,
) -> None:
    """Cancel an ALO; a running attempt is told to stop."""
    with cleanly("cancel"), remote(url, token) as client:
        shown = client.cancel(alo_id, reason)
    _show(shown, json)


@app.command("pause")
def pause(alo_id: AloId, *, url: Url = None, token: Token = None, json: Json = False) -> None:
    """Pause an ALO: no new attempt starts until it is resumed."""
    with cleanly("pause"), remote(url, token) as client:
        shown = client.pause(alo_id)
    _show(shown, json)


@app.command("resume")
def resume(alo_id: AloId, *, url: Url = None, token: Token = None, json: Json = False) -> None:
    """Resume a paused ALO."""
    with cleanly("resume"), remote(url, token) as client:
        shown = client.resume(alo_id)
    _show(shown, json)
