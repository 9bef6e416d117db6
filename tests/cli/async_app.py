"""An ``--app`` whose setup is a coroutine function."""

from __future__ import annotations

import asyncio

from alo_actor import AloSystem
from alo_actor.examples.greeting import greeting


async def register(system: AloSystem) -> None:
    await asyncio.sleep(0)
    system.register("greeting", greeting)
