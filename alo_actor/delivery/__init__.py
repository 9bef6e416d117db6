"""Result-URL delivery: the outcome as a signed POST, sent until a 2xx, retried on the clock.

``Dispatcher`` sends (one private event loop thread, kept-alive connections);
``outcome_delivery`` builds the POST for one outcome and one URL; ``DeliveryOptions``
tunes retries, timeouts and signing.
"""

from __future__ import annotations

from alo_actor.delivery._dispatcher import Dispatcher
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
    "outcome_delivery",
    "webhook_id_for",
]
