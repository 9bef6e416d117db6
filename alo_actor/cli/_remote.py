"""The options of every verb that asks a server (``--url``, ``--token``, ``--json``), and
the client they make."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated

import httpx
import typer

from alo_actor.cli._common import CliError
from alo_actor.client import DEFAULT_URL, AloClient

Url = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="ALO_URL",
        metavar="URL",
        help=f"The server (alo serve) to ask; default {DEFAULT_URL}.",
        show_default=False,
    ),
]
Token = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="ALO_TOKEN",
        metavar="TOKEN",
        help="The server's bearer token.",
        show_default=False,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="JSON, as the HTTP API answers.")]
AloId = Annotated[str, typer.Argument(metavar="ID", help="The ALO's id.", show_default=False)]


@contextlib.contextmanager
def remote(url: str | None, token: str | None) -> Iterator[AloClient]:
    """A client for the server; a server that cannot be reached is a CliError."""
    base = url or DEFAULT_URL
    try:
        client = AloClient(base, token=token)
    except (httpx.InvalidURL, TypeError) as exc:
        raise CliError(f"--url {base!r} is not a URL: {exc}") from None
    try:
        yield client
    except httpx.UnsupportedProtocol:
        raise CliError(f"--url {base!r} is not an http:// or https:// URL") from None
    except httpx.TransportError as exc:
        reason = str(exc) or type(exc).__name__
        raise CliError(f"cannot reach {base} ({reason}): is `alo serve` running?") from None
    finally:
        client.close()
