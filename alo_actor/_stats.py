"""Counters the engine keeps for metrics, each updated by one thread alone, without a lock.

The supervisor thread counts commands and handler attempts; the delivery thread counts
POSTs and finished deliveries; the writer counts commits (``eventlog.CommitStats``). A
reader (the ``/metrics`` route) copies them: it may see an update half made, never a
count go back. Each update is a dict or attribute increment: the supervisor spends
~70 us per promise, one lock per command would have shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from eventlog import CommitStats


class EngineStats:
    """Commands decided (by command class) and handler attempts begun and failed (by
    operation), since the system opened. Updated on the supervisor thread only."""

    __slots__ = ("attempt_failures", "attempts", "commands")

    def __init__(self) -> None:
        self.commands: dict[type, int] = {}
        self.attempts: dict[str, int] = {}
        self.attempt_failures: dict[str, int] = {}


class DeliveryStats:
    """Result-URL POSTs that did not get a 2xx, and deliveries finished either way.
    Updated on the delivery thread only."""

    __slots__ = ("abandoned", "delivered", "failed_posts")

    def __init__(self) -> None:
        self.failed_posts = 0
        self.delivered = 0
        self.abandoned = 0


class SystemStats:
    """Everything an open AloSystem counts (``system.stats``)."""

    __slots__ = ("commits", "deliveries", "deliveries_pending", "engine")

    def __init__(
        self,
        engine: EngineStats,
        commits: CommitStats,
        deliveries: DeliveryStats,
        deliveries_pending: Callable[[], int],
    ) -> None:
        self.engine = engine
        self.commits = commits
        self.deliveries = deliveries
        self.deliveries_pending = deliveries_pending
