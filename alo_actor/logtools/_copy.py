"""Copying an ALO log to another backend (SQLite to PostgreSQL and back), verified.

The events are copied position for position into an empty log (``eventlog``'s
``copy_events``), the read model is folded again from them at the destination, and
then both logs are read side by side: every event must be equal, field for field,
and the heads too. The source is only read.
"""

from __future__ import annotations

import os

import msgspec

from alo_actor.logtools._errors import LogToolsError
from eventlog import DEFAULT_SHARDS, EventLog, Head, LogReader, backend_of, copy_events
from eventlog._copy import shard_count


class CopyReport(msgspec.Struct, frozen=True):
    """What a copy did: how many events, and the head the copy continues from."""

    events: int
    head: Head
    alos: int


class CopyMismatch(LogToolsError):
    """The copy, read back, differs from the source (it is left for inspection)."""


def copy_log(source: str | os.PathLike[str], destination: str | os.PathLike[str]) -> CopyReport:
    """Copy the log at ``source`` into a new log at ``destination``, then verify it.

    Raises ``eventlog.NotEmpty`` for a destination that already holds events (it is
    left as it was), ``LogToolsError`` for a destination that is the source,
    ``CopyMismatch`` when the copy does not read back equal, and what opening either
    log raises (``SchemaError``, ``Unreachable``).
    """
    src, dst = os.fspath(source), os.fspath(destination)
    if _same(src, dst):
        raise LogToolsError("the source and the destination are the same log")
    # Here, not at the top: the read model's retention uses these tools.
    from alo_actor.readmodel import ensure_projection

    with LogReader.open(src) as reader:
        shards = shard_count(reader) or DEFAULT_SHARDS
        with EventLog.open(dst, shards=shards) as log:
            count = copy_events(reader, log)
            ensure_projection(log)
            (alos,) = log.query("SELECT COUNT(*) FROM alos")[0]
        with LogReader.open(dst) as copy:
            _verify(reader, copy)
            head = copy.head()
    return CopyReport(count, head, int(alos))


def _same(src: str, dst: str) -> bool:
    if backend_of(src) != backend_of(dst):
        return False
    if backend_of(src) == "postgresql":
        return src == dst
    return os.path.exists(src) and os.path.exists(dst) and os.path.samefile(src, dst)


def _verify(source: LogReader, copy: LogReader) -> None:
    if source.head() != copy.head():
        raise CopyMismatch(f"the copy's head is {copy.head()}, the source's {source.head()}")
    theirs = copy.read_all()
    for mine in source.read_all():
        copied = next(theirs, None)
        if copied != mine:
            where = mine.position if copied is None else min(mine.position, copied.position)
            raise CopyMismatch(f"the copy differs from the source at position {where}")
    extra = next(theirs, None)
    if extra is not None:
        raise CopyMismatch(f"the copy holds an event the source has not: {extra.position}")
