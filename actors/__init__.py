"""Actor plumbing on pykka, knowing nothing of ALOs: hosted event-sourced entities,
replies to threads and event loops."""

from __future__ import annotations

from actors._host import (
    Behavior,
    Deliver,
    DeliverMany,
    Entity,
    EntityHost,
    Foreign,
    Step,
)
from actors._reply import Gather, LoopBridge, Reply, ReplyFuture, SyncReply, bridge_for
from actors._shards import DEFAULT_LEASE_SECONDS, Shards

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "Behavior",
    "Deliver",
    "DeliverMany",
    "Entity",
    "EntityHost",
    "Foreign",
    "Gather",
    "LoopBridge",
    "Reply",
    "ReplyFuture",
    "Shards",
    "Step",
    "SyncReply",
    "bridge_for",
]
