"""The event log contract on a real SQLite file, plus what only the SQLite backend promises."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from eventlog import SCHEMA_VERSION, EventLog, SchemaError, inspect_schema
from eventlog._sqlite import SqliteEventLog
from tests.eventlog.contract import WAIT, EventLogContract, ev

REPO = Path(__file__).resolve().parents[2]


class TestSqliteEventLog(EventLogContract):
    scratch: Path

    @pytest.fixture(autouse=True)
    def _scratch(self, tmp_path: Path) -> None:
        self.scratch = tmp_path

    def open_log(self, name: str, **options: Any) -> EventLog:
        return EventLog.open(str(self.scratch / f"{name}.db"), **options)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "log.db"


def files_in(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def assert_read_only(path: Path, before: bytes) -> None:
    """The file is unchanged and nothing was written to a WAL for it.

    To read a WAL database, even read-only, SQLite creates the ``-shm`` index and an
    empty ``-wal`` beside it when no one has the file open; no data goes into them.
    """
    assert path.read_bytes() == before
    wal = path.with_name(path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0


# -- the file -------------------------------------------------------------------


def test_reopening_a_file_keeps_everything(path: Path) -> None:
    with EventLog.open(str(path)) as log:
        log.append("a", 0, [ev("A1", b"\x00one"), ev("A2", b"two")])
        log.append("b", 0, [ev("B1", b"three")])
        before = list(log.read_all())
    with EventLog.open(str(path)) as log:
        assert list(log.read_all()) == before
        assert log.stream_version("a") == 2
        assert log.append("a", 2, [ev("A3")]) == [4]
    with EventLog.open(str(path)) as log:
        assert [e.type for e in log.read_stream("a")] == ["A1", "A2", "A3"]
        assert log.last_position() == 4


def test_a_new_log_is_a_wal_file_with_the_current_schema(path: Path) -> None:
    EventLog.open(str(path)).close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert inspect_schema(str(path)) == SCHEMA_VERSION


def test_an_empty_file_becomes_a_log(path: Path) -> None:
    path.touch()
    with EventLog.open(str(path)) as log:
        assert log.append("a", 0, [ev("A")]) == [1]
    assert inspect_schema(str(path)) == SCHEMA_VERSION


def test_memory_is_a_temporary_file_removed_on_close() -> None:
    log = EventLog.open(":memory:")
    assert isinstance(log, SqliteEventLog)
    directory = Path(log.path).parent
    log.append("a", 0, [ev("A")])
    assert [e.type for e in log.read_all()] == ["A"]
    assert directory.exists()
    log.close()
    assert not directory.exists()


# -- schema checks: refused, and the file left exactly as it was ----------------


def _random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(8192))


def _foreign_sqlite(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO customers (name) VALUES ('ada')")
    conn.close()


def _foreign_wal_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    conn.execute("CREATE TABLE events (x)")
    conn.execute("INSERT INTO meta VALUES ('format', 'someone-else')")
    conn.commit()
    conn.close()


def _newer_log(path: Path) -> None:
    with EventLog.open(str(path)) as log:
        log.append("a", 0, [ev("A")])
    conn = sqlite3.connect(path)
    conn.execute(
        "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),)
    )
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_random_bytes, "not an event log"),
        (_foreign_sqlite, "other SQLite tables"),
        (_foreign_wal_sqlite, "format"),
        (_newer_log, "newer"),
    ],
)
def test_a_file_that_is_not_a_log_for_us_is_refused_untouched(
    path: Path, make: Any, message: str
) -> None:
    make(path)
    before = files_in(path.parent)
    for _ in range(2):
        with pytest.raises(SchemaError, match=message):
            EventLog.open(str(path))
        with pytest.raises(SchemaError, match=message):
            EventLog.open(str(path), durability="full")
    assert files_in(path.parent) == before


def test_inspect_schema_reports_a_newer_version_it_cannot_open(path: Path) -> None:
    _newer_log(path)
    before = path.read_bytes()
    assert inspect_schema(str(path)) == SCHEMA_VERSION + 1
    assert_read_only(path, before)


@pytest.mark.parametrize("make", [_random_bytes, _foreign_sqlite, _foreign_wal_sqlite])
def test_inspect_schema_refuses_what_is_not_a_log(path: Path, make: Any) -> None:
    make(path)
    before = path.read_bytes()
    with pytest.raises(SchemaError):
        inspect_schema(str(path))
    assert_read_only(path, before)


def test_inspect_schema_refuses_a_missing_or_empty_file_without_creating_it(path: Path) -> None:
    with pytest.raises(SchemaError, match="no such file"):
        inspect_schema(str(path))
    assert not path.exists()
    path.touch()
    with pytest.raises(SchemaError, match="empty"):
        inspect_schema(str(path))
    assert path.read_bytes() == b""


def test_inspect_schema_never_writes_the_log(path: Path) -> None:
    with EventLog.open(str(path)) as log:
        log.append("a", 0, [ev("A")])
    before = path.read_bytes()
    assert inspect_schema(str(path)) == SCHEMA_VERSION
    assert_read_only(path, before)


def test_inspect_schema_reads_a_log_that_is_open_and_busy(path: Path) -> None:
    with EventLog.open(str(path)) as log:
        log.append("a", 0, [ev("A")])
        assert inspect_schema(str(path)) == SCHEMA_VERSION
        assert log.append("a", 1, [ev("B")]) == [2]


# -- several processes on one file ----------------------------------------------

_CHILD = """
import json, os, sys, time
from eventlog import Append, ConcurrencyError, EventLog, NewEvent

