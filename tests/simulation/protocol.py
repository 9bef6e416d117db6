"""The vocabulary of a simulation: commands a client sends, and the answers it records.

Plain data (msgspec), shared by the workload, the executor (which also runs in a
child process and prints calls as JSON) and the reference model.
"""

from __future__ import annotations

from typing import Any

import msgspec

RUNNING = "running"
PAUSED = "paused"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
TIMED_OUT = "timed_out"
STATUSES = (RUNNING, PAUSED, COMPLETED, FAILED, CANCELLED, TIMED_OUT)
TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED, TIMED_OUT})


# -- commands: what a client asks (also the workload's vocabulary) --------------------


class Command(msgspec.Struct, frozen=True, tag=True, tag_field="command"):
    id: str


class Start(Command, frozen=True, tag=True):
    operation: str | None = None
    input: Any = None
    metadata: dict[str, str] = {}
    result_urls: list[str] = []
    deadline: float | None = None


class GetInfo(Command, frozen=True, tag=True):
    pass


class Subscribe(Command, frozen=True, tag=True):
    """subscribe(id, callback): answers the current info, like get_info (§5)."""


class GetResult(Command, frozen=True, tag=True):
    timeout: float = 0.25


class Complete(Command, frozen=True, tag=True):
    result: Any = None
    result_metadata: dict[str, str] = {}


class Fail(Command, frozen=True, tag=True):
    message: str = "failed"
    type: str = "Error"
    details: Any = None


class Cancel(Command, frozen=True, tag=True):
    reason: str | None = None


class Pause(Command, frozen=True, tag=True):
    pass


class Resume(Command, frozen=True, tag=True):
    pass


AnyCommand = Start | GetInfo | Subscribe | GetResult | Complete | Fail | Cancel | Pause | Resume


# -- responses: what the client got back ----------------------------------------------


class FailureView(msgspec.Struct, frozen=True):
    message: str
    type: str
    details: Any = None
    stack_trace: str | None = None


class Info(msgspec.Struct, frozen=True, tag=True, tag_field="kind"):
    status: str
    created: bool | None
    operation: str | None
    metadata: dict[str, str]
    result_urls: list[str]
    attempt: int
    created_at: float
    settled_at: float | None
    deadline: float | None
    failure: FailureView | None
    result_metadata: dict[str, str] | None


class Value(msgspec.Struct, frozen=True, tag=True, tag_field="kind"):
    """get_result returned this value."""

    value: Any


class Raised(msgspec.Struct, frozen=True, tag=True, tag_field="kind"):
    """The call raised ``error`` (the exception's class name)."""

    error: str
    failure: FailureView | None = None
    message: str = ""


Response = Info | Value | Raised
