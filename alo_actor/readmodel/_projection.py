"""The ``alos`` read model: one row per ALO, committed with the events it reflects.

The supervisor's behaviour hands the host ``project(entity, events, after)``; the host
passes what it returns to the log as the append's extra statements, so a row never
shows what the log has not committed, and never lags what it has.

A row is keyed by ``seq``, the log position of the ALO's ``Started`` event: assigned
once, in commit order, never reused (the log's AUTOINCREMENT), so it orders listings
and keys their cursors. The client's id is a plain column: a B-tree index on random
ids costs about 4 KB of writes per row, and the log's own ``(stream_id, version)``
index already finds an ALO's ``seq`` by id when a row must be updated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

import msgspec

from actors import Entity
from alo_actor._events import (
    AloEvent,
    AttemptFailed,
    Delivered,
    DeliveriesDue,
    DeliveriesFinished,
    DeliveryAbandoned,
)
from alo_actor._machine import AloState
from alo_actor._model import AloInfo, Failure, Status
from alo_actor.readmodel._dialect import (
    POSTGRES,
    SQLITE,
    SQLITE_UPDATE_FROM,
    Dialect,
    Source,
    dialect_of,
)
from eventlog import FIRST_POSITION, Backend, Statement

# The row's columns after ``seq``, in ``row_of`` order.
COLUMNS = (
    "id",
    "operation",
    "status",
    "attempt",
    "created_at",
    "settled_at",
    "deadline",
    "metadata",
    "result_urls",
    "result_metadata",
    "failure",
)
SELECT_COLUMNS = "seq, " + ", ".join(COLUMNS)


# Live, the seq is the log's FIRST_POSITION: the writer puts in the position it gave
# the Started event of the same append.
def _insert_row(dialect: Dialect) -> str:
    return (
        f"INSERT INTO alos (seq, {', '.join(COLUMNS)}) VALUES ({dialect.marks(len(COLUMNS) + 1)})"
    )


def _insert_pair(dialect: Dialect) -> str:
    return f"INSERT INTO alo_metadata (seq, key, value) VALUES ({dialect.marks(3)})"


# Only what can change after creation. The row is found by the ALO's id through the
# log's own stream index, so no index on random ids is needed here. As one VALUES
# row, which the log runs for a whole batch in one statement (see eventlog.Append).
_UPDATE_FROM = (
    "WITH v(id, status, attempt, settled_at, result_metadata, failure) AS "
    "(VALUES ({values})) "
    "UPDATE alos SET status = v.status, attempt = v.attempt, settled_at = v.settled_at, "
    "result_metadata = v.result_metadata, failure = v.failure FROM v "
    "WHERE alos.seq = (SELECT position FROM events WHERE stream_id = v.id AND version = 1)"
)
_UPDATE_SQLITE_OLD = (
    "UPDATE alos SET status = ?2, attempt = ?3, settled_at = ?4, result_metadata = ?5, "
    "failure = ?6 WHERE seq = (SELECT position FROM events WHERE stream_id = ?1 AND version = 1)"
)


def _update(dialect: Dialect) -> str:
    if dialect is POSTGRES:
        # Typed: a VALUES row's NULL would otherwise be text, and so would its column.
        return _UPDATE_FROM.format(
            values="%s::text, %s::text, %s::bigint, %s::double precision, %s::text, %s::bytea"
        )
    return _UPDATE_FROM.format(values=SQLITE.marks(6)) if SQLITE_UPDATE_FROM else _UPDATE_SQLITE_OLD


class Statements(NamedTuple):
    """The projection's statements in one dialect."""

    insert_row: str
    insert_pair: str
    update: str


STATEMENTS = {
    dialect.name: Statements(_insert_row(dialect), _insert_pair(dialect), _update(dialect))
    for dialect in (SQLITE, POSTGRES)
}
# The SQLite log's, as most callers know their log to be.
INSERT_ROW, INSERT_PAIR = STATEMENTS["sqlite"].insert_row, STATEMENTS["sqlite"].insert_pair

# Events that change no column of the row: an append of only these writes nothing.
_SILENT: frozenset[type[AloEvent]] = frozenset(
    {AttemptFailed, DeliveriesDue, Delivered, DeliveryAbandoned, DeliveriesFinished}
)

