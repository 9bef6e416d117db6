"""The public surface changes only on purpose: these lists are pinned."""

from __future__ import annotations

import inspect
from types import ModuleType

import pytest

import actors
import alo_actor
import alo_actor.client
import alo_actor.webhooks
import eventlog

PINNED = {
    alo_actor: [
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
    ],
    alo_actor.client: ["DEFAULT_URL", "AloClient", "AsyncAloClient", "ServiceError"],
    alo_actor.webhooks: ["WebhookVerificationError", "new_secret", "verify"],
    eventlog: [
        "DEFAULT_SHARDS",
        "FIRST_POSITION",
        "SCHEMA_VERSION",
        "Append",
        "Backend",
        "Claim",
        "Codec",
        "CommitStats",
        "ConcurrencyError",
        "CorruptLog",
        "Durability",
        "EventLog",
        "EventLogError",
        "Fenced",
        "Follower",
        "Frontier",
        "Head",
        "Lease",
        "LogClosed",
        "LogReader",
        "LogUnwritable",
        "Member",
        "Membership",
        "NewEvent",
        "NotEmpty",
        "RecordedEvent",
        "SchemaError",
        "Statement",
        "Unreachable",
        "backend_of",
        "copy_events",
        "inspect_schema",
    ],
    actors: [
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
    ],
}


@pytest.mark.parametrize("module", list(PINNED), ids=lambda m: m.__name__)
def test_exports_are_pinned(module: ModuleType) -> None:
    assert sorted(module.__all__) == sorted(PINNED[module])
    assert all(hasattr(module, name) for name in module.__all__)


def test_the_spec_names_exist_with_their_verbs() -> None:
    # shared/spec/python-api.md: users and acceptance tests rely on these names.
    verbs = ["open", "close", "register", "start", "get_info", "get_result", "complete"]
    verbs += ["fail", "cancel", "pause", "resume", "list", "subscribe"]
    for verb in verbs:
        assert callable(getattr(alo_actor.AloSystem, verb)), verb
        if verb not in ("open", "close", "register"):
            assert inspect.iscoroutinefunction(getattr(alo_actor.AsyncAloSystem, verb)), verb
    assert [s.name for s in alo_actor.Status] == [
        "RUNNING",
        "PAUSED",
        "COMPLETED",
        "FAILED",
        "CANCELLED",
        "TIMED_OUT",
    ]
    assert all(s.value == s.name.lower() for s in alo_actor.Status)
    assert issubclass(alo_actor.OperationCancelled, alo_actor.OperationFailed)
    assert issubclass(alo_actor.OperationTimedOut, alo_actor.OperationFailed)
    for error in ("AlreadyExists", "NotFound", "InvalidArgument", "OperationFailed"):
        assert issubclass(getattr(alo_actor, error), alo_actor.AloError)
    assert alo_actor.ManualClock(start=5.0).advance(1.0) == 6.0


def test_the_client_has_the_systems_verbs() -> None:
    """Code moves between embedded and remote by changing one line (issue 18)."""
    from alo_actor.client import AloClient, AsyncAloClient

    verbs = ["start", "get_info", "get_result", "complete", "fail", "cancel", "pause"]
    verbs += ["resume", "list"]
    for verb in verbs:
        local = inspect.signature(getattr(alo_actor.AloSystem, verb))
        remote = inspect.signature(getattr(AloClient, verb))
        assert list(remote.parameters) == list(local.parameters), verb
        assert inspect.iscoroutinefunction(getattr(AsyncAloClient, verb)), verb
