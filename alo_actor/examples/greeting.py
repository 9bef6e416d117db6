"""The design note's greeting operation, as an ``alo serve --app`` module.

``make run`` serves it (``alo serve --app alo_actor.examples.greeting:register``):
start an ALO of operation ``greeting`` with input ``{"name": "Ada"}`` and its result
is ``{"greeting": "Hello, Ada!"}``. A module of your own looks the same: handlers,
and a ``register(system)`` that names them.
"""

from __future__ import annotations

from typing import Any

from alo_actor import AloSystem, HandlerContext


def greeting(ctx: HandlerContext, input: Any) -> dict[str, str]:
    """``{"name": …}`` -> ``{"greeting": "Hello, …!"}``."""
    return {"greeting": f"Hello, {input['name']}!"}


def register(system: AloSystem) -> None:
    """What ``alo serve --app alo_actor.examples.greeting:register`` calls at startup."""
    system.register("greeting", greeting)
