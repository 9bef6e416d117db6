"""What the console's pages show, from infos and events: pure functions, no I/O."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import urlencode

from alo_actor._errors import InvalidArgument
from alo_actor._model import AloInfo, Status
from alo_actor._wire import InfoBody, info_body
from alo_actor.http._durations import parse_time
from alo_actor.http._history import event_bodies
from alo_actor.http._schemas import EventBody
from eventlog import RecordedEvent

PAGE_SIZE = 50
STATUSES = tuple(status.value for status in Status)
_OUTCOME = {
    "Completed": "completed",
    "Failed": "failed",
    "Cancelled": "cancelled",
    "TimedOut": "timed out",
}
_TERMINAL_TYPES = frozenset(_OUTCOME)

# -- the list's filters ----------------------------------------------------------------


class ListQuery(NamedTuple):
    """The list page's filters as the form sends them (text, as typed)."""

    statuses: tuple[str, ...] = ()
    operation: str = ""
    metadata: str = ""
    created_after: str = ""
    created_before: str = ""
    cursor: str = ""

    @classmethod
    def of(cls, params: Any) -> ListQuery:
        """From the query string (a multi-dict: ``status`` may repeat)."""

        def one(name: str) -> str:
            value = params.get(name)
            return value.strip() if isinstance(value, str) else ""

        statuses: list[str] = []
        for value in params.getall("status", []):
            statuses.extend(word.strip() for word in value.split(",") if word.strip())
        return cls(
            tuple(dict.fromkeys(statuses)),
            one("operation"),
            one("metadata"),
            one("created_after"),
            one("created_before"),
            one("cursor"),
        )

    def list_arguments(self) -> dict[str, Any]:
        """The keyword arguments of ``system.list``; raises InvalidArgument for a bad filter."""
        return {
            "status": list(self.statuses) or None,
            "operation": self.operation or None,
            "metadata": metadata_pairs(self.metadata),
            "created_after": console_time(self.created_after, "created after"),
            "created_before": console_time(self.created_before, "created before"),
            "cursor": self.cursor or None,
            "limit": PAGE_SIZE,
        }

    def url(self, cursor: str | None = None, *, statuses: tuple[str, ...] | None = None) -> str:
        """The list page with these filters (and ``cursor``, or the first page)."""
        pairs: list[tuple[str, str]] = [
            ("status", s) for s in (self.statuses if statuses is None else statuses)
        ]
        for name in ("operation", "metadata", "created_after", "created_before"):
            value = getattr(self, name)
            if value:
                pairs.append((name, value))
        if cursor:
            pairs.append(("cursor", cursor))
        return "/ui" + ("?" + urlencode(pairs) if pairs else "")

    @property
    def filtered(self) -> bool:
        return any((self.statuses, self.operation, self.metadata, self.created_after,
                    self.created_before))  # fmt: skip


def metadata_pairs(text: str) -> dict[str, str]:
    """``team=billing, region=eu`` as a mapping; raises InvalidArgument for a bad pair."""
    pairs: dict[str, str] = {}
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise InvalidArgument(f"metadata filter {item!r} is not KEY=VALUE")
        pairs[key.strip()] = value.strip()
    return pairs


def console_time(text: str, what: str) -> float | None:
    """A time from the filter form: RFC 3339 or Unix seconds as the API takes them, or a
    time without an offset (what a datetime-local field sends), read as UTC."""
    if not text:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return parse_time(text, what)  # Unix seconds, or the API's own error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return parse_time(moment.isoformat(), what)


# -- one ALO ---------------------------------------------------------------------------


class Attempt(NamedTuple):
    """One run of the ALO's handler: when it began and how it ended (if it has)."""

    number: int
    started_at: datetime.datetime | None
    ended_at: datetime.datetime | None
    outcome: str
    failure: Any
    retry_at: datetime.datetime | None


class Delivery(NamedTuple):
    """A result URL and what the log says of posting the outcome to it."""

    url: str
    state: str  # "not due" (unsettled), "owed", "delivered" or "abandoned"
    at: datetime.datetime | None
    reason: str | None


class TimelineEntry(NamedTuple):
    position: int
    event: EventBody


class Detail(NamedTuple):
    """Everything the ALO page shows."""

    info: InfoBody
    input: Any
    result: Any
    completed: bool
    attempts: list[Attempt]
    deliveries: list[Delivery]
    timeline: list[TimelineEntry]
    last_position: int
    actions: tuple[str, ...]


def actions_for(status: Status) -> tuple[str, ...]:
    """The console's buttons for an ALO in ``status``, in the order shown."""
    if status is Status.RUNNING:
        return ("pause", "cancel", "complete", "fail")
    if status is Status.PAUSED:
        return ("resume", "cancel", "complete", "fail")
    return ()


def detail(info: AloInfo, records: list[RecordedEvent], stack_traces: bool) -> Detail:
    """The ALO page's content from its info and its stored events, oldest first (failures
    with their stack traces only if ``stack_traces``: ``alo serve --expose-stack-traces``)."""
    events = event_bodies(records, stack_traces)
    timeline = [TimelineEntry(r.position, e) for r, e in zip(records, events, strict=True)]
    started: Mapping[str, Any] = next((e.data for e in events if e.type == "Started"), {})
    completed = next((e for e in events if e.type == "Completed"), None)
    return Detail(
        info=info_body(info, stack_traces),
        input=started.get("input"),
        result=None if completed is None else completed.data.get("result"),
        completed=completed is not None,
        attempts=attempts(events),
        deliveries=deliveries(info, events),
        timeline=timeline,
        last_position=records[-1].position if records else 0,
        actions=actions_for(info.status),
    )


def attempts(events: list[EventBody]) -> list[Attempt]:
    """The handler's attempts: the first begins with ``Started`` (when it names an
    operation), the others with ``AttemptStarted``; each ends with its
    ``AttemptFailed``, or with the outcome that settled the ALO."""
    rows: list[Attempt] = []
    for event in events:
        if event.type == "Started" and event.data.get("operation") is not None:
            rows.append(Attempt(1, event.at, None, "running", None, None))
        elif event.type == "AttemptStarted":
            number = event.data.get("attempt", len(rows) + 1)
            rows.append(Attempt(number, event.at, None, "running", None, None))
        elif event.type == "AttemptFailed" and rows:
            rows[-1] = rows[-1]._replace(
                ended_at=event.at,
                outcome="failed",
                failure=event.data.get("failure"),
                retry_at=event.data.get("retry_at"),
            )
        elif event.type in _TERMINAL_TYPES and rows and rows[-1].ended_at is None:
            rows[-1] = rows[-1]._replace(ended_at=event.at, outcome=_OUTCOME[event.type])
    return rows


def deliveries(info: AloInfo, events: list[EventBody]) -> list[Delivery]:
    """Each result URL with the last thing the log recorded of its delivery."""
    due = any(e.type == "DeliveriesDue" for e in events)
    state = {
        url: Delivery(url, "owed" if due else "not due", None, None) for url in info.result_urls
    }
    for event in events:
        url = event.data.get("url")
        if url not in state:
            continue
        if event.type == "Delivered":
            state[url] = Delivery(url, "delivered", event.at, None)
        elif event.type == "DeliveryAbandoned":
            state[url] = Delivery(url, "abandoned", event.at, event.data.get("reason"))
    return list(state.values())