path, ready, go, mode, name, count = sys.argv[1:]
count = int(count)

def wait_for_go():
    open(ready, "w").close()
    deadline = time.monotonic() + 30
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            sys.exit("never told to go")
        time.sleep(0.001)

out = {}
if mode == "race":
    with EventLog.open(path) as log:
        wait_for_go()
        for i in range(count):
            try:
                log.append(f"contested-{i}", 0, [NewEvent("Claimed", name.encode())])
                out[f"contested-{i}"] = "won"
            except ConcurrencyError:
                out[f"contested-{i}"] = "lost"
else:
    wait_for_go()  # then both processes create the file at once
    import threading
    acked, done = [], threading.Event()
    def sink(appends):
        acked.extend(appends)
        if len(acked) == 2 * count:
            done.set()
    with EventLog.open(path, batch_size=8) as log:
        for i in range(count):
            sid = f"{name}-{i}"
            log.submit(Append(sid, 0, [NewEvent("E", b"1"), NewEvent("E", b"2")], sink))
            log.submit(Append(sid, 2, [NewEvent("E", b"3")], sink))
        if not done.wait(30):
            sys.exit("appends were not acknowledged")
    for a in acked:
        if a.error is not None:
            sys.exit(f"append failed: {a.error!r}")
        out.setdefault(a.stream_id, []).extend(a.positions)
print(json.dumps(out))
"""


def run_processes(tmp_path: Path, path: Path, mode: str, count: int) -> dict[str, Any]:
    """Start one child per name, let them all go at once, return each one's JSON output."""
    go = tmp_path / "go"
    children: dict[str, subprocess.Popen[str]] = {}
    try:
        for name in ("p1", "p2"):
            ready = tmp_path / f"ready-{name}"
            args = [str(path), str(ready), str(go), mode, name, str(count)]
            children[name] = subprocess.Popen(
                [sys.executable, "-c", _CHILD, *args],
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        deadline = time.monotonic() + WAIT * 3
        while not all((tmp_path / f"ready-{name}").exists() for name in children):
            assert time.monotonic() < deadline, "the child processes never got ready"
            assert all(child.poll() is None for child in children.values()), "a child died"
            time.sleep(0.005)
        go.touch()
        results: dict[str, Any] = {}
        for name, child in children.items():
            out, err = child.communicate(timeout=WAIT * 3)
            assert child.returncode == 0, err
            results[name] = json.loads(out)
        return results
    finally:
        for child in children.values():
            if child.poll() is None:
                child.kill()
                child.wait(WAIT)


def test_two_processes_claiming_the_same_streams_one_wins_each(tmp_path: Path, path: Path) -> None:
    EventLog.open(str(path)).close()
    count = 20
    results = run_processes(tmp_path, path, "race", count)
    with EventLog.open(str(path)) as log:
        for i in range(count):
            sid = f"contested-{i}"
            outcomes = {name: results[name][sid] for name in results}
            assert sorted(outcomes.values()) == ["lost", "won"], (sid, outcomes)
            winner = next(name for name, outcome in outcomes.items() if outcome == "won")
            assert [(e.version, e.data) for e in log.read_stream(sid)] == [(1, winner.encode())]
        assert log.last_position() == count


def test_two_processes_appending_to_one_file_all_land(tmp_path: Path, path: Path) -> None:
    count = 150
    results = run_processes(tmp_path, path, "bulk", count)
    with EventLog.open(str(path)) as log:
        stored = list(log.read_all())
    total = 2 * count * 3
    assert [e.position for e in stored] == list(range(1, total + 1))
    by_stream: dict[str, list[int]] = {}
    for event in stored:
        by_stream.setdefault(event.stream_id, []).append(event.position)
        assert event.data == b"%d" % event.version
    reported = {sid: positions for result in results.values() for sid, positions in result.items()}
    assert by_stream == reported


def _v1_log(path: Path) -> None:
    """A log as version 1 made it: events and meta, no shards or leases."""
    import sqlite_utils

    from eventlog._schema import MIGRATIONS

    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        MIGRATIONS[1](sqlite_utils.Database(conn))
        conn.execute(
            "INSERT INTO events (stream_id, version, type, data, recorded_at) "
            "VALUES ('old', 1, 'Started', x'00', 1.0), ('old', 2, 'Done', x'01', 2.0)"
        )
    conn.close()


def test_a_version_1_log_is_read_as_it_is_and_migrated_on_open(path: Path) -> None:
    from eventlog import LogReader

    _v1_log(path)
    assert inspect_schema(str(path)) == 1
    before = path.read_bytes()
    with LogReader.open(path) as reader:  # a reader never migrates, and needs not
        assert [row[1] for rows in reader.read_columns(("type",)) for row in rows] == [
            "Started",
            "Done",
        ]
    assert_read_only(path, before)
    with EventLog.open(str(path), shards=8) as log:
        assert inspect_schema(str(path)) == SCHEMA_VERSION
        assert log.shard_count == 8
        assert [e.type for e in log.read_stream("old")] == ["Started", "Done"]
        assert len(log.leases()) == 8
        assert log.head() == (2, 0)
        assert log.append("old", 2, [ev("More")]) == [3]
