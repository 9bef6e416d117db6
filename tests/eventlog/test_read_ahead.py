"""``LogReader.read_columns`` reading ahead in a helper process: the same rows, or a clear error."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import eventlog._sqlite_reader
from eventlog import CorruptLog, EventLog, LogReader
from tests.eventlog.support import damage_a_middle_page, read_ahead_helpers

WAIT = 10.0
COLUMNS = ("stream_id", "version", "type", "data", "recorded_at")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(path: Path, streams: int, events_each: int) -> None:
    """A log of ``streams`` interleaved streams, written as the writer writes rows."""
    EventLog.open(str(path)).close()
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO events (stream_id, version, type, data, recorded_at) "
            "VALUES (?, ?, 'Tick', ?, ?)",
            (
                (f"s-{n}", version, b"\x92\x01" + bytes([n % 256]), 1e9 + version)
                for version in range(1, events_each + 1)
                for n in range(streams)
            ),
        )
    conn.close()


def rows(path: Path, ahead: bool, chunk: int = 10_000, **kwargs: Any) -> list[tuple[Any, ...]]:
    with LogReader.open(path) as reader:
        return [
            row
            for rows in reader.read_columns(COLUMNS, chunk=chunk, ahead=ahead, **kwargs)
            for row in rows
        ]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    path = tmp_path / "log.db"
    build(path, streams=50, events_each=20)
    return path


def test_the_rows_read_ahead_are_the_rows_read_here(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        # Gaps in the positions, and values the engine never writes but a file may
        # hold: text where a blob belongs, a name outside ASCII, an odd number.
        conn.execute("DELETE FROM events WHERE stream_id IN ('s-3', 's-17')")
        conn.execute("DELETE FROM events WHERE position BETWEEN 300 AND 520")
        conn.execute("UPDATE events SET data = 'text, not bytes' WHERE position = 7")
        conn.execute("UPDATE events SET stream_id = 'ünïcode-☃' WHERE position = 8")
        conn.execute("UPDATE events SET recorded_at = -1e308 WHERE position = 9")
    conn.close()
    before = digest(path)
    here = rows(path, ahead=False)
    with sqlite3.connect(path) as conn:
        assert [row[0] for row in here] == [
            p for (p,) in conn.execute("SELECT position FROM events ORDER BY position")
        ]
    conn.close()
    assert 700 < len(here) < 800
    for chunk in (1, 7, 1000, 10_000):
        assert rows(path, ahead=True, chunk=chunk) == here
    for after, until in ((0, 5), (100, 299), (299, 521), (640, 1000), (999, 1000)):
        expected = [row for row in here if after < row[0] <= until]
        got = rows(path, ahead=True, chunk=64, from_position=after, until_position=until)
        assert got == expected
    at = {row[0]: row for row in here}
    assert (at[7][4], at[8][1], at[9][5]) == ("text, not bytes", "ünïcode-☃", -1e308)
    assert digest(path) == before, "reading ahead wrote to the log"


def test_an_empty_log_reads_ahead_to_nothing(tmp_path: Path) -> None:
    EventLog.open(str(tmp_path / "empty.db")).close()
    assert rows(tmp_path / "empty.db", ahead=True) == []


def test_long_scans_read_ahead_by_default(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with LogReader.open(path) as reader:
        short = reader.read_columns(("stream_id",), chunk=10)
        next(short)
        assert read_ahead_helpers() == set(), "a short scan started a helper"
        short.close()
        monkeypatch.setattr(eventlog._sqlite_reader, "AHEAD_MIN_ROWS", 500)
        long = reader.read_columns(("stream_id",), chunk=10)
        next(long)
        assert len(read_ahead_helpers()) == 1
        long.close()
        assert read_ahead_helpers() == set()
        tail = reader.read_columns(("stream_id",), from_position=600, chunk=10)
        next(tail)
        assert read_ahead_helpers() == set(), "the last 400 positions are a short scan"
        tail.close()


def test_a_reader_that_stops_early_stops_the_helper(path: Path) -> None:
    with LogReader.open(path) as reader:
        chunks = reader.read_columns(COLUMNS, chunk=10, ahead=True)
        first = list(next(chunks))
        assert [row[0] for row in first] == list(range(1, 11))
        [helper] = read_ahead_helpers()
        chunks.close()
        assert helper not in read_ahead_helpers()


def test_a_damaged_file_is_a_corrupt_log_either_way(tmp_path: Path) -> None:
    path = tmp_path / "big.db"
    build(path, streams=400, events_each=40)
    damage_a_middle_page(path)
    errors = []
    for ahead in (False, True):
        with pytest.raises(CorruptLog) as caught:
            rows(path, ahead=ahead)
        errors.append(str(caught.value))
    assert "malformed" in errors[0]
    assert errors[0] == errors[1]
    assert read_ahead_helpers() == set()


def test_a_helper_killed_midway_loses_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "big.db"
    build(path, streams=200, events_each=50)
    here = rows(path, ahead=False)
    got: list[tuple[Any, ...]] = []
    with LogReader.open(path) as reader:
        for chunk in reader.read_columns(COLUMNS, chunk=10, ahead=True):
            got.extend(chunk)
            if len(got) == 10:
                [helper] = read_ahead_helpers()
                os.kill(helper, signal.SIGKILL)
                deadline = time.monotonic() + WAIT
                while helper_alive(helper) and time.monotonic() < deadline:
                    time.sleep(0.01)
    # What was in the pipe still arrives; the rest is read in this process.
    assert got == here
    assert "stopped (exit status -9); reading on here" in caplog.text
    assert read_ahead_helpers() == set()


def test_a_helper_that_is_not_one_loses_nothing(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    here = rows(path, ahead=False)
    # An interpreter that runs and exits cleanly, but sends no rows.
    monkeypatch.setattr(sys, "executable", shutil.which("true"))
    assert rows(path, ahead=True) == here
    assert "read-ahead helper" in caplog.text


def helper_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def chunked(chunks: Iterator[Iterator[tuple[Any, ...]]]) -> list[list[tuple[Any, ...]]]:
    return [list(chunk) for chunk in chunks]


def test_chunks_read_ahead_are_capped_in_rows(path: Path) -> None:
    with LogReader.open(path) as reader:
        here = chunked(reader.read_columns(("version",), chunk=300, ahead=False))
        ahead = chunked(reader.read_columns(("version",), chunk=300, ahead=True))
    assert [len(c) for c in here] == [300, 300, 300, 100]
    assert [row for c in ahead for row in c] == [row for c in here for row in c]
    assert max(map(len, ahead)) == 300


def test_chunks_read_ahead_are_capped_in_bytes(tmp_path: Path) -> None:
    path = tmp_path / "big-events.db"
    EventLog.open(str(path)).close()
    event = 300_000  # bytes: events may hold megabytes
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO events (stream_id, version, type, data, recorded_at) "
            "VALUES (?, 1, 'Big', ?, 0)",
            ((f"s-{n}", bytes([n]) * event) for n in range(120)),
        )
    conn.close()
    with LogReader.open(path) as reader:
        ahead = chunked(reader.read_columns(("data",), ahead=True))
    assert [row[1][0] for c in ahead for row in c] == list(range(120))
    assert all(len(row[1]) == event for c in ahead for row in c)
    # About a MiB a chunk, give or take a row, once the first has shown the size.
    assert max(sum(len(row[1]) for row in c) for c in ahead[1:]) <= (1 << 20) + event


def test_without_an_interpreter_to_start_it_reads_here(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = rows(path, ahead=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    assert rows(path, ahead=True) == here
    assert read_ahead_helpers() == set()