_json = msgspec.json.Encoder()
_msgpack = msgspec.msgpack.Encoder()
_metadata_of = msgspec.json.Decoder(dict[str, str]).decode
_urls_of = msgspec.json.Decoder(list[str]).decode
# msgpack, not JSON: a failure's details may hold bytes, which JSON would not give back.
_failure_of = msgspec.msgpack.Decoder(Failure).decode
_STATUS = {status.value: status for status in Status}

Row = tuple[Any, ...]


def _text(value: Any) -> str:
    # Most ALOs have no labels, URLs or result metadata: spare those the encoder.
    return _json.encode(value).decode() if value else ("{}" if isinstance(value, dict) else "[]")


def row_of(state: AloState) -> Row:
    """The row of an ALO (without ``seq``), in ``COLUMNS`` order.

    The live projection, the rebuild and the benchmarks all build rows here, so a
    rebuilt table equals the live one row for row.
    """
    return (
        state.id,
        state.operation,
        state.status._value_,  # the member's own attribute: ``.value`` is a property
        state.attempt,
        state.created_at,
        state.settled_at,
        state.deadline,
        _text(state.metadata),
        _text(state.result_urls),
        None if state.result_metadata is None else _text(state.result_metadata),
        None if state.failure is None else _msgpack.encode(state.failure),
    )


def pairs_of(state: AloState, seq: Any) -> list[tuple[Any, str, str]]:
    """The ALO's rows in the metadata index (``INSERT_PAIR`` order)."""
    return [(seq, key, value) for key, value in state.metadata.items()]


class Project(Protocol):
    """A behaviour's ``project`` hook (see ``project``)."""

    def __call__(
        self, entity: Entity[AloState], events: Sequence[AloEvent], after: AloState
    ) -> Sequence[Statement]: ...


def projector(source: Source | Backend) -> Project:
    """``project`` in the dialect of ``source`` (a log, a reader, or a dialect's name):
    what a host passes as its behaviour's ``project``."""
    sql = STATEMENTS[dialect_of(source).name]

    def project(
        entity: Entity[AloState], events: Sequence[AloEvent], after: AloState
    ) -> Sequence[Statement]:
        return _project(sql, entity, events, after)

    return project


def project(
    entity: Entity[AloState], events: Sequence[AloEvent], after: AloState
) -> Sequence[Statement]:
    """The statements that bring the ALO's row up to date with ``events``, for a SQLite
    log (``projector`` gives it for any log).

    Called by the host before it submits them, with the entity as it was before and
    ``after``, the state the events lead to. A new ALO gets its row as it stands
    after all of them (a start already timed out is inserted TIMED_OUT): one
    statement per row, so a batch may reorder statements of different texts freely.
    """
    return _project(STATEMENTS["sqlite"], entity, events, after)


def _project(
    sql: Statements, entity: Entity[AloState], events: Sequence[AloEvent], after: AloState
) -> Sequence[Statement]:
    state = after
    if entity.state is None:
        row = (FIRST_POSITION, *row_of(state))
        if not state.metadata:
            return ((sql.insert_row, row),)
        return (
            (sql.insert_row, row),
            *((sql.insert_pair, pair) for pair in pairs_of(state, FIRST_POSITION)),
        )
    for event in events:
        if type(event) not in _SILENT:
            break
    else:
        return ()
    return (
        (
            sql.update,
            (
                state.id,
                state.status._value_,  # (see row_of)
                state.attempt,
                state.settled_at,
                None if state.result_metadata is None else _text(state.result_metadata),
                None if state.failure is None else _msgpack.encode(state.failure),
            ),
        ),
    )


def info_of_row(row: Row) -> AloInfo:
    """An AloInfo from a row selected as ``SELECT_COLUMNS``."""
    (
        _seq,
        alo_id,
        operation,
        status,
        attempt,
        created_at,
        settled_at,
        deadline,
        metadata,
        result_urls,
        result_metadata,
        failure,
    ) = row
    return AloInfo(
        id=alo_id,
        operation=operation,
        status=_STATUS[status],
        metadata=_metadata_of(metadata),
        result_urls=_urls_of(result_urls),
        attempt=attempt,
        created_at=created_at,
        settled_at=settled_at,
        deadline=deadline,
        failure=None if failure is None else _failure_of(failure),
        result_metadata=None if result_metadata is None else _metadata_of(result_metadata),
    )
