"""The design note's greeting example as an ``alo serve --app`` module (and a slow twin,
and one that fails)."""

from __future__ import annotations

from typing import Any

from alo_actor import AloSystem, HandlerContext, RetryPolicy


def greet(ctx: HandlerContext, input: Any) -> dict[str, str]:
    return {"greeting": f"Hello, {input['name']}!"}


def linger(ctx: HandlerContext, input: Any) -> str:
    """Holds its attempt for ``input`` seconds (or until told to stop)."""
    ctx.cancelled.wait(float(input))
    return "lingered"


def decline(ctx: HandlerContext, input: Any) -> None:
    """Fails at once, so its failure carries this file's traceback."""
    raise ValueError(f"declined {input!r}")


def register(system: AloSystem) -> None:
    """What ``--app tests.http.greeting_app:register`` runs at startup."""
    system.register("greeting", greet)
    system.register("linger", linger)
    system.register("decline", decline, retry=RetryPolicy(max_attempts=1))
