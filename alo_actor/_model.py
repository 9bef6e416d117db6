"""Public value types: Status, Failure, AloInfo."""

from __future__ import annotations

import enum
from typing import Any

import msgspec


class Status(enum.StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"

    @property
    def terminal(self) -> bool:
        return self is not _RUNNING and self is not _PAUSED


_RUNNING = Status.RUNNING
_PAUSED = Status.PAUSED
TERMINAL = frozenset(s for s in Status if s.terminal)


class Failure(msgspec.Struct, frozen=True):
    """Why an ALO did not complete: the Nexus Failure shape.

    ``details`` is whatever JSON-like value the failure carries, as stored: the
    engine keeps the decoded copy, never the caller's own object.
    """

    message: str
    type: str = "Error"
    details: Any = None
    stack_trace: str | None = None


class AloInfo(msgspec.Struct, frozen=True):
    """What is known of one ALO (its result is read with ``get_result``)."""

    id: str
    operation: str | None
    status: Status
    metadata: dict[str, str]
    result_urls: list[str]
    attempt: int
    created_at: float
    settled_at: float | None
    deadline: float | None
    failure: Failure | None
    result_metadata: dict[str, str] | None
    created: bool | None = None
