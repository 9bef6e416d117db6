"""The ``alos`` projection: committed with the events, and rebuildable from the log alone."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import Any

import msgspec
import pytest

from actors import Entity
from alo_actor import (
    AloError,
    AloSystem,
    HandlerContext,
    ManualClock,
    NotFound,
    RetryPolicy,
    Status,
)
from alo_actor._events import CODEC, AloEvent, AttemptFailed, Completed, Delivered, Started
from alo_actor._machine import AloState, evolve, fold
from alo_actor._model import Failure
from alo_actor.readmodel._projection import project
from alo_actor.readmodel._schema import (
    PROJECTION_VERSION,
    ensure_projection,
    rebuild_projection,
)
from eventlog import FIRST_POSITION, EventLog, SchemaError, Statement
from tests.conftest import WAIT

NIL = msgspec.Raw(b"\xc0")  # msgpack's nil


def rebuild(path: str) -> int:
    with EventLog.open(path) as log:
        return rebuild_projection(log)


def snapshot(path: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the projection, in key order."""
    conn = sqlite3.connect(path)
    try:
        return {
            "alos": conn.execute("SELECT * FROM alos ORDER BY seq").fetchall(),
            "alo_metadata": conn.execute(
                "SELECT * FROM alo_metadata ORDER BY key, value, seq"
            ).fetchall(),
        }
    finally:
        conn.close()


def busy_life(path: str) -> None:
    """A log that has seen every kind of event, left with ALOs of every status."""
    clock = ManualClock(100.0)
    tries: dict[str, int] = {}

    def flaky(ctx: HandlerContext, input: Any) -> Any:
        tries[ctx.id] = tries.get(ctx.id, 0) + 1
        if input == "fail-once" and tries[ctx.id] == 1:
            raise RuntimeError("first try fails")
        if input == "fail-always":
            raise ValueError("never works")
        return {"done": input}

    with AloSystem.open(path, clock=clock) as system:
        system.register("work", flaky, retry=RetryPolicy(max_attempts=2, initial_interval=1.0))
        for i in range(6):
            system.start(f"ext-{i}", metadata={"team": f"t{i % 2}", "n": str(i)})
        system.complete("ext-0", [1, 2], result_metadata={"why": "because"})
        system.fail("ext-1", "bad card", type="PaymentError", details={"raw": b"\x00\x01"})
        system.cancel("ext-2", reason="asked to")
        system.pause("ext-3")
        system.pause("ext-4")
        system.resume("ext-4")
        system.start("late", deadline=90.0)  # already past: TIMED_OUT at once
        system.start("soon", timeout=5.0, metadata={"team": "t0"})
        # Left open: an outcome would be POSTed, and wait for the clock to retry.
        system.start("hook", result_urls=["http://127.0.0.1:9/hook"])
        system.start("once", "work", "fail-once")
        system.start("never", "work", "fail-always")
        system.start("ok", "work", "fine", metadata={"team": "t1"})
        system.settle()
        clock.advance(2.0)  # the retries fall due
        system.settle()
        clock.advance(10.0)  # "soon" times out
        system.settle()
        assert system.get_info("once").status is Status.COMPLETED
        assert system.get_info("once").attempt == 2
        assert system.get_info("never").status is Status.FAILED
        assert system.get_info("soon").status is Status.TIMED_OUT
        assert system.get_info("late").status is Status.TIMED_OUT
        assert system.get_info("ext-4").status is Status.RUNNING


def test_rebuilt_projection_equals_the_live_one(db_path: str) -> None:
    busy_life(db_path)
    live = snapshot(db_path)
    assert len(live["alos"]) == 12
    assert len(live["alo_metadata"]) == 6 * 2 + 2
    assert rebuild(db_path) == 12
    assert snapshot(db_path) == live


