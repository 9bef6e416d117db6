"""Listing (semantics §6): filters alone and combined, cursors, concurrency, bad input."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from alo_actor import (
    AloPage,
    AloSystem,
    HandlerContext,
    InvalidArgument,
    ManualClock,
    Status,
)
from alo_actor.readmodel import _plan
from tests.conftest import WAIT

T0 = 1_000.0


def ids(page: AloPage) -> list[str]:
    return [info.id for info in page.items]


def every(system: AloSystem, limit: int = 1000, **filters: Any) -> list[str]:
    """Every id a listing yields, page by page."""
    seen: list[str] = []
    cursor = None
    while True:
        page = system.list(limit=limit, cursor=cursor, **filters)
        seen.extend(ids(page))
        cursor = page.next_cursor
        if cursor is None:
            return seen


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def fleet(db_path: str, clock: ManualClock, release: threading.Event) -> Iterator[AloSystem]:
    """Twelve ALOs, one second apart, of every status, operation and a few labels.

    a0..a11 created at T0 + i. Handlers block until the test ends, so ALOs with an
    operation stay RUNNING unless settled by hand.
    """

    def block(ctx: HandlerContext, input: Any) -> Any:
        release.wait(WAIT)
        return None

    system = AloSystem.open(db_path, clock=clock)
    system.register("charge", block)
    system.register("mail", block)
    for i in range(12):
        operation = ("charge", "mail", None)[i % 3]
        team = "billing" if i % 2 else "search"
        system.start(f"a{i}", operation, metadata={"team": team, "tier": f"t{i % 4}"})
        clock.advance(1.0)
    system.complete("a1", 1)
    system.fail("a2", "no")
    system.cancel("a3")
    system.pause("a4")
    system.pause("a5")
    system.complete("a7", 7)
    try:
        yield system
    finally:
        system.close()


# -- filters ----------------------------------------------------------------------------


def test_everything_in_creation_order(fleet: AloSystem) -> None:
    page = fleet.list()
    assert ids(page) == [f"a{i}" for i in range(12)]
    assert page.next_cursor is None


def test_items_are_the_infos_get_info_gives(fleet: AloSystem) -> None:
    for info in fleet.list().items:
        assert info == fleet.get_info(info.id)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (Status.COMPLETED, ["a1", "a7"]),
        ("failed", ["a2"]),
        ("CANCELLED", ["a3"]),
        ([Status.PAUSED], ["a4", "a5"]),
        (["completed", Status.PAUSED], ["a1", "a4", "a5", "a7"]),
        ("paused,failed", ["a2", "a4", "a5"]),
        ({Status.TIMED_OUT}, []),
        ("running", ["a0", "a6", "a8", "a9", "a10", "a11"]),
    ],
)
def test_status(fleet: AloSystem, status: Any, expected: list[str]) -> None:
    assert ids(fleet.list(status=status)) == expected


def test_operation(fleet: AloSystem) -> None:
    assert ids(fleet.list(operation="mail")) == ["a1", "a4", "a7", "a10"]
    assert ids(fleet.list(operation="nothing-by-that-name")) == []


def test_metadata_matches_every_pair_exactly(fleet: AloSystem) -> None:
    assert ids(fleet.list(metadata={"team": "billing"})) == ["a1", "a3", "a5", "a7", "a9", "a11"]
    assert ids(fleet.list(metadata={"team": "billing", "tier": "t1"})) == ["a1", "a5", "a9"]
    assert ids(fleet.list(metadata={"team": "bill"})) == []
    assert ids(fleet.list(metadata={"team": "billing", "tier": "t0"})) == []
    assert ids(fleet.list(metadata={})) == [f"a{i}" for i in range(12)]


def test_created_after_is_inclusive_and_created_before_exclusive(fleet: AloSystem) -> None:
    assert ids(fleet.list(created_after=T0 + 9)) == ["a9", "a10", "a11"]
    assert ids(fleet.list(created_before=T0 + 2)) == ["a0", "a1"]
    assert ids(fleet.list(created_after=T0 + 3, created_before=T0 + 5)) == ["a3", "a4"]
    moment = datetime.datetime.fromtimestamp(T0 + 10, datetime.UTC)
    assert ids(fleet.list(created_after=moment)) == ["a10", "a11"]


def test_filters_combined(fleet: AloSystem) -> None:
    assert ids(
        fleet.list(status=["running", "paused"], operation="charge", metadata={"team": "search"})
    ) == ["a0", "a6"]
    assert ids(
        fleet.list(
            status="completed",
            metadata={"team": "billing", "tier": "t3"},
            created_after=T0 + 2,
        )
    ) == ["a7"]
    assert ids(fleet.list(status="paused", operation="charge", created_before=T0 + 4)) == []
    assert ids(fleet.list(operation="mail", metadata={"tier": "t2"}, created_after=T0)) == ["a10"]


async def test_aio_list(fleet: AloSystem) -> None:
    page = await fleet.aio.list(status=Status.COMPLETED, limit=1)
    assert ids(page) == ["a1"]
    assert page.next_cursor is not None
    rest = await fleet.aio.list(status=Status.COMPLETED, limit=1, cursor=page.next_cursor)
    assert ids(rest) == ["a7"] and rest.next_cursor is None
    with pytest.raises(InvalidArgument):
        await fleet.aio.list(limit=0)


# -- pages ------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 6, 11, 12, 13])
def test_pages_join_up(fleet: AloSystem, limit: int) -> None:
    pages: list[list[str]] = []
    cursor = None
    while True:
        page = fleet.list(limit=limit, cursor=cursor)
        pages.append(ids(page))
        cursor = page.next_cursor
        if cursor is None:
            break
    assert [alo for p in pages for alo in p] == [f"a{i}" for i in range(12)]
    assert all(len(p) == limit for p in pages[:-1])
    assert pages[-1]  # no empty last page


def test_filtered_pages_join_up(fleet: AloSystem) -> None:
    assert every(fleet, limit=1, status="running,paused") == [
        "a0",
        "a4",
        "a5",
        "a6",
        "a8",
        "a9",
        "a10",
        "a11",
    ]
    assert every(fleet, limit=2, metadata={"team": "search"}, operation="charge") == [
        "a0",
        "a6",
    ]


def test_a_page_shows_what_start_just_committed(system: AloSystem) -> None:
    for i in range(50):
        system.start(f"x{i}")
        assert ids(system.list(limit=1000))[-1] == f"x{i}"


def test_pages_neither_skip_nor_repeat_while_others_start(system: AloSystem) -> None:
    for i in range(300):
        system.start(f"before-{i:04d}", metadata={"kind": "k"})
    stop = threading.Event()
    errors: list[BaseException] = []

    started = threading.Semaphore(0)

    def starter(name: str) -> None:
        n = 0
        try:
            while not stop.is_set():
                system.start(f"{name}-{n:05d}", metadata={"kind": "k"})
                started.release()
                n += 1
        except BaseException as exc:  # reported below
            errors.append(exc)

    listings: list[tuple[dict[str, Any], int]] = [({}, 7), ({"metadata": {"kind": "k"}}, 5)]
    seen: list[list[str]] = [[], []]
    cursors: list[str | None] = [None, None]
    ended = [False, False]
    threads = [threading.Thread(target=starter, args=(f"t{k}",)) for k in range(3)]
    for thread in threads:
        thread.start()
    try:
        # The starters are under way before the listing begins, so it pages while
        # they create (not, on a slow start, after it has caught up with nothing).
        for _ in range(6):
            assert started.acquire(timeout=WAIT)
        for _ in range(60):
            for k, (filters, limit) in enumerate(listings):
                if not ended[k]:
                    page = system.list(limit=limit, cursor=cursors[k], **filters)
                    seen[k].extend(ids(page))
                    cursors[k] = page.next_cursor
                    ended[k] = page.next_cursor is None  # caught up with the starters
    finally:
        stop.set()
        for thread in threads:
            thread.join(WAIT)
    assert not errors
    everything = every(system)
    assert len(everything) > 300 + 3
    for k, (filters, _) in enumerate(listings):
        while cursors[k] is not None:  # read on, now that nothing more is created
            page = system.list(limit=50, cursor=cursors[k], **filters)
            seen[k].extend(ids(page))
            cursors[k] = page.next_cursor
        assert len(set(seen[k])) == len(seen[k]), "an ALO was listed twice"
        # Creation order, and nothing left out before the last one listed.
        assert seen[k] == everything[: len(seen[k])]
        assert ended[k] or seen[k] == everything


# -- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"status": "finished"}, "unknown status 'finished'"),
        ({"status": ["running", "nope"]}, "unknown status 'nope'"),
        ({"status": []}, "names no status"),
        ({"status": ""}, "unknown status"),
        ({"status": 3}, "status must be"),
        ({"operation": ""}, "operation filter"),
        ({"metadata": {"k": 1}}, "strings"),
        ({"metadata": "team=x"}, "mapping"),
        ({"created_after": 5.0, "created_before": 5.0}, "range is empty"),
        ({"created_after": 6.0, "created_before": 5.0}, "range is empty"),
        ({"created_after": float("nan")}, "finite"),
        ({"created_before": "yesterday"}, "created_before must be"),
        ({"created_after": datetime.datetime(2025, 1, 1)}, "time zone"),
        ({"limit": 0}, "limit must be 1 to 1000"),
        ({"limit": 1001}, "limit must be 1 to 1000"),
        ({"limit": True}, "limit must be an integer"),
        ({"limit": "10"}, "limit must be an integer"),
        ({"cursor": "not a cursor!"}, "malformed cursor"),
        ({"cursor": "AAAA"}, "malformed cursor"),
        ({"cursor": ""}, "malformed cursor"),
        ({"cursor": 17}, "malformed cursor"),
        ({"cursor": "x" * 5000}, "malformed cursor"),
    ],
)
def test_bad_filters_are_invalid_arguments(
    system: AloSystem, filters: dict[str, Any], message: str
) -> None:
    system.start("one")
    with pytest.raises(InvalidArgument, match=message):
        system.list(**filters)


def test_a_cursor_only_continues_its_own_filters(fleet: AloSystem) -> None:
    cursor = fleet.list(status="running", limit=1).next_cursor
    assert cursor is not None
    with pytest.raises(InvalidArgument, match="other filters"):
        fleet.list(status="completed", cursor=cursor)
    # Equal filters, spelled differently, and another limit: the same listing.
    assert ids(fleet.list(status=[Status.RUNNING], cursor=cursor, limit=2)) == ["a6", "a8"]


# -- the command -------------------------------------------------------------------------


def alo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from alo_actor.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_alo_ls(fleet: AloSystem, db_path: str) -> None:
    shown = alo("ls", db_path, "--status", "completed", "--status", "paused")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].split() == [
        "ID",
        "STATUS",
        "OPERATION",
        "ATTEMPT",
        "CREATED",
        "SETTLED",
        "METADATA",
    ]
    assert [line.split()[:2] for line in lines[1:]] == [
        ["a1", "completed"],
        ["a4", "paused"],
        ["a5", "paused"],
        ["a7", "completed"],
    ]

    first = alo("ls", db_path, "--metadata", "team=billing", "--limit", "2", "--json")
    assert first.returncode == 0, first.stderr
    body = json.loads(first.stdout)
    assert [a["id"] for a in body["alos"]] == ["a1", "a3"]
    assert body["alos"][0]["status"] == "completed"
    rest = alo(
        "ls", db_path, "--metadata", "team=billing", "--json", "--cursor", body["next_cursor"]
    )
    assert [a["id"] for a in json.loads(rest.stdout)["alos"]] == ["a5", "a7", "a9", "a11"]

    ranged = alo(
        "ls",
        db_path,
        "--operation",
        "charge",
        "--created-after",
        str(T0 + 3),
        "--created-before",
        "1970-01-01T00:16:49Z",  # T0 + 9
    )
    assert [line.split()[0] for line in ranged.stdout.splitlines()[1:]] == ["a3", "a6"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--status", "done"], "unknown status 'done'"),
        (["--limit", "0"], "limit must be 1 to 1000"),
        (["--cursor", "@@"], "malformed cursor"),
        (["--metadata", "novalue"], "KEY=VALUE"),
        (["--created-after", "soon"], "must be a time"),
    ],
)
def test_alo_ls_refuses_bad_input(
    fleet: AloSystem, db_path: str, args: list[str], message: str
) -> None:
    shown = alo("ls", db_path, *args)
    assert shown.returncode == 2
    assert message in shown.stderr
    assert "Traceback" not in shown.stderr


def test_alo_ls_on_something_else(tmp_path: Any) -> None:
    missing = alo("ls", str(tmp_path / "missing.db"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    assert not (tmp_path / "missing.db").exists()


@pytest.mark.parametrize("sample", [1, 3, 20_000])
def test_time_ranges_page_alike_whether_or_not_they_bound_the_scan(
    fleet: AloSystem, monkeypatch: pytest.MonkeyPatch, sample: int
) -> None:
    """A short range bounds the seqs read; a long one (over the sample) is only checked."""
    monkeypatch.setattr(_plan, "TIME_SAMPLE", sample)
    window = {"created_after": T0 + 2, "created_before": T0 + 7}
    assert every(fleet, limit=2, **window) == ["a2", "a3", "a4", "a5", "a6"]
    assert every(fleet, limit=1, status="paused", **window) == ["a4", "a5"]
    assert every(fleet, limit=3, created_after=T0 + 10) == ["a10", "a11"]
    assert every(fleet, limit=3, created_before=T0 + 1) == ["a0"]
    assert ids(fleet.list(created_after=T0 + 100)) == []
    assert ids(fleet.list(created_before=T0 - 1)) == []
    # A cursor at the end of a range: the next page is empty, and has no cursor.
    first = fleet.list(created_before=T0 + 5, limit=4)
    assert ids(first) == ["a0", "a1", "a2", "a3"] and first.next_cursor is not None
    last = fleet.list(created_before=T0 + 5, limit=4, cursor=first.next_cursor)
    assert ids(last) == ["a4"] and last.next_cursor is None
