"""Many rows per statement: the same rows, order and checks as one statement per row."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from eventlog import EventLog, Statement
from eventlog._multirow import _multi_row, execute_grouped, insert_events


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    path = str(tmp_path / "log.db")
    EventLog.open(path).close()  # the log's schema
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("CREATE TABLE t (a INTEGER, b TEXT NOT NULL)")
    yield connection
    connection.close()


_order = itertools.count()


def row(stream: str, version: int, kind: str = "E") -> tuple[str, int, str, bytes, float, int]:
    return (stream, version, kind, b"data", 1.0, next(_order))


def insert(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> int:
    """``insert_events`` of these rows, their parameters one after another."""
    return insert_events(conn, [value for one in rows for value in one])


def stored(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT position, stream_id, version, type FROM events").fetchall()


def test_rows_go_in_in_order_across_statements(conn: sqlite3.Connection) -> None:
    rows = [row(f"s{i:03d}", 1) for i in range(300)]  # three statements: 128, 128, 44
    assert insert(conn, rows) == 300
    assert [(p, s) for p, s, _, _ in stored(conn)] == [(i + 1, f"s{i:03d}") for i in range(300)]


def test_a_stream_may_continue_within_one_statement(conn: sqlite3.Connection) -> None:
    assert insert(conn, [row("a", 1), row("b", 1), row("a", 2), row("a", 3)]) == 4
    assert insert(conn, [row("a", 4), row("b", 2)]) == 2
    assert [(s, v) for _, s, v, _ in stored(conn)] == [
        ("a", 1),
        ("b", 1),
        ("a", 2),
        ("a", 3),
        ("a", 4),
        ("b", 2),
    ]


def test_a_gap_is_not_inserted_and_shows_in_the_count(conn: sqlite3.Connection) -> None:
    insert(conn, [row("a", 1)])
    # b starts at 2 (nothing before it); a skips 2.
    assert insert(conn, [row("b", 2), row("a", 3), row("c", 1)]) == 1
    assert [(s, v) for _, s, v, _ in stored(conn)] == [("a", 1), ("c", 1)]


def test_a_version_taken_raises_the_unique_constraint(conn: sqlite3.Connection) -> None:
    insert(conn, [row("a", 1)])
    with pytest.raises(sqlite3.IntegrityError):
        insert(conn, [row("a", 1, "Twin")])


def test_plain_inserts_and_with_values_statements_run_as_many_rows() -> None:
    assert _multi_row("INSERT INTO t (a, b) VALUES (?, ?)", 2) == (
        "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)"
    )
    assert _multi_row("WITH v(x) AS (VALUES (?)) UPDATE t SET a = v.x FROM v", 3) == (
        "WITH v(x) AS (VALUES (?), (?), (?)) UPDATE t SET a = v.x FROM v"
    )
    # Anything else runs once per row.
    assert _multi_row("UPDATE t SET a = ? WHERE b = ?", 2) is None
    assert _multi_row("INSERT INTO t (a, b) SELECT ?, ? WHERE 1", 2) is None
    assert _multi_row("INSERT INTO t (a, b) VALUES (?, 'x')", 2) is None


def test_grouped_statements_do_what_one_per_row_would(conn: sqlite3.Connection) -> None:
    insert = "INSERT INTO t (a, b) VALUES (?, ?)"
    update = "WITH v(a, b) AS (VALUES (?, ?)) UPDATE t SET b = v.b FROM v WHERE t.a = v.a"
    delete = "DELETE FROM t WHERE a = ?"
    statements: list[Statement] = [(insert, (i, f"x{i}")) for i in range(300)]
    statements += [(update, (i, f"y{i}")) for i in range(0, 300, 2)]
    statements += [(delete, (i,)) for i in range(0, 300, 3)]
    execute_grouped(conn, statements)
    expected = [(i, f"y{i}" if i % 2 == 0 else f"x{i}") for i in range(300) if i % 3 != 0]
    assert conn.execute("SELECT a, b FROM t ORDER BY rowid").fetchall() == expected


def test_a_failing_row_fails_its_statement(conn: sqlite3.Connection) -> None:
    insert = "INSERT INTO t (a, b) VALUES (?, ?)"
    with pytest.raises(sqlite3.IntegrityError):
        execute_grouped(conn, [(insert, (1, "x")), (insert, (2, None))])
    with pytest.raises(sqlite3.ProgrammingError):  # a row of the wrong width
        execute_grouped(conn, [(insert, (1, "x")), (insert, (2,))])
