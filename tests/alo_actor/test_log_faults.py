"""A log that cannot be written, met through the Python API: ``Unavailable`` naming the
cause, nothing half-written, and writes again once the cause is gone.

The file is made "full" with ``PRAGMA max_page_count`` on the writer's connection:
SQLite then fails exactly as on a full disk (SQLITE_FULL). The same faults on a real
full disk, I/O error and read-only file, through ``alo serve``, are in
``tests/http/test_faults.py``.
"""

from __future__ import annotations

import sqlite3

import pytest

from alo_actor import AloSystem, NotFound, Unavailable
from alo_actor.logtools import verify
from eventlog._sqlite import SqliteEventLog

MAX_PAGES = 1_073_741_823  # SQLite's own ceiling


def writer_connection(system: AloSystem) -> sqlite3.Connection:
    log = system.log
    assert isinstance(log, SqliteEventLog)
    return log._writer._conn  # the test's one reach inside


def fill_up(system: AloSystem) -> list[str]:
    """Cap the file at its size now, then start ALOs until three are refused; their ids."""
    conn = writer_connection(system)
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    refused = []
    for n in range(2000):
        try:
            system.start(f"full-{n}", None, "x" * 4000)
        except Unavailable:
            refused.append(f"full-{n}")
            if len(refused) == 3:
                return refused
    raise AssertionError("the capped log took 2,000 starts")


def test_a_full_log_raises_unavailable_and_resumes(db_path: str) -> None:
    with AloSystem.open(db_path) as system:
        system.start("before", None)
        refused = fill_up(system)
        with pytest.raises(Unavailable) as raised:
            system.complete("before", {"too": "late" * 1000})
        message = str(raised.value)
        # The real cause, not the failed ROLLBACK that used to hide it.
        assert "disk is full" in message and "rollback" not in message.lower()
        assert system.log.unwritable is not None
        assert system.get_info("before").status.value == "running"  # reads go on
        for alo_id in refused:
            with pytest.raises(NotFound):
                system.get_info(alo_id)
        writer_connection(system).execute(f"PRAGMA max_page_count = {MAX_PAGES}")
        assert system.log.probe() is None and system.log.unwritable is None
        system.complete("before", {"in": "time"})
        assert system.start(refused[0], None).created
    assert verify(db_path) == []


async def test_the_async_face_raises_it_too(db_path: str) -> None:
    with AloSystem.open(db_path) as system:
        fill_up(system)
        with pytest.raises(Unavailable, match="disk is full"):
            await system.aio.start("async", None, "x" * 4000)
        writer_connection(system).execute(f"PRAGMA max_page_count = {MAX_PAGES}")
        assert (await system.aio.start("async", None)).created
