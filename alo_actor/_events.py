"""The ALO's events: everything that ever happens to an ALO, as stored in the log."""

from __future__ import annotations

import msgspec

from alo_actor._model import Failure
from eventlog import Codec


class AloEvent(msgspec.Struct, frozen=True, gc=False, tag=True):
    """Base of every ALO event; ``at`` is the time on the system's clock."""

    at: float


class NexusCallback(msgspec.Struct, frozen=True, gc=False):
    """A Nexus caller's callback: one of the ALO's result URLs, told the outcome in
    the Nexus completion format rather than the generic webhook body.

    ``headers`` go with the completion (the start's ``Nexus-Callback-*`` headers,
    prefix stripped). ``answer_until`` (clock time) closes the start request's
    window: an outcome settled before it was answered to the start request itself,
    so the callback is not owed it.
    """

    url: str
    headers: dict[str, str]
    answer_until: float


# omit_defaults: an ALO started without a Nexus callback is stored byte for byte as
# before the field existed, and events written before it decode with the default.
class Started(AloEvent, frozen=True, gc=False, omit_defaults=True):
    """The ALO was created RUNNING; attempt 1 begins if it has an operation."""

    id: str
    operation: str | None
    input: msgspec.Raw
    metadata: dict[str, str]
    result_urls: list[str]
    deadline: float | None
    nexus_callback: NexusCallback | None = None


class AttemptStarted(AloEvent, frozen=True, gc=False):
    """A handler attempt after the first (a retry, a resume, a re-run after restart)."""

    attempt: int


class AttemptFailed(AloEvent, frozen=True, gc=False):
    """An attempt raised and will be retried at ``retry_at``."""

    attempt: int
    failure: Failure
    retry_at: float


class Paused(AloEvent, frozen=True, gc=False):
    pass


class Resumed(AloEvent, frozen=True, gc=False):
    pass


class Completed(AloEvent, frozen=True, gc=False):
    result: msgspec.Raw
    result_metadata: dict[str, str]


class Failed(AloEvent, frozen=True, gc=False):
    failure: Failure


class Cancelled(AloEvent, frozen=True, gc=False):
    failure: Failure


class TimedOut(AloEvent, frozen=True, gc=False):
    """The deadline passed; ``at`` is ``max(deadline, created_at)``."""


class DeliveriesDue(AloEvent, frozen=True, gc=False):
    """The outcome (the terminal event just before) is owed to every result URL."""


class Delivered(AloEvent, frozen=True, gc=False):
    """A result URL answered 2xx to the outcome's POST."""

    url: str


class DeliveryAbandoned(AloEvent, frozen=True, gc=False):
    """A result URL was given up on (a 4xx, or the give-up age passed)."""

    url: str
    reason: str


class DeliveriesFinished(AloEvent, frozen=True, gc=False):
    """Every result URL is delivered or abandoned: nothing is owed any more."""


EVENT_TYPES: tuple[type[AloEvent], ...] = (
    Started,
    AttemptStarted,
    AttemptFailed,
    Paused,
    Resumed,
    Completed,
    Failed,
    Cancelled,
    TimedOut,
    DeliveriesDue,
    Delivered,
    DeliveryAbandoned,
    DeliveriesFinished,
)
# The only events allowed after an ALO's terminal event (semantics §4).
DELIVERY_EVENTS: tuple[type[AloEvent], ...] = (
    DeliveriesDue,
    Delivered,
    DeliveryAbandoned,
    DeliveriesFinished,
)
TERMINAL_EVENTS: tuple[type[AloEvent], ...] = (Completed, Failed, Cancelled, TimedOut)
TERMINAL_EVENT_NAMES: tuple[str, ...] = tuple(t.__name__ for t in TERMINAL_EVENTS)

CODEC: Codec[AloEvent] = Codec(EVENT_TYPES)
