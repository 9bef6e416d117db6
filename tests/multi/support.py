"""A group of real processes over one log: `alo serve` and `alo worker` subprocesses,
the record their handlers keep, and checks on it. The log is a SQLite file, or a
PostgreSQL database that the processes share as processes on several hosts would."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from eventlog import LogReader
from tests.conftest import WAIT
from tests.http.conftest import REPO, Served

WORK_APP = "tests.multi.work_app:register"
# Short leases keep takeovers quick; they are the configurable lease of semantics §8.
LEASE = 2.0


class Worker:
    """One ``alo worker`` process over the log at ``location``, its output in ``root``."""

    def __init__(
        self, location: str, root: Path, env: dict[str, str], args: Sequence[str] = ()
    ) -> None:
        self.location = location
        self.env = env
        self.args = list(args)
        self.process: subprocess.Popen[bytes] | None = None
        self.log = root / f"worker-{time.monotonic_ns()}.log"

    def start(self) -> Worker:
        command = [
            sys.executable,
            "-c",
            "from alo_actor.cli import main; main()",
            "worker",
            "--db",
            self.location,
            "--app",
            WORK_APP,
            *self.args,
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=REPO, env={**os.environ, **self.env}, stdout=log, stderr=log
            )
        deadline = time.monotonic() + WAIT * 3
        while b"alo worker on" not in self.log.read_bytes():
            if self.process.poll() is not None:
                raise RuntimeError(f"alo worker exited:\n{self.output}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"alo worker did not start:\n{self.output}")
            time.sleep(0.02)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(WAIT * 3)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(WAIT)


@dataclass
class Group:
    """Processes sharing one log, their handlers' record, and the file that lets the
    ``work`` handlers finish. The log is ``location``: by default the SQLite file
    ``root/alo.db``, or a PostgreSQL URL."""

    root: Path
    location: str = ""
    db: Path = field(init=False)
    record: Path = field(init=False)
    release: Path = field(init=False)
    members: list[Served | Worker] = field(default_factory=list)
    _reader: LogReader | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.db = self.root / "alo.db"
        self.location = self.location or str(self.db)
        self.record = self.root / "record.jsonl"
        self.release = self.root / "release"
        self.record.touch()

    @property
    def env(self) -> dict[str, str]:
        return {"ALO_TEST_RECORD": str(self.record), "ALO_TEST_RELEASE": str(self.release)}

    def serve(self, *args: str) -> Served:
        server = Served(
            self.db,
            ["--app", WORK_APP, "--lease-seconds", str(LEASE), *args],
            env=self.env,
            location=self.location,
        )
        self.members.append(server)
        return server.start()

    def worker(self, *args: str) -> Worker:
        worker = Worker(self.location, self.root, self.env, ["--lease-seconds", str(LEASE), *args])
        self.members.append(worker)
        return worker.start()

    def close(self) -> None:
        for member in self.members:
            member.kill()
        if self._reader is not None:
            self._reader.close()

    # -- what the handlers recorded ---------------------------------------------------

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.record.read_text().splitlines() if line]

    def begun(self, alo_id: str) -> list[dict[str, Any]]:
        return [r for r in self.lines() if r["event"] == "begin" and r["id"] == alo_id]

    def wait_for(
        self, what: str, predicate: Callable[[], bool], timeout: float = WAIT * 3
    ) -> float:
        """Wait until ``predicate()``; the seconds it took. Fails the test after ``timeout``."""
        began = time.monotonic()
        while not predicate():
            if time.monotonic() - began > timeout:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            time.sleep(0.01)
        return time.monotonic() - began

    def assert_one_runner_at_a_time(self, killed: dict[int, float] | None = None) -> None:
        """No two processes ran attempts of one ALO at the same time: per ALO, each
        attempt's span (its begin to its end, or to its process's kill) ends before the
        next one's begins, whoever ran it."""
        killed = killed or {}
        spans: dict[str, list[tuple[float, float, int, int]]] = defaultdict(list)
        open_spans: dict[tuple[str, int, int], float] = {}
        for line in self.lines():
            key = (line["id"], line["attempt"], line["pid"])
            if line["event"] == "begin":
                open_spans[key] = line["at"]
            else:
                spans[line["id"]].append((open_spans.pop(key), line["at"], line["pid"], key[1]))
        for (alo_id, attempt, pid), began in open_spans.items():
            end = killed.get(pid, float("inf"))
            spans[alo_id].append((began, end, pid, attempt))
        for alo_id, runs in spans.items():
            runs.sort()
            for (_, end, pid, attempt), (began, _, other, later) in itertools.pairwise(runs):
                assert end <= began, (
                    f"{alo_id}: attempt {attempt} on pid {pid} still ran when attempt "
                    f"{later} began on pid {other}"
                )

    def verify(self) -> None:
        """`alo log verify` passes on the shared log."""
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                "from alo_actor.cli import main; main()",
                "log",
                "verify",
                self.location,
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=WAIT * 6,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr

    def owners(self) -> dict[str, int]:
        """Which member holds how many shards, from the lease table (read only)."""
        if self._reader is None:
            self._reader = LogReader.open(self.location)
        rows = self._reader.query(
            "SELECT owner, COUNT(*) FROM leases WHERE owner IS NOT NULL GROUP BY owner"
        )
        return {owner: int(count) for owner, count in rows}


def iter_groups(tmp_path: Path, location: str = "") -> Iterator[Group]:
    """A group over the SQLite file in ``tmp_path``, or over the log at ``location``."""
    group = Group(tmp_path, location)
    try:
        yield group
    finally:
        group.close()


def start_many(server: Served, ids: Sequence[str], operation: str | None) -> None:
    with httpx.Client(base_url=server.base_url, timeout=WAIT) as http:
        for alo_id in ids:
            body: dict[str, Any] = {"id": alo_id}
            if operation is not None:
                body["operation"] = operation
            response = http.post("/v1/alos", json=body)
            assert response.status_code == 201, response.text
