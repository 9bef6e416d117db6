"""Actor plumbing on pykka, knowing nothing of ALOs: hosted event-sourced entities,
replies to threads and event loops."""

from __future__ import annotations

from actors._host import (
    Behavior,
    Deliver,
    DeliverMany,
    Entity,
    EntityHost,
    Step,
)
from actors._reply import LoopBridge, Reply, ReplyFuture, SyncReply, bridge_for

__all__ = [
    "Behavior",
    "Deliver",
    "DeliverMany",
    "Entity",
    "EntityHost",
    "LoopBridge",
    "Reply",
    "ReplyFuture",
    "Step",
    "SyncReply",
    "bridge_for",
]
