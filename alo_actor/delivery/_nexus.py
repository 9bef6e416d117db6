"""What a Nexus callback is sent: the Nexus completion of an outcome (beside the
generic webhook body of ``_payload``), and which deliveries a settled ALO still owes."""

from __future__ import annotations

from typing import Any

import msgspec

from alo_actor._events import NexusCallback
from alo_actor._machine import AloState, owed_urls
from alo_actor._model import AloInfo, Status
from alo_actor.delivery._payload import Delivery, outcome_delivery, webhook_id_for
from alo_actor.nexus import (
    http_date,
    operation_error,
    operation_state,
    operation_token,
    rfc3339_ms,
)

_json = msgspec.json.Encoder()


def nexus_completion(info: AloInfo, result: Any, callback: NexusCallback) -> Delivery:
    """The POST that completes a Nexus operation at its caller's callback URL.

    Headers: the start's callback headers (prefix stripped), ``Nexus-Operation-State``,
    ``-Token``, ``-Start-Time`` (HTTP date) and ``-Close-Time`` (RFC 3339, ms). Body:
    the result as JSON on success, else the Nexus OperationError Failure.
    """
    if info.settled_at is None or not info.status.terminal:
        raise ValueError(f"ALO {info.id!r} has no outcome yet ({info.status.value})")
    if info.status is Status.COMPLETED:
        body = _json.encode(result)
    else:
        body = _json.encode(operation_error(info.status, info.failure))
    headers = {
        **callback.headers,
        "Content-Type": "application/json",
        "Nexus-Operation-State": operation_state(info.status),
        "Nexus-Operation-Token": operation_token(info.id),
        "Nexus-Operation-Start-Time": http_date(info.created_at),
        "Nexus-Operation-Close-Time": rfc3339_ms(info.settled_at),
    }
    return Delivery(
        alo_id=info.id,
        url=callback.url,
        webhook_id=webhook_id_for(info.id, callback.url),
        body=body,
        headers=headers,
        settled_at=info.settled_at,
    )


def owed_deliveries(state: AloState) -> list[Delivery]:
    """The POSTs that the settled ALO ``state`` still owes: one per result URL not yet
    delivered or abandoned, in the Nexus format to its Nexus callback."""
    resolved = state.resolved_urls
    urls = [url for url in owed_urls(state) if url not in resolved]
    if not urls:
        return []
    info = state.info()
    result = msgspec.msgpack.decode(state.result) if state.result is not None else None
    callback = state.nexus_callback
    return [
        nexus_completion(info, result, callback)
        if callback is not None and url == callback.url
        else outcome_delivery(info, result, url)
        for url in urls
    ]
