"""An append-only log of versioned streams on SQLite or PostgreSQL, knowing nothing of ALOs
or actors."""

from __future__ import annotations

from eventlog._codec import Codec
from eventlog._copy import NotEmpty, copy_events
from eventlog._follow import Follower, Frontier
from eventlog._location import Backend, backend_of
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
    Unreachable,
)

__all__ = [
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
    "LogUnwritable",
    "LogReader",
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
]
