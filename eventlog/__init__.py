"""An append-only log of versioned streams on SQLite, knowing nothing of ALOs or actors."""

from __future__ import annotations

from eventlog._codec import Codec
from eventlog._follow import Follower, Frontier
from eventlog._log import EventLog, inspect_schema
from eventlog._reader import CorruptLog, LogReader
from eventlog._schema import DEFAULT_SHARDS, SCHEMA_VERSION
from eventlog._stats import CommitStats
from eventlog._types import (
    FIRST_POSITION,
    Append,
    Claim,
    ConcurrencyError,
    Durability,
    EventLogError,
    Fenced,
    Head,
    Lease,
    LogClosed,
    LogUnwritable,
    Member,
    Membership,
    NewEvent,
    RecordedEvent,
    SchemaError,
    Statement,
)

__all__ = [
    "DEFAULT_SHARDS",
    "FIRST_POSITION",
    "SCHEMA_VERSION",
    "Append",
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
    "LogUnwritable",
    "LogReader",
    "Member",
    "Membership",
    "NewEvent",
    "RecordedEvent",
    "SchemaError",
    "Statement",
    "inspect_schema",
]
