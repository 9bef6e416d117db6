"""The engine, its read model and its tools on a real PostgreSQL server, checked against the
same log on SQLite (``alo log copy`` makes them position for position equal)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from alo_actor import AloSystem, NotFound, Status
from alo_actor.logtools import copy_log
from alo_actor.readmodel import list_alos, rebuild_projection
from eventlog import EventLog, LogReader, NotEmpty
from tests.alo_actor.logtools_support import alo
from tests.alo_actor.test_projection import busy_life

# Filters a listing is checked with on both backends: every kind of driver.
LISTINGS: list[dict[str, Any]] = [
    {},
    {"status": "running"},
    {"status": ["completed", "failed", "timed_out"]},
    {"operation": "work"},
    {"metadata": {"team": "t0"}},
    {"metadata": {"team": "t1"}, "status": "running"},
    {"created_after": 100.0, "created_before": 100.5},
    {"status": "running", "operation": None, "metadata": {"team": "t0", "n": "0"}},
]


def snapshot(location: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every event and projection row of a log, in key order, read through LogReader."""
    with LogReader.open(location) as reader:
        return {
            "events": [tuple(e) for e in reader.read_all()],
            "head": [tuple(reader.head())],
            "alos": reader.query("SELECT * FROM alos ORDER BY seq"),
            "alo_metadata": reader.query("SELECT * FROM alo_metadata ORDER BY key, value, seq"),
        }


def pages(location: str, limit: int = 2, **filters: Any) -> list[list[tuple[str, str | None]]]:
    """Every page of a listing, as (id, status) pairs, following its cursors."""
    out: list[list[tuple[str, str | None]]] = []
    cursor = None
    with LogReader.open(location) as reader:
        while True:
            page = list_alos(reader, limit=limit, cursor=cursor, **filters)
            out.append([(info.id, info.status.value) for info in page.items])
            cursor = page.next_cursor
            if cursor is None:
                return out


def test_the_engine_on_postgres_keeps_the_projection_a_rebuild_makes(pg_url: str) -> None:
    busy_life(pg_url)
    live = snapshot(pg_url)
    assert len(live["alos"]) == 12
    with EventLog.open(pg_url) as log:
        assert rebuild_projection(log) == 12
    assert snapshot(pg_url) == live


def test_a_copy_both_ways_is_position_for_position_the_same(tmp_path: Path, pg_url: str) -> None:
    original = str(tmp_path / "alo.db")
    busy_life(original)
    report = copy_log(original, pg_url)
    assert (report.events, report.alos) == (len(snapshot(original)["events"]), 12)
    back = str(tmp_path / "back.db")
    copy_log(pg_url, back)
    assert snapshot(original) == snapshot(pg_url) == snapshot(back)
    # The same rows give the same pages, cursors and all, in both dialects.
    for filters in LISTINGS:
        assert pages(original, **filters) == pages(pg_url, **filters), filters


def test_a_copy_into_a_log_with_events_is_refused_untouched(tmp_path: Path, pg_url: str) -> None:
    original = str(tmp_path / "alo.db")
    busy_life(original)
    copy_log(original, pg_url)
    before = snapshot(pg_url)
    with pytest.raises(NotEmpty):
        copy_log(original, pg_url)
    with pytest.raises(NotEmpty):
        copy_log(pg_url, original)
    assert snapshot(pg_url) == before


def test_a_copied_log_goes_on_where_it_stopped(tmp_path: Path, pg_url: str) -> None:
    original = str(tmp_path / "alo.db")
    with AloSystem.open(original) as system:
        for i in range(5):
            system.start(f"x-{i}")
            system.complete(f"x-{i}", i)
        system.purge(time.time() + 60, status="completed")  # the newest positions go
        system.start("kept")
    copy_log(original, pg_url)
    with AloSystem.open(pg_url) as system:
        assert system.get_info("kept").status is Status.RUNNING
        with pytest.raises(NotFound):
            system.get_info("x-4")
        system.start("new")
        assert system.log.head().deletions == 1
        [new] = system.log.read_stream("new")
        assert new.position == snapshot(original)["head"][0][0] + 1


