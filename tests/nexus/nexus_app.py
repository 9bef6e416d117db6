"""Operations for the Nexus tests (``alo serve --app tests.nexus.nexus_app:register``).

``gated`` leaves marker files in ``input["dir"]`` named after ``input["key"]`` (the
test cannot know the ALO's id: Temporal makes it), so a test in another process can
wait for an attempt to start, release it, and see that it was told to stop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alo_actor import AloSystem, HandlerContext, RetryPolicy

HOLD = 60.0  # the longest a gated attempt waits for its release


class CardDeclined(Exception):
    pass


def greet(ctx: HandlerContext, input: Any) -> dict[str, Any]:
    return {"greeting": f"Hello, {input['name']}!"}


def echo(ctx: HandlerContext, input: Any) -> Any:
    return input


def decline(ctx: HandlerContext, input: Any) -> None:
    raise CardDeclined(input["message"])


def gated(ctx: HandlerContext, input: Any) -> dict[str, Any] | None:
    """Writes ``KEY.started.ATTEMPT``, then holds until ``KEY.go`` exists (then greets,
    or fails with ``input["fail"]``) or the ALO is cancelled (then writes ``KEY.cancelled``)."""
    folder, key = Path(input["dir"]), input["key"]
    (folder / f"{key}.started.{ctx.attempt}").touch()
    go = folder / f"{key}.go"
    waited = 0.0
    while not go.exists():
        if ctx.cancelled.wait(0.02):
            (folder / f"{key}.cancelled").touch()
            return None
        waited += 0.02
        if waited > HOLD:
            raise TimeoutError("never released")
    if "fail" in input:
        raise CardDeclined(input["fail"])
    return {"greeting": f"Hello, {input['name']}!", "attempt": ctx.attempt}


def register(system: AloSystem) -> None:
    once = RetryPolicy(max_attempts=1)
    system.register("greet", greet)
    system.register("echo", echo)
    system.register("decline", decline, retry=once)
    system.register("gated", gated, retry=once)
