"""The event log contract on a real PostgreSQL server, plus what only that backend promises."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest

from eventlog import (
    FIRST_POSITION,
    SCHEMA_VERSION,
    Append,
    ConcurrencyError,
    EventLog,
    Head,
    LogUnwritable,
    RecordedEvent,
    SchemaError,
    Unreachable,
    inspect_schema,
)
from eventlog._postgres import PostgresEventLog
from eventlog._postgres._connect import connect
from tests.conftest import wait_until
from tests.eventlog.contract import (
    WAIT,
    EventLogContract,
    Recorder,
    ev,
    run_threads,
    writer_held,
)
from tests.postgres import PostgresServer


class TestPostgresEventLog(EventLogContract):
    server: PostgresServer
    schemas: dict[str, str]

    @pytest.fixture(autouse=True)
    def _schemas(self, postgres: PostgresServer) -> Iterator[None]:
        self.server = postgres
        self.schemas = {}
        yield
        for log in self._opened:  # closed before their schemas go
            log.close()
        for schema in self.schemas.values():
            postgres.drop_schema(schema)

    def open_log(self, name: str, **options: Any) -> EventLog:
        schema = self.schemas.get(name)
        if schema is None:
            schema = self.schemas[name] = self.server.new_schema()
        return EventLog.open(self.server.url(schema), **options)


# -- what only the PostgreSQL backend promises -----------------------------------------

TABLE = "CREATE TABLE heads (stream_id text PRIMARY KEY, first bigint)"
# The row refers to the events of its own append: they are inserted before it.
INSERT_ONE = (
    "INSERT INTO heads (stream_id, first) "
    "SELECT s, (SELECT position FROM events WHERE stream_id = s AND version = 1) "
    "FROM (VALUES (%s::text)) AS v(s)"
)


@pytest.fixture
def log(pg_url: str) -> Iterator[EventLog]:
    opened = EventLog.open(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(TABLE)
    try:
        yield opened
    finally:
        opened.close()


def heads(log: EventLog) -> dict[str, int]:
    return dict(log.query("SELECT stream_id, first FROM heads"))


def test_extra_statements_commit_with_the_events_in_postgres_dialect(log: EventLog) -> None:
    assert log.dialect == "postgresql"
    positions = log.append("a", 0, [ev("A")], extra=[(INSERT_ONE, ("a",))])
    assert heads(log) == {"a": positions[0]}


def test_a_failing_statement_fails_its_own_append_only(log: EventLog) -> None:
    log.append("a", 0, [ev("A")], extra=[(INSERT_ONE, ("a",))])
    recorder = Recorder()
    with writer_held(log):
        log.submit(Append("dup", 0, [ev("X")], recorder.sink, extra=[(INSERT_ONE, ("a",))]))
        log.submit(Append("c", 0, [ev("X")], recorder.sink, extra=[(INSERT_ONE, ("c",))]))
        log.submit(Append("taken", 0, [ev("X")], recorder.sink))
        log.submit(Append("taken", 0, [ev("Y")], recorder.sink, extra=[(INSERT_ONE, ("t",))]))
    by_type = {a.events[0].type + a.stream_id: a for a in recorder.wait_for(4)}
    assert isinstance(by_type["Xdup"].error, psycopg.errors.UniqueViolation)
    assert by_type["Xc"].error is None and by_type["Xtaken"].error is None
    assert isinstance(by_type["Ytaken"].error, ConcurrencyError)
    assert log.read_stream("dup") == []
    assert set(heads(log)) == {"a", "c"}
    # Positions stay gapless: the failed appends gave theirs back.
    assert [e.position for e in log.read_all()] == list(range(1, log.last_position() + 1))


@pytest.mark.parametrize("with_failure", [False, True])
def test_first_position_stands_for_the_appends_first_position(
    log: EventLog, with_failure: bool
) -> None:
    """In a batch, and in the append-by-append retry after a failing statement."""
    log.append("x", 0, [ev("T")], extra=[(INSERT_ONE, ("taken",))])
    positioned = "INSERT INTO heads (first, stream_id) VALUES (%s, %s)"
    recorder = Recorder()
    names = ["a", "taken", "b"] if with_failure else ["a", "b"]
    with writer_held(log):
        for name in names:
            extra = [(positioned, (FIRST_POSITION, name))]
            log.submit(Append(name, 0, [ev("1"), ev("2")], recorder.sink, extra=extra))
    by_stream = {a.stream_id: a for a in recorder.wait_for(len(names))}
    assert heads(log) == {
        "taken": None,  # the row made first, of no stream "taken"
        "a": by_stream["a"].positions[0],
        "b": by_stream["b"].positions[0],
    }
    assert by_stream["b"].positions[0] == by_stream["a"].positions[0] + 2
    if with_failure:
        assert isinstance(by_stream["taken"].error, psycopg.IntegrityError)


def test_a_statement_psycopg_cannot_send_fails_its_own_append(log: EventLog) -> None:
    recorder = Recorder()
    with writer_held(log):
        log.submit(Append("bad", 0, [ev("X")], recorder.sink, extra=[(INSERT_ONE, (object(),))]))
        log.submit(Append("good", 0, [ev("X")], recorder.sink, extra=[(INSERT_ONE, ("g",))]))
    by_stream = {a.stream_id: a for a in recorder.wait_for(2)}
    assert isinstance(by_stream["bad"].error, psycopg.ProgrammingError)
    assert by_stream["good"].error is None
    assert set(heads(log)) == {"g"}


def test_delete_streams_runs_statements_first_and_rolls_back_whole(log: EventLog) -> None:
    for name in ("a", "b", "c"):
        log.append(name, 0, [ev("1"), ev("2")], extra=[(INSERT_ONE, (name,))])
    delete = (
        "DELETE FROM heads WHERE first = "
        "(SELECT position FROM events WHERE stream_id = %s AND version = 1)"
    )
    assert log.delete_streams(["a", "b", "missing"], [(delete, (n,)) for n in ("a", "b")]) == 2
    assert set(heads(log)) == {"c"}
    assert [e.stream_id for e in log.read_all()] == ["c", "c"]
    with pytest.raises(psycopg.errors.UndefinedTable):
        log.delete_streams(["c"], extra=[("DELETE FROM nowhere", ())])
    assert len(log.read_stream("c")) == 2
    assert log.head().deletions == 1


def test_query_reads_committed_rows_and_never_writes(log: EventLog) -> None:
    log.append("a", 0, [ev("A")])
    assert log.query("SELECT stream_id FROM events") == [("a",)]
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        log.query("DELETE FROM events")
    assert len(log.read_stream("a")) == 1


def test_text_postgres_cannot_store_is_refused_on_the_callers_thread(log: EventLog) -> None:
    recorder = Recorder()
    for bad in ("nul\x00id", "lone \udc80 surrogate"):
        with pytest.raises(ValueError, match="text"):
            log.submit(Append(bad, 0, [ev("E")], recorder.sink))
        with pytest.raises(ValueError, match="text"):
            log.submit(Append("ok", 0, [ev(bad)], recorder.sink))
    assert log.append("ok", 0, [ev("E")]) == [1]
    assert recorder.calls == []


def test_a_follower_is_woken_by_notify_without_polling(pg_url: str) -> None:
    with EventLog.open(pg_url) as log, EventLog.open(pg_url) as other:
        got: queue.Queue[list[str]] = queue.Queue()

        def consume(events: Sequence[RecordedEvent], head: Head) -> None:
            got.put([e.type for e in events])
            log.frontier.applied(head)

        assert isinstance(log, PostgresEventLog)
        follower = log.follow(consume, poll_interval=3600)  # only a notification wakes it
        try:
            assert log.listening.wait(WAIT)
            log.append("mine", 0, [ev("M")])
            other.append("theirs", 0, [ev("T1"), ev("T2")])
            seen: list[str] = []
            deadline = time.monotonic() + WAIT
            while seen != ["T1", "T2"]:
                assert time.monotonic() < deadline, f"never woken, saw {seen}"
                with contextlib.suppress(queue.Empty):
                    seen.extend(got.get(timeout=0.1))
        finally:
            follower.stop()


def test_a_missed_notification_is_made_up_for_by_polling(
    pg_url: str, postgres: PostgresServer
) -> None:
    with EventLog.open(pg_url) as log, EventLog.open(pg_url) as other:
        assert isinstance(log, PostgresEventLog)

        def consume(events: Sequence[RecordedEvent], head: Head) -> None:
            log.frontier.applied(head)

        follower = log.follow(consume, poll_interval=0.05)
        released = threading.Event()
        try:
            assert log.listening.wait(WAIT)
            listener = log._listener
            assert listener is not None
            connect = listener._connect

            def connect_once_released() -> Any:  # the real connect, held back for now
                released.wait(WAIT)
                return connect()

            listener._connect = connect_once_released
            # The listener's connection dies (a server restart would do that), and no
            # new one comes: what is committed meanwhile reaches the follower by polling.
            with postgres.admin() as admin:
                ended = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = %s",
                    (listener._listen,),
                ).fetchall()
            assert ended and all(ok for (ok,) in ended)
            wait_until(lambda: not log.listening.is_set(), what="the listener to notice")
            other.append("theirs", 0, [ev("T")])
            assert log.frontier.wait_covers(other.head(), WAIT)
            assert not log.listening.is_set()  # still held back: it was the polling
            # And the listener connects again.
            released.set()
            assert log.listening.wait(WAIT)
        finally:
            released.set()
            follower.stop()


def test_leases_are_timed_by_the_databases_clock(
    log: EventLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This host's clock is an hour fast: the leases do not follow it.
    skewed = time.time
    monkeypatch.setattr(time, "time", lambda: skewed() + 3600)
    seen = log.heartbeat("a", "{}", ttl=30)
    (database_now,) = log.query("SELECT extract(epoch FROM clock_timestamp())::float8")[0]
    assert seen.now == pytest.approx(database_now, abs=5)
    [claim] = log.claim("a", {0: 0}, ttl=30)
    assert claim.lease.expires_at == pytest.approx(database_now + 30, abs=5)


def test_commits_are_durable_when_acknowledged(log: EventLog) -> None:
    assert isinstance(log, PostgresEventLog)
    setting = log.transaction(lambda conn: conn.execute("SHOW synchronous_commit").fetchone())
    assert setting == ("on",)


def test_reopening_keeps_everything_and_a_newer_log_is_refused(pg_url: str) -> None:
    with EventLog.open(pg_url, shards=8) as log:
        log.append("a", 0, [ev("A1"), ev("A2")])
    assert inspect_schema(pg_url) == SCHEMA_VERSION
    with EventLog.open(pg_url, shards=16) as log:
        assert log.shard_count == 8
        assert log.append("a", 2, [ev("A3")]) == [3]
        assert log.head() == (3, 0)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE meta SET value = %s WHERE key = 'schema_version'", ["99"])
    with pytest.raises(SchemaError, match="newer"):
        EventLog.open(pg_url)


def test_a_schema_that_is_not_a_log_is_refused_untouched(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE events (x int)")
        conn.execute("INSERT INTO events VALUES (1)")
    with pytest.raises(SchemaError, match="not an event log"):
        EventLog.open(pg_url)
    with pytest.raises(SchemaError, match="not an event log"):
        inspect_schema(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute("SELECT * FROM events").fetchall() == [(1,)]
        assert conn.execute("SELECT to_regclass('meta')").fetchone() == (None,)


def test_inspect_schema_never_creates_a_log(pg_url: str) -> None:
    with pytest.raises(SchemaError, match="holds no log"):
        inspect_schema(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('events')").fetchone() == (None,)


def test_a_server_that_cannot_be_reached_is_said_so(tmp_path: Path) -> None:
    url = f"postgresql://alo:secret@/nowhere?host={tmp_path}"
    for attempt in (lambda: EventLog.open(url), lambda: inspect_schema(url)):
        with pytest.raises(Unreachable, match="cannot connect") as raised:
            attempt()
        assert "secret" not in str(raised.value)


def test_two_writers_racing_keep_positions_gapless_and_streams_single(pg_url: str) -> None:
    """Two logs on one database stand in for two hosts: each has its own writer."""
    with EventLog.open(pg_url, batch_size=16) as first, EventLog.open(pg_url) as second:
        outcomes: dict[str, list[str]] = {}
        positions: dict[str, list[int]] = {}

        def writer(name: str, log: EventLog) -> Callable[[], None]:
            def run() -> None:
                for i in range(60):
                    positions.setdefault(name, []).extend(
                        log.append(f"{name}-{i}", 0, [ev("E"), ev("F")])
                    )
                    try:
                        log.append(f"contested-{i}", 0, [ev("Claimed", name.encode())])
                        outcomes.setdefault(f"contested-{i}", []).append(name)
                    except ConcurrencyError:
                        pass

            return run

        run_threads([writer("a", first), writer("b", second)])
        stored = list(first.read_all())
        assert [e.position for e in stored] == list(range(1, len(stored) + 1))
        assert len(stored) == 2 * 60 * 2 + 60
        assert all(len(names) == 1 for names in outcomes.values())
        assert len(outcomes) == 60
        by_stream = {(e.stream_id, e.version): e.position for e in stored}
        for name, mine in positions.items():
            assert mine == [by_stream[(f"{name}-{i}", v)] for i in range(60) for v in (1, 2)]
        assert first.head() == second.head() == Head(len(stored), 0)


def test_a_log_carries_on_when_the_server_ends_its_sessions(
    pg_url: str, postgres: PostgresServer
) -> None:
    """As after a server restart: every connection of the log is dead at once."""
    with EventLog.open(pg_url) as log, EventLog.open(pg_url) as other:
        assert isinstance(log, PostgresEventLog)

        def consume(events: Sequence[RecordedEvent], head: Head) -> None:
            log.frontier.applied(head)

        follower = log.follow(consume, poll_interval=3600)
        try:
            assert log.listening.wait(WAIT)
            log.append("a", 0, [ev("A")])
            log.heartbeat("m", "{}", 30)
            assert postgres.terminate() >= 4  # writers, pooled readers, the listener
            assert log.append("a", 1, [ev("B")]) == [2]
            assert [e.type for e in log.read_stream("a")] == ["A", "B"]
            assert len(log.leases()) == log.shard_count
            assert [m.id for m in log.heartbeat("m", "{}", 30).members] == ["m"]
            assert log.listening.wait(WAIT)
            other.append("b", 0, [ev("C")])  # its NOTIFY wakes the listener anew
            assert log.frontier.wait_covers(other.head(), WAIT)
        finally:
            follower.stop()


def test_a_read_only_database_makes_the_log_unwritable_until_it_takes_writes(
    log: EventLog,
) -> None:
    """As on a server demoted to a standby: every write transaction is refused."""
    assert isinstance(log, PostgresEventLog)
    log.append("a", 0, [ev("A")])
    writer = log._writer._conn  # the test's one reach inside: the writer's session
    writer.execute("SET default_transaction_read_only = on")
    head = log.head()
    recorder = Recorder()
    with writer_held(log):
        for stream in ("a", "b"):
            log.submit(Append(stream, log.stream_version(stream), [ev("X")], recorder.sink))
    for append in recorder.wait_for(2):
        assert isinstance(append.error, LogUnwritable)
        assert "read-only" in append.error.reason and append.positions == ()
    assert log.unwritable is not None and "read-only" in log.unwritable.reason
    with pytest.raises(LogUnwritable, match="read-only"):
        log.heartbeat("m", "{}", 30)
    fault = log.probe()
    assert fault is not None and "read-only" in fault.reason
    assert log.head() == head  # nothing of them was committed
    assert log.commit_stats.failed_commits == 2  # the parking append's batch, and theirs
    writer.execute("SET default_transaction_read_only = off")
    assert log.probe() is None and log.unwritable is None
    assert log.append("b", 0, [ev("B")]) == [head.position + 1]


def test_a_server_that_cannot_be_reached_again_makes_the_log_unwritable(
    log: EventLog, postgres: PostgresServer, tmp_path: Path
) -> None:
    assert isinstance(log, PostgresEventLog)
    log.append("a", 0, [ev("A")])
    writer = log._writer  # the test's one reach inside: where it connects again
    reconnect = writer._reconnect
    writer._reconnect = lambda: connect(f"postgresql:///nowhere?host={tmp_path}")
    postgres.terminate()
    with pytest.raises(LogUnwritable, match="cannot be reached"):
        log.append("a", 1, [ev("B")])
    assert log.unwritable is not None
    writer._reconnect = reconnect
    assert log.probe() is None and log.unwritable is None
    assert log.append("a", 1, [ev("B")]) == [2]