def test_retention_purges_on_postgres(tmp_path: Path, pg_url: str) -> None:
    archive = tmp_path / "archive.jsonl"
    with AloSystem.open(pg_url) as system:
        for i in range(4):
            system.start(f"p-{i}", metadata={"k": "v"})
        system.complete("p-0", 0)
        system.fail("p-1", "no")
        assert system.purge(time.time() + 60, status="completed", archive=archive) == 1
        assert system.purge(time.time() + 60) == 1
        assert [info.id for info in system.list(metadata={"k": "v"}).items] == ["p-2", "p-3"]
        with pytest.raises(NotFound):
            system.get_info("p-0")
    [line] = archive.read_text().splitlines()
    assert json.loads(line)["id"] == "p-0"
    assert snapshot(pg_url)["alo_metadata"] == [("k", "v", s) for s in _seqs(pg_url, "p-2", "p-3")]


def _seqs(location: str, *ids: str) -> list[int]:
    with LogReader.open(location) as reader:
        return [reader.read_stream(i)[0].position for i in ids]


def test_the_tools_read_postgres_without_writing_it(tmp_path: Path, pg_url: str) -> None:
    busy_life(pg_url)
    before = snapshot(pg_url)
    show = alo("log", "show", pg_url, "--json")
    assert show.returncode == 0, show.stderr
    assert json.loads(show.stdout)["alos"] == 12
    assert "postgresql://" in alo("log", "show", pg_url).stdout
    timeline = alo("log", "show", pg_url, "once").stdout
    assert "AttemptFailed" in timeline and 'result={"done":"fail-once"}' in timeline
    verify = alo("log", "verify", pg_url)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    replay = alo("log", "replay", pg_url, "--at", "3", "--json")
    assert replay.returncode == 0, replay.stderr
    assert [json.loads(line)["id"] for line in replay.stdout.splitlines()] == [
        "ext-0",
        "ext-1",
        "ext-2",
    ]
    export = alo("log", "export", pg_url)
    assert len(export.stdout.splitlines()) == len(before["events"])
    tail = alo("log", "tail", pg_url, "-n", "3", "--json")
    assert [json.loads(line)["position"] for line in tail.stdout.splitlines()] == [
        e[0] for e in before["events"][-3:]
    ]
    picture = tmp_path / "lifetimes.png"
    assert alo("log", "plot", pg_url, "-o", str(picture)).returncode == 0
    assert picture.read_bytes().startswith(b"\x89PNG")
    listed = alo("ls", pg_url, "--status", "running", "--json")
    assert listed.returncode == 0, listed.stderr
    ids = [info["id"] for info in json.loads(listed.stdout)["alos"]]
    assert ids == ["ext-4", "ext-5", "hook"]
    assert snapshot(pg_url) == before


def test_the_writing_commands_work_on_postgres(tmp_path: Path, pg_url: str) -> None:
    busy_life(pg_url)
    rebuilt = alo("projection", "rebuild", pg_url)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "12 ALOs" in rebuilt.stdout
    purged = alo(
        "purge", pg_url, "--settled-before", "2100-01-01T00:00:00Z", "--status", "cancelled"
    )
    assert purged.returncode == 0, purged.stderr
    assert "purged 1 ALO " in purged.stdout
    copied = alo("log", "copy", pg_url, str(tmp_path / "copy.db"))
    assert copied.returncode == 0, copied.stderr
    assert "verified position by position" in copied.stdout
    again = alo("log", "copy", pg_url, str(tmp_path / "copy.db"))
    assert again.returncode == 2
    assert "not empty" in again.stderr


def test_a_log_that_is_not_there_is_said_so(pg_url: str, tmp_path: Path) -> None:
    missing = alo("log", "show", pg_url)
    assert missing.returncode == 2
    assert "holds no log" in missing.stderr
    down = alo("ls", f"postgresql://u:hunter2@/x?host={tmp_path}")
    assert down.returncode == 2
    assert "cannot connect" in down.stderr and "hunter2" not in down.stderr


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_infos_of_reads_what_get_info_answers_on_both_backends(
    tmp_path: Path, pg_url: str, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the changes feed shows of each ALO, read from the read model in one query
    # per INFOS_PER_QUERY ids (a small number here, so that there are several).
    from alo_actor.readmodel import _listing

    location = str(tmp_path / "alo.db") if backend == "sqlite" else pg_url
    busy_life(location)
    monkeypatch.setattr(_listing, "INFOS_PER_QUERY", 5)
    with AloSystem.open(location) as system:
        system.settle()  # the reopening's own work (the deadline that passed) is done
        ids = [info.id for info in system.list(limit=100).items]
        assert len(ids) == 12
        found = _listing.infos_of(system.log, [*ids, "never-started"])
        assert sorted(found) == sorted(ids)  # none for an id with no ALO
        for alo_id in ids:
            assert found[alo_id] == system.get_info(alo_id)
        assert _listing.infos_of(system.log, []) == {}
