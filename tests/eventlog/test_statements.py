"""Extra statements committed with appends, and deleting streams, on the SQLite log."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventlog import FIRST_POSITION, Append, ConcurrencyError, EventLog, LogClosed
from tests.eventlog.contract import WAIT, Recorder, ev, writer_held

TABLE = "CREATE TABLE IF NOT EXISTS heads (stream_id TEXT PRIMARY KEY, first INTEGER)"
# The row refers to the events of its own append: they are inserted before it.
INSERT = (
    "INSERT INTO heads (stream_id, first) "
    "VALUES (?1, (SELECT position FROM events WHERE stream_id = ?1 AND version = 1))"
)


@pytest.fixture
def log(tmp_path: Path) -> Iterator[EventLog]:
    path = str(tmp_path / "log.db")
    opened = EventLog.open(path)
    conn = sqlite3.connect(path)
    conn.execute(TABLE)
    conn.commit()
    conn.close()
    try:
        yield opened
    finally:
        opened.close()


def heads(log: EventLog) -> dict[str, int]:
    return {row[0]: row[1] for row in log.query("SELECT stream_id, first FROM heads", ())}


def test_extra_statements_commit_with_the_events(log: EventLog) -> None:
    positions = log.append("a", 0, [ev("A")], extra=[(INSERT, ("a",))])
    assert heads(log) == {"a": positions[0]}


def test_a_batch_runs_every_appends_statements(log: EventLog) -> None:
    recorder = Recorder()
    with writer_held(log):  # so that the three form one batch
        for name in ("a", "b", "c"):
            log.submit(Append(name, 0, [ev("X")], recorder.sink, extra=[(INSERT, (name,))]))
    acknowledged = recorder.wait_for(3)
    assert all(a.error is None for a in acknowledged)
    assert heads(log) == {a.stream_id: a.positions[0] for a in acknowledged}


def test_a_conflicting_append_loses_its_statements_only(log: EventLog) -> None:
    log.append("taken", 0, [ev("T")])
    recorder = Recorder()
    with writer_held(log):
        for name in ("a", "taken", "b"):
            log.submit(Append(name, 0, [ev("X")], recorder.sink, extra=[(INSERT, (name,))]))
    by_stream = {a.stream_id: a for a in recorder.wait_for(3)}
    assert isinstance(by_stream["taken"].error, ConcurrencyError)
    assert by_stream["a"].error is None and by_stream["b"].error is None
    assert set(heads(log)) == {"a", "b"}


def test_a_failing_statement_fails_its_own_append_and_its_events(log: EventLog) -> None:
    log.append("a", 0, [ev("A")], extra=[(INSERT, ("a",))])
    recorder = Recorder()
    with writer_held(log):
        # The primary key of `heads` refuses a second "a" row: that append fails whole.
        log.submit(Append("dup", 0, [ev("X")], recorder.sink, extra=[(INSERT, ("a",))]))
        log.submit(Append("c", 0, [ev("X")], recorder.sink, extra=[(INSERT, ("c",))]))
    by_stream = {a.stream_id: a for a in recorder.wait_for(2)}
    assert isinstance(by_stream["dup"].error, sqlite3.IntegrityError)
    assert by_stream["c"].error is None
    assert log.read_stream("dup") == []
    assert set(heads(log)) == {"a", "c"}


@pytest.mark.parametrize("with_conflict", [False, True])
def test_first_position_stands_for_the_appends_first_position(
    log: EventLog, with_conflict: bool
) -> None:
    """In a batch, and in the append-by-append retry of a batch with a conflict."""
    log.append("taken", 0, [ev("T")])
    positioned = "INSERT INTO heads (first, stream_id) VALUES (?, ?)"
    recorder = Recorder()
    names = ["a", "taken", "b"] if with_conflict else ["a", "b"]
    with writer_held(log):
        for name in names:
            log.submit(
                Append(
                    name,
                    0,
                    [ev("1"), ev("2")],
                    recorder.sink,
                    extra=[(positioned, (FIRST_POSITION, name))],
                )
            )
    by_stream = {a.stream_id: a for a in recorder.wait_for(len(names))}
    assert heads(log) == {"a": by_stream["a"].positions[0], "b": by_stream["b"].positions[0]}
    assert by_stream["b"].positions[0] == by_stream["a"].positions[0] + 2
    if with_conflict:
        assert isinstance(by_stream["taken"].error, ConcurrencyError)
        assert list(by_stream["taken"].positions) == []


def test_malformed_statements_are_refused_on_the_callers_thread(log: EventLog) -> None:
    with pytest.raises(TypeError, match="extra"):
        log.append("a", 0, [ev("A")], extra=[("SELECT 1",)])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="extra"):
        log.append("a", 0, [ev("A")], extra=[(INSERT, ["a"])])  # type: ignore[list-item]
    assert log.read_stream("a") == []


def test_delete_streams_deletes_events_and_runs_statements_first(log: EventLog) -> None:
    for name in ("a", "b", "c"):
        log.append(name, 0, [ev("1"), ev("2")], extra=[(INSERT, (name,))])
    last = log.last_position()
    # The statement still sees the events it refers to.
    gone = log.delete_streams(
        ["a", "b", "missing"],
        extra=[
            (
                "DELETE FROM heads WHERE first = "
                "(SELECT position FROM events WHERE stream_id = ? AND version = 1)",
                (name,),
            )
            for name in ("a", "b")
        ],
    )
    assert gone == 2
    assert log.read_stream("a") == [] and log.stream_version("b") == 0
    assert [e.stream_id for e in log.read_all()] == ["c", "c"]
    assert set(heads(log)) == {"c"}
    # A deleted stream starts again from version 1, at a position never used before.
    (position,) = log.append("a", 0, [ev("again")])
    assert position > last


def test_delete_streams_rolls_back_whole_on_a_failing_statement(log: EventLog) -> None:
    log.append("a", 0, [ev("1")])
    with pytest.raises(sqlite3.OperationalError):
        log.delete_streams(["a"], extra=[("DELETE FROM nowhere", ())])
    assert len(log.read_stream("a")) == 1


def test_delete_streams_is_ordered_with_appends(log: EventLog) -> None:
    """Appends submitted before a deletion commit before it, those after, after it."""
    stop = threading.Event()
    versions = {"s": 0}

    def appender() -> None:
        while not stop.is_set():
            versions["s"] += 1
            log.append("s", versions["s"] - 1, [ev("E")])

    thread = threading.Thread(target=appender)
    thread.start()
    try:
        for _ in range(20):
            log.append("x", log.stream_version("x"), [ev("X")])
            log.delete_streams(["x"])
            assert log.read_stream("x") == []
    finally:
        stop.set()
        thread.join(WAIT)
    assert [e.version for e in log.read_stream("s")] == list(range(1, versions["s"] + 1))


def test_delete_streams_after_close_raises(tmp_path: Path) -> None:
    log = EventLog.open(str(tmp_path / "log.db"))
    log.close()
    with pytest.raises(LogClosed):
        log.delete_streams(["a"])


def test_query_reads_committed_rows_and_never_writes(log: EventLog) -> None:
    log.append("a", 0, [ev("A")])
    assert log.query("SELECT stream_id FROM events", ()) == [("a",)]
    with pytest.raises(sqlite3.OperationalError, match=r"readonly|read-only|query_only"):
        log.query("DELETE FROM events", ())
    assert len(log.read_stream("a")) == 1
