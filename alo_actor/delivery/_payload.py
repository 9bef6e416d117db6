"""What a result URL is sent: the outcome's JSON body, its Nexus completion headers,
and the delivery options."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, NamedTuple

import msgspec

from alo_actor._model import AloInfo, Status
from alo_actor._times import rfc3339, utc
from alo_actor._wire import FailureBody, failure_body
from alo_actor.webhooks import webhook_of

_NEXUS_STATE = {
    Status.COMPLETED: "succeeded",
    Status.FAILED: "failed",
    Status.CANCELLED: "canceled",
    Status.TIMED_OUT: "failed",
}
_FAILURE_STATUSES = frozenset({Status.FAILED, Status.CANCELLED, Status.TIMED_OUT})


@dataclass(frozen=True, slots=True)
class DeliveryOptions:
    """How result URLs are called and retried.

    Attributes:
        secret: Standard Webhooks signing secret (``"whsec_<base64>"``); ``None``
            sends no signature headers.
        initial_interval: first retry backoff, in clock seconds.
        backoff_coefficient: each backoff is the previous one times this.
        maximum_interval: cap on one backoff, in clock seconds.
        give_up_after: a delivery is abandoned once a retry would fall more than
            this many clock seconds after the outcome settled.
        request_timeout: limit on one POST, in real seconds.
        max_concurrency: POSTs in flight at once.
    """

    secret: str | None = None
    initial_interval: float = 1.0
    backoff_coefficient: float = 2.0
    maximum_interval: float = 3600.0
    give_up_after: float = 86400.0
    request_timeout: float = 10.0
    max_concurrency: int = 100

    def __post_init__(self) -> None:
        if not self.initial_interval > 0 or not self.maximum_interval > 0:
            raise ValueError("retry intervals must be positive")
        if not self.backoff_coefficient >= 1:
            raise ValueError("backoff_coefficient must be at least 1")
        if not self.request_timeout > 0:
            raise ValueError("request_timeout must be positive")
        if self.max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if self.secret is not None:
            webhook_of(self.secret)  # fail at configuration, not per send


class Delivery(NamedTuple):
    """One outcome owed to one result URL."""

    alo_id: str
    url: str
    webhook_id: str
    body: bytes
    headers: dict[str, str]
    settled_at: float


class OutcomeBody(msgspec.Struct):
    """The JSON body of a result-URL POST; ``failure`` in the HTTP API's Failure shape."""

    id: str
    status: Status
    result: Any
    failure: FailureBody | None
    result_metadata: dict[str, str] | None
    metadata: dict[str, str]
    created_at: Annotated[datetime, msgspec.Meta(tz=True)]
    settled_at: Annotated[datetime, msgspec.Meta(tz=True)]


_encoder = msgspec.json.Encoder()


def webhook_id_for(alo_id: str, url: str) -> str:
    """The Standard Webhooks message id of one outcome to one URL, stable across restarts."""
    # An id holds no whitespace, so the newline cannot be forged into a collision.
    digest = hashlib.sha256(f"{alo_id}\n{url}".encode()).hexdigest()
    return "msg_" + digest[:32]


def outcome_delivery(info: AloInfo, result: Any, url: str) -> Delivery:
    """The POST that tells ``url`` the outcome of the terminal ALO ``info``."""
    if info.settled_at is None or not info.status.terminal:
        raise ValueError(f"ALO {info.id!r} has no outcome yet ({info.status.value})")
    completed = info.status is Status.COMPLETED
    failure = info.failure if info.status in _FAILURE_STATUSES else None
    body = OutcomeBody(
        id=info.id,
        status=info.status,
        result=result if completed else None,
        failure=None if failure is None else failure_body(failure),
        result_metadata=info.result_metadata if completed else None,
        metadata=info.metadata,
        created_at=utc(info.created_at),
        settled_at=utc(info.settled_at),
    )
    headers = {
        "Content-Type": "application/json",
        "Nexus-Operation-Token": info.id,
        "Nexus-Operation-State": _NEXUS_STATE[info.status],
        "Nexus-Operation-Start-Time": rfc3339(info.created_at),
        "Nexus-Operation-Close-Time": rfc3339(info.settled_at),
    }
    return Delivery(
        alo_id=info.id,
        url=url,
        webhook_id=webhook_id_for(info.id, url),
        body=_encoder.encode(body),
        headers=headers,
        settled_at=info.settled_at,
    )
