"""Retention: purge settled ALOs (events and rows), archive them, and the automatic policy."""

from __future__ import annotations

import datetime
import json
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alo_actor import AloSystem, InvalidArgument, ManualClock, NotFound, Status
from tests.conftest import WAIT

T0 = 1_000.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def settled(db_path: str, clock: ManualClock) -> Iterator[AloSystem]:
    """done-0..3 completed at T0+10..13, failed at T0+20, cancelled at T0+30; open ones."""
    system = AloSystem.open(db_path, clock=clock)
    for i in range(4):
        system.start(f"done-{i}", metadata={"batch": "old", "i": str(i)})
    system.start("failed", metadata={"batch": "old"})
    system.start("cancelled")
    system.start("running", metadata={"batch": "old"})
    system.start("paused")
    system.pause("paused")
    for i in range(4):
        clock.set(T0 + 10 + i)
        system.complete(f"done-{i}", {"n": i})
    clock.set(T0 + 20)
    system.fail("failed", "boom", type="Boom")
    clock.set(T0 + 30)
    system.cancel("cancelled")
    try:
        yield system
    finally:
        system.close()


def listed(system: AloSystem, **filters: Any) -> list[str]:
    return [info.id for info in system.list(limit=1000, **filters).items]


def rows(path: str, table: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"SELECT * FROM {table}").fetchall()
    finally:
        conn.close()


def test_purge_deletes_what_settled_before_the_time(settled: AloSystem, db_path: str) -> None:
    for alo_id in ("done-0", "done-1", "failed"):
        settled.get_info(alo_id)  # now cached in the host: purge must forget them
    assert settled.purge(T0 + 12) == 2  # done-0 and done-1; done-2 settled at T0+12: kept
    for alo_id in ("done-0", "done-1"):
        with pytest.raises(NotFound):
            settled.get_info(alo_id)
        with pytest.raises(NotFound):
            settled.get_result(alo_id)
        assert settled.log.read_stream(alo_id) == []
    assert listed(settled) == [
        "done-2",
        "done-3",
        "failed",
        "cancelled",
        "running",
        "paused",
    ]
    # The labels of done-0 and done-1 went with them.
    assert sorted(r[1] for r in rows(db_path, "alo_metadata") if r[0] == "i") == ["2", "3"]


def test_purge_keeps_open_alos_whatever_the_time(settled: AloSystem) -> None:
    assert settled.purge(T0 + 10_000) == 6
    assert listed(settled) == ["running", "paused"]
    assert settled.get_info("running").status is Status.RUNNING


def test_purge_by_status(settled: AloSystem) -> None:
    assert settled.purge(T0 + 100, status="failed") == 1
    assert settled.purge(T0 + 100, status=[Status.CANCELLED, "completed"]) == 5
    assert listed(settled) == ["running", "paused"]


def test_purge_leaves_labels_of_kept_alos_alone(settled: AloSystem, db_path: str) -> None:
    settled.purge(T0 + 100, status="completed")
    assert listed(settled, metadata={"batch": "old"}) == ["failed", "running"]
    labels = {(key, value) for key, value, _ in rows(db_path, "alo_metadata")}
    assert labels == {("batch", "old")}


def test_a_purged_id_can_be_started_again(settled: AloSystem) -> None:
    settled.get_info("done-0")
    settled.purge(T0 + 11)
    info = settled.start("done-0", metadata={"batch": "new"})
    assert info.created is True and info.status is Status.RUNNING
    assert [e.version for e in settled.log.read_stream("done-0")] == [1]
    assert listed(settled, metadata={"batch": "new"}) == ["done-0"]
    assert listed(settled)[-1] == "done-0"  # created last: listed last


def test_archive_gets_every_purged_alo_with_its_events(settled: AloSystem, tmp_path: Path) -> None:
    archive = tmp_path / "purged.jsonl"
    assert settled.purge(T0 + 21, archive=archive) == 5
    lines = [json.loads(line) for line in archive.read_text().splitlines()]
    assert [line["id"] for line in lines] == ["done-0", "done-1", "done-2", "done-3", "failed"]
    first = lines[0]
    assert first["info"]["status"] == "completed"
    assert first["info"]["metadata"] == {"batch": "old", "i": "0"}
    assert [e["type"] for e in first["events"]] == ["Started", "Completed"]
    assert first["events"][0]["data"]["metadata"] == {"batch": "old", "i": "0"}
    assert first["events"][1]["data"]["result"] == {"n": 0}
    assert lines[-1]["info"]["failure"]["metadata"]["type"] == "Boom"
    # Appended to, never overwritten.
    assert settled.purge(T0 + 31, archive=archive) == 1
    assert len(archive.read_text().splitlines()) == 6


def test_an_archive_that_cannot_be_written_purges_nothing(
    settled: AloSystem, tmp_path: Path
) -> None:
    with pytest.raises(InvalidArgument, match="cannot write the archive"):
        settled.purge(T0 + 100, archive=tmp_path)  # a directory
    assert len(listed(settled)) == 8


