"""An append-only log of versioned streams on SQLite, knowing nothing of ALOs or actors."""

from __future__ import annotations

from eventlog._codec import Codec
from eventlog._log import EventLog, inspect_schema
from eventlog._reader import CorruptLog, LogReader
from eventlog._schema import SCHEMA_VERSION
from eventlog._types import (
    FIRST_POSITION,
    Append,
    ConcurrencyError,
    Durability,
    EventLogError,
    LogClosed,
    LogUnwritable,
    NewEvent,
    RecordedEvent,
    SchemaError,
    Statement,
)

__all__ = [
    "FIRST_POSITION",
    "SCHEMA_VERSION",
    "Append",
    "Codec",
    "ConcurrencyError",
    "CorruptLog",
    "Durability",
    "EventLog",
    "EventLogError",
    "LogClosed",
    "LogUnwritable",
    "LogReader",
    "NewEvent",
    "RecordedEvent",
    "SchemaError",
    "Statement",
    "inspect_schema",
]
