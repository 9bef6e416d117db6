"""Value types and errors of the event log contract."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, NamedTuple

import msgspec

Durability = Literal["normal", "full"]

# An SQL statement and its parameters, run in the transaction of an append (or of a
# deletion) so that a table derived from the events can never disagree with them.
Statement = tuple[str, tuple[Any, ...]]
# Statements' parameter rows by SQL text: the texts in order of first appearance, each
# text's rows in order (how a writer runs a batch's statements).
Groups = dict[str, list[tuple[Any, ...]]]


class _FirstPosition(msgspec.Struct, frozen=True, gc=False):
    # Of a type the garbage collector does not track: a tuple of parameters that holds
    # it (a read-model row, in flight with every new stream's append) can be untracked.
    def __repr__(self) -> str:
        return "FIRST_POSITION"


# As the first parameter of an append's extra statement: the position the append's
# first event was given (known only in the writer), e.g. to key a row of a read model.
FIRST_POSITION: Any = _FirstPosition()


class NewEvent(msgspec.Struct, frozen=True, gc=False):
    """An event to append: its type name and its encoded payload.

    Untracked by the garbage collector: one is made for every event written and lives
    until its commit, and a str and bytes hold nothing. (A NamedTuple, which it was,
    is a tuple subclass, which the collector never untracks: it walked every event
    in flight on every pass.)
    """

    type: str
    data: bytes


class RecordedEvent(NamedTuple):
    """An event as stored: its global position and its version within its stream."""

    position: int
    stream_id: str
    version: int
    type: str
    data: bytes
    recorded_at: float


# The events table's columns, in RecordedEvent's order (for SELECT lists, both backends).
COLUMNS = ", ".join(RecordedEvent._fields)


class EventLogError(Exception):
    """Base class of every error the event log raises."""


class ConcurrencyError(EventLogError):
    """The stream was not at the expected version: someone else appended first."""

    def __init__(self, stream_id: str, expected_version: int) -> None:
        super().__init__(
            f"stream {stream_id!r} is not at version {expected_version}: "
            "another writer appended to it first"
        )
        self.stream_id = stream_id
        self.expected_version = expected_version


class LogClosed(EventLogError):
    """The log was closed; nothing more can be appended."""


class LogUnwritable(EventLogError):
    """The log cannot be written now: ``reason`` names why (the disk is full, the file
    or the database is read-only, an I/O error, its WAL file was deleted, the database
    server is shutting down, cannot be reached or dropped the connection). Nothing of
    the failed append was committed, except when a server's connection ended during
    its COMMIT (the reason says so: the log's follower then reads whatever was). Once
    the cause is gone, appends succeed again (except after a lost WAL file, which
    needs the log reopened)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the event log cannot be written: {reason}")
        self.reason = reason


class SchemaError(EventLogError):
    """The file (or database) is not an event log this version can open."""


class Unreachable(EventLogError):
    """The log's database server could not be reached: not running, refusing the
    connection, or refusing the credentials (PostgreSQL)."""


class Fenced(EventLogError):
    """The append was made under a lease that is no longer held: its shard was claimed
    (or released) since, so the log refused it (Temporal's range-id fencing)."""

    def __init__(self, shard: int, epoch: int) -> None:
        super().__init__(
            f"shard {shard} is no longer at lease epoch {epoch}: another member owns it now"
        )
        self.shard = shard
        self.epoch = epoch


class Lease(NamedTuple):
    """One shard's lease as stored: who holds it, since which claim, until when.

    ``owner`` is None for a free lease. ``epoch`` grows by one at every claim and every
    release, so a fence of ``(shard, epoch)`` names one holding of the lease exactly.
    ``expires_at`` is the log's time (seconds since the epoch) at which it lapses.
    """

    shard: int
    owner: str | None
    epoch: int
    expires_at: float


class Member(NamedTuple):
    """A member of the log's group (a process using the log), as its last heartbeat left it.

    ``info`` is the member's own description (JSON text, opaque to the log).
    """

    id: str
    info: str
    expires_at: float


class Membership(NamedTuple):
    """What a heartbeat sees, read in the transaction that renewed the member's leases:
    the log's time, the members whose heartbeat has not lapsed, and every shard's lease."""

    now: float
    members: tuple[Member, ...]
    leases: tuple[Lease, ...]


class Claim(NamedTuple):
    """A lease just claimed, and the log's head when it was: every event at or before
    ``head`` was committed before the claim, every later one after it."""

    lease: Lease
    head: int


class Head(NamedTuple):
    """How far the log has come: its last position, and how many deletions it has seen
    (``delete_streams`` changes no position, so it is counted apart)."""

    position: int
    deletions: int


class Append(msgspec.Struct, gc=False, eq=False):
    """One atomic append to one stream, queued to the writer.

    The writer fills in ``positions`` (or ``error``) after COMMIT, then hands the
    append to ``sink`` together with every other append of the same batch that
    names the same sink, in one call.

    ``extra`` holds SQL statements run in the same transaction, after the append's
    events, and only if the events were stored (a read model kept in step with the
    log), in the log's ``dialect`` (SQLite's ``?`` marks, psycopg's ``%s`` on
    PostgreSQL). A batch runs them grouped by SQL text, in the order each text first
    appears, each group with one ``executemany``: statements of different texts must
    not depend on their order. A statement that fails fails its own append only. A
    first parameter ``FIRST_POSITION`` is replaced by the first event's position.

    On SQLite, a group whose SQL takes its parameters as one VALUES row (``INSERT
    INTO t (a, b) VALUES (?, ?)``, or a statement that starts ``WITH v(a, b) AS
    (VALUES (?, ?))``) runs as statements of up to 128 rows each: write such SQL so
    that running it once for many rows does what running it once per row would.

    ``fence`` is ``(shard, epoch)``: the append is stored only if that shard's lease is
    still at that epoch when its batch commits; otherwise it fails alone with
    ``Fenced``. An append made for the holder of a lease carries it.

    Untracked by the garbage collector: one is built for every write, and lives
    until its commit; nothing in the log or the writer refers back to it.
    """

    stream_id: str
    expected_version: int
    events: Sequence[NewEvent]
    sink: Callable[[list[Append]], None]
    token: object = None
    positions: Sequence[int] = ()
    error: Exception | None = None
    extra: Sequence[Statement] = ()
    fence: tuple[int, int] | None = None
