"""The log's faults met for real by a running ``alo serve``: a full disk (a small tmpfs
filled up), an I/O error (the server's file-size limit lowered under it), a read-only
file (``chattr +i``), a WAL file deleted under it.

Each time: writes answer 503 with a Failure naming the cause, ``/readyz`` says the
same while ``/healthz`` stays 200, reads go on; what was acknowledged is all there
after a SIGKILL and a restart, what was refused is not (nothing half-written), and
``alo log verify`` passes. A full disk and an I/O error pass by themselves once the
cause is gone. These tests need root (mount, chattr), as the project's machines give.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from alo_actor.logtools import verify
from tests.conftest import wait_until
from tests.http.conftest import Served
from tests.http.support import failure_of

WRITES = 400  # more than enough to meet the fault: the first write usually does
PAYLOAD = "y" * 2000


class Ledger:
    """What the server answered to each start: acknowledged (201) or refused (503)."""

    def __init__(self) -> None:
        self.acked: list[str] = []
        self.refused: list[str] = []

    def write(
        self, client: httpx.Client, prefix: str, until_refused: bool = False, count: int = 20
    ) -> str | None:
        """Start ``count`` ALOs named ``prefix-N``; with ``until_refused``, up to WRITES
        of them, stopping at the first 503, whose message it returns."""
        for n in range(WRITES if until_refused else count):
            alo_id = f"{prefix}-{n}"
            response = client.post("/v1/alos", json={"id": alo_id, "input": PAYLOAD})
            if response.status_code == 201:
                self.acked.append(alo_id)
                continue
            body = failure_of(response, 503, "Unavailable")
            self.refused.append(alo_id)
            if until_refused:
                return str(body["message"])
        assert not until_refused, f"{WRITES} writes and none was refused"
        return None

    def check_after_a_kill(self, server: Served, restart: bool = False) -> None:
        """SIGKILL; then the file holds every acknowledged ALO and no refused one, and
        keeps every invariant (with ``restart``, the restarted server shows the same)."""
        assert server.process is not None
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(30)
        with contextlib.closing(sqlite3.connect(f"file:{server.db}?mode=ro", uri=True)) as conn:
            stored = {row[0] for row in conn.execute("SELECT DISTINCT stream_id FROM events")}
        assert set(self.acked) <= stored, set(self.acked) - stored
        assert not set(self.refused) & stored
        assert verify(str(server.db)) == []
        if restart:
            server.start()
            with server.client() as client:
                for alo_id in (self.acked[0], self.acked[-1]):
                    assert client.get(f"/v1/alos/{alo_id}").status_code == 200
                assert client.get(f"/v1/alos/{self.refused[0]}").status_code == 404
                assert client.get("/readyz").status_code == 200
                self.write(client, "restarted", count=1)
            server.stop()


def unready(client: httpx.Client, naming: str) -> None:
    failure = failure_of(client.get("/readyz"), 503, "Unavailable")
    assert naming in failure["message"], failure
    assert client.get("/healthz").status_code == 200


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs, unmounted at the end."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)],
        check=True,
        capture_output=True,
    )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(directory: Path) -> Path:
    filler = directory / "filler"
    with contextlib.suppress(OSError), filler.open("wb") as out:
        while True:
            out.write(b"\0" * 65536)
            out.flush()
    return filler


def test_a_full_disk_answers_503_and_passes_when_space_returns(small_disk: Path) -> None:
    server = Served(small_disk / "alo.db").start()
    ledger = Ledger()
    try:
        with server.client() as client:
            ledger.write(client, "before")
            filler = fill(small_disk)
            message = ledger.write(client, "full", until_refused=True)
            assert message is not None and "disk is full" in message
            unready(client, "disk is full")
            assert client.get(f"/v1/alos/{ledger.acked[0]}").status_code == 200
            filler.unlink()
            # Readiness comes back with no client writing: /readyz tries a write itself.
            assert client.get("/readyz").status_code == 200
            ledger.write(client, "after")
            assert ledger.refused[-1].startswith("full-")
        ledger.check_after_a_kill(server)
    finally:
        server.kill()


def test_an_io_error_answers_503_and_passes_when_it_stops(tmp_path: Path) -> None:
    server = Served(tmp_path / "alo.db").start()
    ledger = Ledger()
    try:
        with server.client() as client:
            ledger.write(client, "before")
            assert server.process is not None
            pid = server.process.pid
            # No file of the server's may grow past its size now: SQLite's write of the
            # WAL fails with EFBIG (Python ignores SIGXFSZ), an I/O error to SQLite.
            wal = Path(f"{server.db}-wal")
            resource.prlimit(
                pid, resource.RLIMIT_FSIZE, (wal.stat().st_size, resource.RLIM_INFINITY)
            )
            message = ledger.write(client, "failing", until_refused=True)
            assert message is not None and "I/O error" in message
            unready(client, "I/O error")
            unlimited = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
            resource.prlimit(pid, resource.RLIMIT_FSIZE, unlimited)
            assert client.get("/readyz").status_code == 200
            ledger.write(client, "after")
        ledger.check_after_a_kill(server)
    finally:
        server.kill()


def test_a_read_only_file_answers_503_and_says_so_at_once(tmp_path: Path) -> None:
    server = Served(tmp_path / "alo.db").start()
    ledger = Ledger()
    try:
        with server.client() as client:
            ledger.write(client, "before")
        server.stop()
        # Immutable even for root: SQLite then opens the file read-only.
        subprocess.run(["chattr", "+i", str(server.db)], check=True, capture_output=True)
        try:
            server.start()
            with server.client() as client:
                # Known before any client wrote: the server tried a write at startup.
                unready(client, "read-only")
                message = ledger.write(client, "read-only", until_refused=True)
                assert message is not None and "read-only" in message
                assert client.get(f"/v1/alos/{ledger.acked[0]}").status_code == 200
            assert "read-only" in server.output
        finally:
            subprocess.run(["chattr", "-i", str(server.db)], check=True)
        ledger.check_after_a_kill(server)
    finally:
        server.kill()


@pytest.mark.parametrize("then", ["a write", "nothing"])
def test_a_deleted_wal_file_is_noticed_and_nothing_acknowledged_is_lost(
    tmp_path: Path, then: str
) -> None:
    server = Served(tmp_path / "alo.db").start()
    ledger = Ledger()
    try:
        with server.client() as client:
            ledger.write(client, "before")
            os.unlink(f"{server.db}-wal")
            if then == "a write":
                message = ledger.write(client, "after", until_refused=True)
                assert message is not None and "WAL file" in message
                assert ledger.refused == ["after-0"]
            else:
                # Idle, the server still notices within about a second.
                wait_until(lambda: client.get("/readyz").status_code == 503, what="not ready")
            unready(client, "WAL file")
            # Writes stay refused until a restart; reads go on.
            ledger.write(client, "later", until_refused=True)
            assert client.get(f"/v1/alos/{ledger.acked[-1]}").status_code == 200
        assert "WAL file" in server.output
        # The rows the lost WAL file held were copied into the database when noticed;
        # a restart opens a new WAL file and takes writes again.
        ledger.check_after_a_kill(server, restart=then == "a write")
    finally:
        server.kill()
