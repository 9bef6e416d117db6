"""The design note's greeting example as an ``alo serve --app`` module, with a slow twin
and one that always fails."""

from __future__ import annotations

from typing import Any

from alo_actor import AloSystem, HandlerContext, RetryPolicy
from alo_actor.examples.greeting import greeting as greet


def linger(ctx: HandlerContext, input: Any) -> str:
    """Holds its attempt for ``input`` seconds (or until told to stop)."""
    ctx.cancelled.wait(float(input))
    return "lingered"


class Boom(Exception):
    """What ``boom`` raises."""


def boom(ctx: HandlerContext, input: Any) -> None:
    raise Boom(f"attempt {ctx.attempt} failed")


def register(system: AloSystem) -> None:
    """What ``--app tests.http.greeting_app:register`` runs at startup."""
    system.register("greeting", greet)
    system.register("linger", linger)
    system.register("boom", boom, retry=RetryPolicy(max_attempts=2, initial_interval=0.0))
