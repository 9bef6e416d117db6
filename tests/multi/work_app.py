"""Handlers for the multi-process tests, loaded with ``--app tests.multi.work_app:register``.

Each attempt appends a line to the file ``$ALO_TEST_RECORD`` when it begins and when it
ends (``{"event", "id", "attempt", "pid", "at"}``, one ``write`` each, so lines of several
processes never mix), so a test can tell which process ran which attempt, and when.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from alo_actor import AloSystem, HandlerContext


def _record(event: str, ctx: HandlerContext, **more: Any) -> None:
    line = json.dumps(
        {
            "event": event,
            "id": ctx.id,
            "attempt": ctx.attempt,
            "pid": os.getpid(),
            "at": time.time(),
            **more,
        }
    )
    fd = os.open(os.environ["ALO_TEST_RECORD"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def work(ctx: HandlerContext, input: Any) -> dict[str, int]:
    """Runs until the file ``$ALO_TEST_RELEASE`` exists, or until told to stop."""
    _record("begin", ctx)
    release = os.environ["ALO_TEST_RELEASE"]
    while not os.path.exists(release):
        if ctx.cancelled.wait(0.01):
            _record("end", ctx, how="cancelled")
            raise RuntimeError("told to stop")
    _record("end", ctx, how="done")
    return {"pid": os.getpid(), "attempt": ctx.attempt}


def quick(ctx: HandlerContext, input: Any) -> dict[str, int]:
    _record("begin", ctx)
    _record("end", ctx, how="done")
    return {"pid": os.getpid(), "attempt": ctx.attempt}


def register(system: AloSystem) -> None:
    system.register("work", work)
    system.register("quick", quick)