async def test_aio_purge(settled: AloSystem) -> None:
    assert await settled.aio.purge(T0 + 100, status="cancelled") == 1
    assert "cancelled" not in listed(settled)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"settled_before": None}, "settled_before is required"),
        ({"settled_before": float("nan")}, "finite"),
        ({"settled_before": "yesterday"}, "settled_before must be"),
        ({"settled_before": T0, "status": "running"}, "only settled ALOs"),
        ({"settled_before": T0, "status": ["completed", "paused"]}, "not paused"),
        ({"settled_before": T0, "status": "gone"}, "unknown status"),
    ],
)
def test_bad_purges_are_invalid_arguments(
    settled: AloSystem, args: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        settled.purge(**args)
    assert len(listed(settled)) == 8


def test_an_outcome_still_owed_to_a_result_url_is_kept(db_path: str, clock: ManualClock) -> None:
    with AloSystem.open(db_path, clock=clock) as system:
        # Nothing listens there: the POST fails and waits for the clock to retry.
        system.start("hooked", result_urls=["http://127.0.0.1:9/hook"])
        system.start("plain")
        system.complete("hooked", 1)
        system.complete("plain", 2)
        assert system.purge(T0 + 1) == 1
        assert listed(system) == ["hooked"]


def test_purge_never_loses_concurrent_starts(system: AloSystem) -> None:
    for i in range(200):
        system.start(f"old-{i}")
        system.complete(f"old-{i}", i)
    stop = threading.Event()
    started: list[str] = []

    def starter() -> None:
        n = 0
        while not stop.is_set():
            system.start(f"new-{n}")
            started.append(f"new-{n}")
            n += 1

    thread = threading.Thread(target=starter)
    thread.start()
    try:
        purged = system.purge(system.clock.now() + 1, status="completed")
    finally:
        stop.set()
        thread.join(WAIT)
    assert purged == 200
    assert listed(system) == started


def test_retention_purges_on_the_clock(db_path: str, clock: ManualClock) -> None:
    retention = datetime.timedelta(seconds=10)
    with AloSystem.open(db_path, clock=clock, retention=retention) as system:
        system.start("a")
        system.start("b")
        system.complete("a", 1)  # at T0
        clock.advance(10)  # a purge at T0+10 drops what settled before T0: nothing
        assert listed(system) == ["a", "b"]
        clock.advance(5)
        system.complete("b", 2)  # at T0+15
        clock.advance(5)  # the purge at T0+20 drops what settled before T0+10
        assert listed(system) == ["b"]
        with pytest.raises(NotFound):
            system.get_info("a")
        clock.advance(20)
        assert listed(system) == []


@pytest.mark.parametrize("retention", [0, -5, float("inf"), "1d", True])
def test_bad_retention_is_refused(db_path: str, retention: Any) -> None:
    with pytest.raises(InvalidArgument, match="retention"):
        AloSystem.open(db_path, retention=retention)


# -- the command ---------------------------------------------------------------------


def alo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from alo_actor.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_alo_purge(settled: AloSystem, db_path: str, tmp_path: Path) -> None:
    settled.close()
    archive = tmp_path / "old.jsonl"
    done = alo(
        "purge",
        db_path,
        "--settled-before",
        str(T0 + 25),
        "--status",
        "completed,failed",
        "--archive",
        str(archive),
    )
    assert done.returncode == 0, done.stderr
    assert "purged 5 ALOs" in done.stdout
    assert len(archive.read_text().splitlines()) == 5
    shown = alo("ls", db_path, "--json")
    assert [a["id"] for a in json.loads(shown.stdout)["alos"]] == [
        "cancelled",
        "running",
        "paused",
    ]
    # An RFC 3339 time, and an age (every ALO here settled in 1970).
    again = alo("purge", db_path, "--settled-before", "1970-01-01T01:00:00Z")
    assert again.returncode == 0 and "purged 1 ALO " in again.stdout
    nothing = alo("purge", db_path, "--settled-before", "1d")
    assert "purged 0 ALOs" in nothing.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--settled-before", "whenever"], "must be a time"),
        (["--settled-before", "1d", "--status", "running"], "only settled ALOs"),
        (["--settled-before", "2025-01-01T00:00:00"], "needs a time zone offset"),
    ],
)
def test_alo_purge_refuses_bad_input(
    settled: AloSystem, db_path: str, args: list[str], message: str
) -> None:
    settled.close()
    done = alo("purge", db_path, *args)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_alo_purge_never_creates_a_log(tmp_path: Path) -> None:
    done = alo("purge", str(tmp_path / "none.db"), "--settled-before", "1d")
    assert done.returncode == 2 and "no such file" in done.stderr
    assert not (tmp_path / "none.db").exists()
