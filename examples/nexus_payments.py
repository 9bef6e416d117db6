"""The ALO side of the Nexus example: a ``charge`` operation for ``alo serve --app``.

    alo serve --db payments.db --app examples.nexus_payments:register

A charge takes a while (``seconds`` of its input, 2 by default): longer than a
Nexus start waits (``--nexus-wait``, 0.5 s), so Temporal is answered 201 and told the
outcome later at its callback URL. A charge over 1,000 is declined, at once and for
good (a non-retryable error, so the workflow sees it as a NexusOperationError).
See ``examples/nexus_workflow.py`` for the workflow that calls it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from alo_actor import AloSystem, HandlerContext, RetryPolicy

LIMIT = 1000


class CardDeclined(Exception):
    pass


async def charge(ctx: HandlerContext, input: Any) -> dict[str, Any]:
    amount = input["amount"]
    if amount > LIMIT:
        raise CardDeclined(f"{amount} is over the card's limit of {LIMIT}")
    # A cancel from the workflow cancels this task (and sets ctx.cancelled).
    await asyncio.sleep(float(input.get("seconds", 2)))
    return {"order": input["order"], "amount": amount, "receipt": f"rcpt-{ctx.id[:8]}"}


def register(system: AloSystem) -> None:
    """What ``--app examples.nexus_payments:register`` runs at startup."""
    system.register("charge", charge, retry=RetryPolicy(non_retryable_error_types=[CardDeclined]))
