"""``alo log …`` run as a user runs it: the real command in a subprocess, never writing the log."""

from __future__ import annotations

import json
import queue
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from alo_actor._events import Paused
from alo_actor._times import rfc3339
from benchmarks.bench_replay import build
from eventlog._sqlite_reader import AHEAD_MIN_ROWS
from tests.alo_actor.logtools_support import (
    T0,
    alo,
    digest,
    fold_prefix,
    plant,
    random_log,
    sound_log,
)
from tests.eventlog.support import damage_a_middle_page

WAIT = 10.0


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    b = sound_log(tmp_path / "log.db")
    b.close()
    before = digest(b.path)
    yield b.path
    assert digest(b.path) == before, "the log was written"


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def test_show_summarises_the_log(db: Path) -> None:
    text = alo("log", "show", str(db))
    assert text.returncode == 0, text.stderr
    assert "ALOs         9" in text.stdout
    assert "(external)" in text.stdout
    data = json.loads(alo("log", "show", str(db), "--json").stdout)
    assert (data["events"], data["alos"]) == (24, 9)
    assert data["by_status"]["completed"] == 3


def test_show_an_alo_names_each_event(db: Path) -> None:
    text = alo("log", "show", str(db), "retried")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert "completed" in lines[0]
    events = [line.split()[3] for line in lines[2:]]
    assert events == ["Started", "AttemptFailed", "AttemptStarted", "Completed"]
    data = json.loads(alo("log", "show", str(db), "retried", "--json").stdout)
    assert [e["type"] for e in data["events"]] == events
    assert data["events"][3]["data"] == {"result": "second time lucky", "result_metadata": {}}
    assert data["state"]["status"] == "completed"


def test_replay_at_a_position_and_a_time(db: Path) -> None:
    text = alo("log", "replay", str(db), "--at", "3")
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines()[-1] == "2 ALOs at position 3"
    at = "2023-11-14T22:13:27Z"  # T0 + 7
    states = json_lines(alo("log", "replay", str(db), "--at", at, "--json").stdout)
    expected = fold_prefix(db, at=T0 + 7)
    assert {s["id"]: s["status"] for s in states} == {
        k: v.status.value for k, v in expected.items()
    }
    one = json_lines(
        alo("log", "replay", str(db), "--at", "1700000003.5", "retried", "--json").stdout
    )
    assert one[0]["version"] == 2
    assert one[0]["retry_at"] == rfc3339(T0 + 4)  # JSON shows times in RFC 3339


def test_verify_a_sound_log(db: Path) -> None:
    done = alo("log", "verify", str(db))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("ok: 24 events of 9 ALOs")


def test_verify_reports_each_violation_with_its_position(tmp_path: Path) -> None:
    b = sound_log(tmp_path / "log.db")
    b.close()
    position = plant(b.path, "done", 3, Paused(T0 + 30))
    before = digest(b.path)
    done = alo("log", "verify", str(b.path))
    assert done.returncode == 1
    assert done.stdout.splitlines()[0] == (
        f"position {position}: ALO 'done' [nothing-after-terminal] "
        "Paused after the ALO settled at position 3"
    )
    lines = json_lines(alo("log", "verify", str(b.path), "--json").stdout)
    assert lines[0]["invariant"] == "nothing-after-terminal"
    assert lines[-1] == {"events": 25, "alos": 9, "violations": 1}
    assert digest(b.path) == before


def test_export_writes_json_lines(db: Path, tmp_path: Path) -> None:
    done = alo("log", "export", str(db))
    assert done.returncode == 0, done.stderr
    records = json_lines(done.stdout)
    assert len(records) == 24
    assert {"position", "stream_id", "version", "type", "recorded_at", "data"} <= set(records[0])
    out = tmp_path / "out.jsonl"
    assert alo("log", "export", str(db), "--from", "20", "-o", str(out)).returncode == 0
    assert [r["position"] for r in json_lines(out.read_text())] == [21, 22, 23, 24]


