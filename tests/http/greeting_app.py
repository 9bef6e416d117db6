"""The design note's greeting example as an ``alo serve --app`` module (and a slow twin)."""

from __future__ import annotations

from typing import Any

from alo_actor import AloSystem, HandlerContext
from alo_actor.examples.greeting import greeting as greet


def linger(ctx: HandlerContext, input: Any) -> str:
    """Holds its attempt for ``input`` seconds (or until told to stop)."""
    ctx.cancelled.wait(float(input))
    return "lingered"


def register(system: AloSystem) -> None:
    """What ``--app tests.http.greeting_app:register`` runs at startup."""
    system.register("greeting", greet)
    system.register("linger", linger)