def test_the_command_rebuilds_it(db_path: str) -> None:
    busy_life(db_path)
    live = snapshot(db_path)
    conn = sqlite3.connect(db_path)
    conn.execute("UPDATE alos SET status = 'mangled'")
    conn.execute("DELETE FROM alo_metadata")
    conn.commit()
    conn.close()
    cli = [sys.executable, "-c", "from alo_actor.cli import main; main()"]
    done = subprocess.run(
        [*cli, "projection", "rebuild", db_path],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "12 ALOs" in done.stdout
    assert snapshot(db_path) == live


def test_listing_from_the_projection_matches_get_info(db_path: str) -> None:
    busy_life(db_path)
    with AloSystem.open(db_path) as system:
        items = system.list().items
        assert len(items) == 12
        for info in items:
            assert info == system.get_info(info.id)
        failed = system.list(status="failed", metadata={"team": "t1"}).items
        assert [i.id for i in failed] == ["ext-1"]
        assert failed[0].failure == Failure("bad card", "PaymentError", {"raw": b"\x00\x01"})


def test_a_log_without_a_projection_gets_one_on_open(db_path: str) -> None:
    with AloSystem.open(db_path) as system:
        for i in range(5):
            system.start(f"a{i}", metadata={"k": "v"})
        system.complete("a1", None)
    live = snapshot(db_path)
    conn = sqlite3.connect(db_path)
    for table in ("alos", "alo_metadata", "alo_projection"):
        conn.execute(f"DROP TABLE {table}")
    conn.commit()
    conn.close()
    with AloSystem.open(db_path) as system:
        assert [i.id for i in system.list(metadata={"k": "v"}).items] == [f"a{i}" for i in range(5)]
    assert snapshot(db_path) == live


def test_an_emptied_projection_is_rebuilt_on_open(db_path: str) -> None:
    with AloSystem.open(db_path) as system:
        system.start("a", metadata={"k": "v"})
    live = snapshot(db_path)
    conn = sqlite3.connect(db_path)
    conn.execute("DELETE FROM alos")
    conn.commit()
    conn.close()
    with AloSystem.open(db_path) as system:
        assert [i.id for i in system.list().items] == ["a"]
    assert snapshot(db_path) == live


def test_a_log_written_without_the_engine_is_projected(db_path: str) -> None:
    """Events appended by another writer (a tool, an import) before the projection existed."""
    raw = NIL
    with EventLog.open(db_path) as log:
        log.append("x", 0, [CODEC.encode(Started(5.0, "x", None, raw, {"a": "b"}, [], None))])
        log.append("x", 1, [CODEC.encode(Completed(6.0, raw, {}))])
    with AloSystem.open(db_path) as system:
        (info,) = system.list(status="completed", metadata={"a": "b"}).items
        assert (info.id, info.created_at, info.settled_at) == ("x", 5.0, 6.0)


def test_a_newer_projection_is_refused(db_path: str) -> None:
    AloSystem.open(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute(
        "UPDATE alo_projection SET value = ? WHERE key = 'version'", (str(PROJECTION_VERSION + 1),)
    )
    conn.commit()
    conn.close()
    with pytest.raises(SchemaError, match="newer"):
        AloSystem.open(db_path)
    with pytest.raises(SchemaError, match="newer"), EventLog.open(db_path) as log:
        ensure_projection(log)


def test_rows_change_in_the_same_commit_as_the_events(system: AloSystem, db_path: str) -> None:
    """Whenever a reader sees an event, it sees the row that reflects it, and vice versa."""
    stop = threading.Event()
    mismatches: list[tuple[str, str, int]] = []

    def reader() -> None:
        conn = sqlite3.connect(db_path)
        while not stop.is_set():
            # One statement, one snapshot: the row's status and the stream's events.
            for alo_id, status, terminal in conn.execute(
                "SELECT id, status, (SELECT COUNT(*) FROM events WHERE stream_id = alos.id "
                "AND type = 'Completed') FROM alos"
            ):
                if (status == "completed") != bool(terminal):
                    mismatches.append((alo_id, status, terminal))
        conn.close()

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(300):
            system.start(f"r{i}")
            system.complete(f"r{i}", i)
    finally:
        stop.set()
        thread.join(WAIT)
    assert mismatches == []


# -- the hook itself -----------------------------------------------------------------


def started(alo_id: str = "a", metadata: dict[str, str] | None = None) -> Started:
    return Started(1.0, alo_id, "op", NIL, metadata or {}, [], None)


def after(entity: Entity[AloState], events: list[AloEvent]) -> AloState:
    state = fold(events, entity.state)
    assert state is not None
    return state


def projected(entity: Entity[AloState], events: list[AloEvent]) -> Sequence[Statement]:
    """What the host hands the projection: the entity, the events, their fold."""
    return project(entity, events, after(entity, events))


def test_project_inserts_a_new_alo_with_its_labels() -> None:
    statements = projected(Entity("a", None, 0), [started(metadata={"k": "v", "x": "y"})])
    assert len(statements) == 3
    assert statements[0][0].startswith("INSERT INTO alos")
    # Keyed by the position the writer gives the Started event.
    assert statements[0][1][:2] == (FIRST_POSITION, "a")
    assert [s[1] for s in statements[1:]] == [
        (FIRST_POSITION, "k", "v"),
        (FIRST_POSITION, "x", "y"),
    ]


def test_project_writes_nothing_for_events_that_change_no_column() -> None:
    state = evolve(None, started())
    entity = Entity("a", state, 1)
    failure = Failure("boom")
    assert projected(entity, [AttemptFailed(2.0, 1, failure, 3.0)]) == ()
    done = evolve(state, Completed(2.0, NIL, {}))
    assert projected(Entity("a", done, 2), [Delivered(3.0, "http://h/x")]) == ()
    (update,) = projected(entity, [Completed(2.0, NIL, {})])
    assert "UPDATE alos" in update[0]
    assert update[1][:4] == ("a", "completed", 1, 2.0)


def test_a_projection_write_that_fails_fails_its_command_whole(db_path: str) -> None:
    """The row and the events commit together or not at all; other commands go on."""
    with AloSystem.open(db_path) as system:
        system.start("a")
        conn = sqlite3.connect(db_path)
        conn.execute(
            "CREATE TRIGGER poison BEFORE INSERT ON alos WHEN NEW.id = 'c' "
            "BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
        )
        conn.commit()
        system.start("b")
        with pytest.raises(AloError, match="poisoned"):
            system.start("c")
        system.start("d")
        assert system.log.read_stream("c") == []
        assert [i.id for i in system.list().items] == ["a", "b", "d"]
        with pytest.raises(NotFound):
            system.get_info("c")
        conn.execute("DROP TRIGGER poison")
        conn.commit()
        conn.close()
        assert system.start("c").created
        assert [i.id for i in system.list().items] == ["a", "b", "d", "c"]


def test_two_systems_racing_on_one_file_keep_one_row_per_alo(db_path: str) -> None:
    """Lost create races go through the writer's one-by-one path: their rows go too."""
    first, second = AloSystem.open(db_path), AloSystem.open(db_path)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def starter(system: AloSystem, name: str) -> None:
        try:
            barrier.wait(WAIT)
            for i in range(300):
                system.start(f"race-{i}", metadata={"k": "v"})
                if i % 3 == 0:
                    system.complete(f"race-{i}", name)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=starter, args=(first, "first")),
        threading.Thread(target=starter, args=(second, "second")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT * 3)
    first.close()
    second.close()
    assert not errors
    live = snapshot(db_path)
    assert sorted(row[1] for row in live["alos"]) == sorted(f"race-{i}" for i in range(300))
    assert len(live["alo_metadata"]) == 300
    assert sum(row[3] == "completed" for row in live["alos"]) == 100
    rebuild(db_path)
    assert snapshot(db_path) == live