def test_tail_prints_the_last_events(db: Path) -> None:
    done = alo("log", "tail", str(db), "-n", "2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    assert "Resumed" in lines[0]
    assert "Paused" in lines[1]


def test_tail_follow_sees_what_another_process_appends(tmp_path: Path) -> None:
    b = sound_log(tmp_path / "log.db")
    b.close()
    # `alo`, with SIGINT restored first: a shell without job control starts a job in
    # the background with SIGINT ignored, and its children (this one) inherit that,
    # while the test stands for a user pressing Ctrl-C at a terminal.
    command = [
        sys.executable,
        "-c",
        "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from alo_actor.cli import main; main()",
        *("log", "tail", str(b.path), "-n", "1", "--follow", "--json", "--interval", "0.05"),
    ]
    tail = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in tail.stdout or ():
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    writer_code = (
        "import sys\n"
        "from eventlog import EventLog\n"
        "from alo_actor._events import CODEC, Started, Completed\n"
        "import msgspec\n"
        "log = EventLog.open(sys.argv[1])\n"
        "raw = msgspec.Raw(msgspec.msgpack.encode(None))\n"
        "log.append('new', 0, [CODEC.encode(Started(1.0, 'new', None, raw, {}, [], None))])\n"
        "log.append('new', 1, [CODEC.encode(Completed(2.0, raw, {}))])\n"
        "log.close()\n"
    )
    try:
        first = json.loads(lines.get(timeout=WAIT))
        assert first["position"] == 24
        writer = subprocess.run(
            [sys.executable, "-c", writer_code, str(b.path)],
            timeout=WAIT * 3,
            check=True,
            capture_output=True,
        )
        assert writer.returncode == 0
        appended = [json.loads(lines.get(timeout=WAIT)) for _ in range(2)]
        assert [(r["stream_id"], r["type"]) for r in appended] == [
            ("new", "Started"),
            ("new", "Completed"),
        ]
    finally:
        tail.send_signal(signal.SIGINT)
        try:
            tail.wait(timeout=WAIT)
        finally:
            if tail.poll() is None:
                tail.kill()
    stderr = tail.stderr.read() if tail.stderr else ""
    assert tail.returncode == 0, stderr
    assert "Traceback" not in stderr


def test_plot_writes_a_png(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "plot.png"
    done = alo("log", "plot", str(db), "-o", str(out))
    assert done.returncode == 0, done.stderr
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 10_000


# -- bad input: one line on stderr, exit code 2, the file untouched --------------------


def expect_refusal(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("alo log: ")
    for fragment in fragments:
        assert fragment in line


def test_a_missing_file(tmp_path: Path) -> None:
    expect_refusal(alo("log", "show", str(tmp_path / "nope.db")), "no such file")
    assert not (tmp_path / "nope.db").exists()


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("dear diary\n" * 500)
    before = digest(path)
    expect_refusal(alo("log", "verify", str(path)), "not an event log")
    assert digest(path) == before


def test_a_database_that_is_not_a_log(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (name TEXT)")
    conn.close()
    before = digest(path)
    expect_refusal(alo("log", "show", str(path)), "not an event log")
    assert digest(path) == before


def test_a_log_of_a_newer_schema(tmp_path: Path) -> None:
    b = sound_log(tmp_path / "log.db")
    b.close()
    with sqlite3.connect(b.path) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()
    before = digest(b.path)
    expect_refusal(alo("log", "replay", str(b.path), "--at", "1"), "newer", "upgrade")
    assert digest(b.path) == before


@pytest.fixture
def big_db(tmp_path: Path) -> Path:
    path = tmp_path / "big.db"
    random_log(path, alos=400, seed=2)
    return path


def test_a_truncated_log(big_db: Path) -> None:
    size = big_db.stat().st_size
    with open(big_db, "r+b") as f:
        f.truncate(size // 2)
    before = digest(big_db)
    expect_refusal(alo("log", "verify", str(big_db)), "cannot read", "malformed")
    assert digest(big_db) == before


def test_a_corrupted_log(big_db: Path) -> None:
    damage_a_middle_page(big_db)
    before = digest(big_db)
    expect_refusal(alo("log", "export", str(big_db)), "cannot read", "malformed")
    assert digest(big_db) == before


def test_an_unknown_id(db: Path) -> None:
    expect_refusal(alo("log", "show", str(db), "ghost"), "no ALO with id 'ghost'")


@pytest.mark.parametrize(
    ("at", "fragment"),
    [("99", "position 99 is not in the log"), ("soon", "is neither a position")],
)
def test_a_bad_replay_point(db: Path, at: str, fragment: str) -> None:
    expect_refusal(alo("log", "replay", str(db), "--at", at), fragment)


def test_plot_refuses_to_write_over_the_log(db: Path) -> None:
    expect_refusal(alo("log", "plot", str(db), "-o", str(db)), "refusing")


def test_no_time_is_lost_waiting_on_a_busy_writer(db: Path) -> None:
    # A writer holding the write lock does not block a reader of a WAL log.
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        done = alo("log", "verify", str(db))
        assert done.returncode == 0, done.stderr
        assert time.monotonic() - started < WAIT
    finally:
        conn.execute("ROLLBACK")
        conn.close()


@pytest.fixture(scope="module")
def long_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A log long enough that replay and verify read it ahead in a helper process."""
    path = tmp_path_factory.mktemp("long") / "long.db"
    build(str(path), AHEAD_MIN_ROWS + 20_000)
    return path


def test_a_long_log_verifies_and_replays_through_the_read_ahead_helper(long_db: Path) -> None:
    before = digest(long_db)
    done = alo("log", "verify", str(long_db))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"ok: {AHEAD_MIN_ROWS + 20_000:,} events of ")
    last = alo("log", "replay", str(long_db), "--at", "120000", "--json")
    assert last.returncode == 0, last.stderr
    states = json_lines(last.stdout)
    with sqlite3.connect(long_db) as conn:
        [(alos,)] = conn.execute("SELECT COUNT(DISTINCT stream_id) FROM events")
    conn.close()
    assert len(states) == alos
    # The open ALOs come last, in creation order; one of them, replayed on its own
    # (a single stream, read in-process), is the same state.
    alo_id = str(states[-1]["id"])
    one = json_lines(alo("log", "replay", str(long_db), alo_id, "--at", "120000", "--json").stdout)
    assert one == [states[-1]]
    assert digest(long_db) == before


def test_a_damaged_long_log_is_refused_with_the_reason(long_db: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.db"
    shutil.copyfile(long_db, damaged)
    damage_a_middle_page(damaged)
    before = digest(damaged)
    expect_refusal(alo("log", "verify", str(damaged)), "cannot read", "malformed")
    expect_refusal(alo("log", "replay", str(damaged), "--at", "120000"), "cannot read")
    assert digest(damaged) == before
