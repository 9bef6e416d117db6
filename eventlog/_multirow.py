"""Many rows per SQL statement: how the writer spends its batch in a few SQLite calls.

Python's ``sqlite3`` releases the GIL around every row of an ``executemany`` and must
win it back before the next row. While the engine's other threads run Python, each of
those hand-backs waits for them, and a commit of 400 appends (about 900 rows with
the read model's) measured three times its CPU time in wall time, the rest spent
waiting for the GIL. A statement that carries 128 rows needs one hand-back for them
all, and costs half the CPU besides (one bind-step-reset cycle in C, not 128 round
trips through Python).
"""

from __future__ import annotations

import functools
import re
import sqlite3
from collections.abc import Sequence
from itertools import chain
from typing import Any

from eventlog._types import Groups, Statement

# Parameters per statement: under SQLITE_MAX_VARIABLE_NUMBER's old default of 999,
# so that the log works on any SQLite a Python 3.11 may be built with.
_MAX_PARAMETERS = 999
_MAX_ROWS = 128

# A row is inserted only if it continues its stream without a gap: version 1, the
# version before it already stored, or the version before it in the same statement
# (an append of several events). With UNIQUE(stream_id, version) this is the
# optimistic-concurrency check, and it holds across processes sharing the file: a
# statement that inserts fewer rows than it carries means a conflict, and the writer
# retries its batch append by append to find it. ``ord`` keeps the rows' order, so
# positions follow the batch.
_INSERT_EVENTS = """
WITH v(stream_id, version, type, data, recorded_at, ord) AS (VALUES {values})
INSERT INTO events (stream_id, version, type, data, recorded_at)
SELECT stream_id, version, type, data, recorded_at FROM v
WHERE version = 1
   OR EXISTS (SELECT 1 FROM events e WHERE e.stream_id = v.stream_id AND e.version = v.version - 1)
   OR EXISTS (SELECT 1 FROM v w WHERE w.stream_id = v.stream_id AND w.version = v.version - 1)
ORDER BY ord
"""

# Each row's parameters: stream_id, version, type, data, recorded_at, and a number
# that orders the rows.
EVENT_COLUMNS = 6

# Statements that take one row of parameters as a VALUES row, so that several
# executions can be one statement with several VALUES rows (see ``Append``):
# ``INSERT INTO table (columns) VALUES (?, …)``, and anything that starts
# ``WITH name(columns) AS (VALUES (?, …))`` (an UPDATE … FROM name, say).
_ROW = r"(\(\s*\?(?:\s*,\s*\?)*\s*\))"
_SIMPLE_INSERT = re.compile(
    r"\s*INSERT\s+INTO\s+[\w.\"]+\s*\([^()]*\)\s*VALUES\s*" + _ROW + r"\s*;?\s*",
    re.IGNORECASE,
)
_WITH_VALUES = re.compile(
    r"\s*WITH\s+\w+\s*\([^()]*\)\s*AS\s*\(\s*VALUES\s*" + _ROW + r"\s*\)", re.IGNORECASE
)


@functools.lru_cache(maxsize=256)
def _events_sql(rows: int) -> str:
    return _INSERT_EVENTS.format(values=", ".join(["(?, ?, ?, ?, ?, ?)"] * rows))


def insert_events(conn: sqlite3.Connection, flat: list[Any]) -> int:
    """Insert the rows whose parameters ``flat`` holds one after another (``EVENT_COLUMNS``
    each: no tuple per row), in the order of their last field, as far as each continues
    its stream; return how many."""
    before = conn.total_changes
    per = _MAX_ROWS * EVENT_COLUMNS
    for start in range(0, len(flat), per):
        chunk = flat[start : start + per]
        conn.execute(_events_sql(len(chunk) // EVENT_COLUMNS), chunk)
    # Not the cursor's rowcount: sqlite3 reports -1 for a statement that starts WITH.
    return conn.total_changes - before


@functools.lru_cache(maxsize=256)
def _multi_row(sql: str, rows: int) -> str | None:
    """``sql`` with its VALUES row repeated ``rows`` times, or None if it has none."""
    match = _SIMPLE_INSERT.fullmatch(sql)
    if match is not None:
        return sql[: match.start(1)] + ", ".join([match.group(1)] * rows)
    match = _WITH_VALUES.match(sql)
    if match is not None:
        return sql[: match.start(1)] + ", ".join([match.group(1)] * rows) + sql[match.end(1) :]
    return None


def grouped(statements: Sequence[Statement]) -> Groups:
    """Each SQL text's parameter rows, in order; the texts in order of first appearance."""
    groups: Groups = {}
    for sql, params in statements:
        group = groups.get(sql)
        if group is None:
            groups[sql] = [params]
        else:
            group.append(params)
    return groups


def execute_grouped(conn: sqlite3.Connection, statements: Sequence[Statement]) -> None:
    """Run statements grouped by SQL text (first appearance first), in order within a
    group: those with a VALUES row as multi-row statements, others with executemany."""
    execute_groups(conn, grouped(statements))


def execute_groups(conn: sqlite3.Connection, groups: Groups) -> None:
    """``execute_grouped`` of statements already grouped (see ``grouped``)."""
    for sql, rows in groups.items():
        width = len(rows[0])
        if len(rows) == 1 or width == 0 or _multi_row(sql, 1) is None:
            conn.executemany(sql, rows)
            continue
        per = max(1, min(_MAX_ROWS, _MAX_PARAMETERS // width))
        for start in range(0, len(rows), per):
            chunk = rows[start : start + per]
            if len(set(map(len, chunk))) != 1:
                conn.executemany(sql, chunk)  # rows of other widths: SQLite refuses them
                continue
            multi = _multi_row(sql, len(chunk))
            assert multi is not None
            conn.execute(multi, list(chain.from_iterable(chunk)))
