"""The root ``alo`` Typer app; verb groups register themselves from their modules."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="alo",
    help="Durable promises (ALOs) on an event-sourced SQLite log.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def main() -> None:
    # Imported for their side effect of adding commands to ``app``.
    # In this order in `alo --help`.
    from alo_actor.cli import _serve, _worker, _demo, _server, _alos, _log  # noqa: F401, I001

    app()
