"""The ``alo`` command: one Typer app, each verb group in a module of its own."""

from __future__ import annotations

from alo_actor.cli._app import app, main

__all__ = ["app", "main"]
