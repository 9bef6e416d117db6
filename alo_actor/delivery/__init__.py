"""Result-URL delivery: the outcome as a signed POST, sent until a 2xx, retried on the clock.

``Dispatcher`` sends (one private event loop thread, kept-alive connections);
``outcome_delivery`` builds the POST for one outcome and one URL, ``nexus_completion``
the one for a Nexus callback, ``owed_deliveries`` all that a settled ALO still owes;
``DeliveryOptions`` tunes retries, timeouts and signing.
"""

from __future__ import annotations

from alo_actor.delivery._dispatcher import Dispatcher
from alo_actor.delivery._nexus import nexus_completion, owed_deliveries
from alo_actor.delivery._payload import (
    Delivery,
    DeliveryOptions,
    OutcomeBody,
    outcome_delivery,
    webhook_id_for,
)

__all__ = [
    "Delivery",
    "DeliveryOptions",
    "Dispatcher",
    "OutcomeBody",
    "nexus_completion",
    "outcome_delivery",
    "owed_deliveries",
    "webhook_id_for",
]
