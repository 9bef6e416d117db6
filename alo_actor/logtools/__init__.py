"""Tools for debugging with an ALO log: show, replay, verify, export, follow, plot and
copy it.

Every tool opens the log read-only (``eventlog.LogReader``) and never writes to it
(``copy_log`` writes only its new destination). A source is a path, a PostgreSQL URL
or a ``LogReader`` the caller owns; every tool that reads one raises
``eventlog.SchemaError`` for a log that is not an event log this version reads, and
``eventlog.CorruptLog`` for one that cannot be read. The ``alo log`` command is a thin
face over these functions.
"""

from __future__ import annotations

from alo_actor.logtools._copy import CopyMismatch, CopyReport, copy_log
from alo_actor.logtools._decode import (
    TIME_FIELDS,
    event_fields,
    format_time,
    json_times,
    record_json,
    shorten,
    state_fields,
    to_json,
)
from alo_actor.logtools._errors import BadPoint, InconsistentLog, LogToolsError, UnknownAlo
from alo_actor.logtools._export import ExportCount, event_record, export, follow, write_jsonl
from alo_actor.logtools._plot import MAX_ALOS, Lifetime, Lifetimes, lifetimes, plot_lifetimes
from alo_actor.logtools._read import (
    LogSummary,
    OperationCount,
    Timeline,
    TimelineEntry,
    summarize,
    timeline,
)
from alo_actor.logtools._render import (
    render_record,
    render_state,
    render_state_detail,
    render_summary,
    render_timeline,
    render_violation,
)
from alo_actor.logtools._replay import parse_at, replay, replay_alo
from alo_actor.logtools._source import LogSource, opened
from alo_actor.logtools._verify import (
    ALLOWED_AFTER_TERMINAL,
    INVARIANTS,
    Verification,
    Violation,
    verify,
)

__all__ = [
    "ALLOWED_AFTER_TERMINAL",
    "INVARIANTS",
    "MAX_ALOS",
    "TIME_FIELDS",
    "BadPoint",
    "CopyMismatch",
    "CopyReport",
    "ExportCount",
    "InconsistentLog",
    "Lifetime",
    "Lifetimes",
    "LogSource",
    "LogSummary",
    "LogToolsError",
    "OperationCount",
    "Timeline",
    "TimelineEntry",
    "UnknownAlo",
    "Verification",
    "Violation",
    "copy_log",
    "event_fields",
    "event_record",
    "export",
    "follow",
    "format_time",
    "json_times",
    "lifetimes",
    "opened",
    "parse_at",
    "plot_lifetimes",
    "record_json",
    "render_record",
    "render_state",
    "render_state_detail",
    "render_summary",
    "render_timeline",
    "render_violation",
    "replay",
    "replay_alo",
    "shorten",
    "state_fields",
    "summarize",
    "timeline",
    "to_json",
    "verify",
    "write_jsonl",
]
