"""The design note's greeting example as an ``alo serve --app`` module, with a slow twin,
one that always fails, and one that fails at once."""

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


def decline(ctx: HandlerContext, input: Any) -> None:
    """Fails at once, so its failure carries this file's traceback."""
    raise ValueError(f"declined {input!r}")


def register(system: AloSystem) -> None:
    """What ``--app tests.http.greeting_app:register`` runs at startup."""
    system.register("greeting", greet)
    system.register("linger", linger)
    system.register("boom", boom, retry=RetryPolicy(max_attempts=2, initial_interval=0.0))
    system.register("decline", decline, retry=RetryPolicy(max_attempts=1))
