"""Long polls: waiting for an outcome on the event loop, ended early only by a shutdown.

A poll awaits ``system.aio._settled`` directly (no thread, no extra task). It is
not cancelled when its client disconnects: watching for that costs a task per poll,
and a cancelled engine wait stays registered with the supervisor until the ALO
settles, whereas one that runs out its (capped) timeout withdraws itself. So an
abandoned poll costs a suspended coroutine for at most the server's wait cap.
"""

from __future__ import annotations

import asyncio

from alo_actor._machine import AloState
from alo_actor.http._service import Service


class PollInterrupted(Exception):
    """The wait ended early because the server is shutting down."""


async def wait_settled(service: Service, alo_id: str, timeout: float) -> AloState:
    """The ALO's final state (whatever its outcome), waiting up to ``timeout`` s; raises
    what ``_settled`` raises (NotFound, TimeoutError), or PollInterrupted."""
    task = asyncio.current_task()
    assert task is not None
    if not service.track_poll(task):
        raise PollInterrupted
    try:
        return await service.system.aio._settled(alo_id, timeout=timeout)
    except asyncio.CancelledError:
        if not service.interrupted(task):
            raise
        task.uncancel()
        raise PollInterrupted from None
    finally:
        service.untrack_poll(task)
