"""alo-actor: durable promises (ALOs) on an event-sourced actor system over SQLite."""

from __future__ import annotations

from alo_actor._aio import AsyncAloSystem
from alo_actor._batch import AloCompletion, AloStart
from alo_actor._clock import Clock, ManualClock, SystemClock
from alo_actor._errors import (
    AloError,
    AlreadyExists,
    InvalidArgument,
    NotFound,
    OperationCancelled,
    OperationFailed,
    OperationTimedOut,
    SystemClosed,
    Unavailable,
)
from alo_actor._handlers import CancelSignal, HandlerContext, HandlerResult, RetryPolicy
from alo_actor._model import AloInfo, Failure, Status
from alo_actor._system import AloSystem
from alo_actor.delivery import DeliveryOptions
from alo_actor.readmodel import AloPage

__all__ = [
    "AloCompletion",
    "AloError",
    "AloInfo",
    "AloPage",
    "AloStart",
    "AloSystem",
    "AlreadyExists",
    "AsyncAloSystem",
    "CancelSignal",
    "Clock",
    "DeliveryOptions",
    "Failure",
    "HandlerContext",
    "HandlerResult",
    "InvalidArgument",
    "ManualClock",
    "NotFound",
    "OperationCancelled",
    "OperationFailed",
    "OperationTimedOut",
    "RetryPolicy",
    "Status",
    "SystemClock",
    "SystemClosed",
    "Unavailable",
]
