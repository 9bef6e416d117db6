"""``alo serve`` as a real subprocess on a free loopback port, and an httpx client for it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from tests.conftest import wait_until

REPO = Path(__file__).resolve().parents[2]
GREETING_APP = "tests.http.greeting_app:register"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
LANE = "alo_actor.http.lane"
# A handler of the lane's own that writes at once (the root logger's, which Litestar
# sets up, may hand records to a queue and write them later), run before ``alo``.
_LANE_LOGGING = (
    "import logging, sys; "
    f"lane = logging.getLogger({LANE!r}); lane.setLevel(logging.DEBUG); "
    "lane.propagate = False; lane.addHandler(logging.StreamHandler(sys.stderr)); "
)
_LANE_LINE = re.compile(r"(answered|passed) [A-Z]+ /\S*")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Served:
    """One ``alo serve`` process over ``db``; ``restart()`` brings it back on the same port.

    ``location`` serves another log instead (a PostgreSQL URL): ``db`` then only names
    the server's output file. With ``lane``, the hot path's lane logs at DEBUG which way
    each request went (see ``Lane``), before any byte of the answer is sent.
    """

    def __init__(
        self,
        db: Path,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        *,
        lane: bool = False,
        location: str | None = None,
    ):
        self.db = db
        self.location = str(db) if location is None else location
        self.args = list(args)
        self.env = env
        self.lane = lane
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = db.with_suffix(".log")

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-c",
            (_LANE_LOGGING if self.lane else "") + "from alo_actor.cli import main; main()",
            "serve",
            "--db",
            self.location,
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            *self.args,
        ]

    def start(self) -> Served:
        env = {**os.environ, **(self.env or {})}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(), cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"alo serve exited with {self.process.returncode}:\n{self.output}"
                )
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"alo serve did not answer within {START_TIMEOUT} s:\n{self.output}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Ask it to shut down and wait for it; returns the exit status."""
        process = self.process
        assert process is not None
        if process.poll() is None:
            process.send_signal(sig)
        try:
            return process.wait(STOP_TIMEOUT)
        finally:
            self.kill()

    def restart(self) -> Served:
        self.stop()
        return self.start()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT)

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=10, **kwargs)  # type: ignore[arg-type]


class Lane:
    """What a ``Served(lane=True)``'s lane logged, read on from where the last look ended.

    The lane writes its line before it answers or passes a request on, so once a
    response is in (or the server is seen waiting), its line is in the log.
    """

    def __init__(self, served: Served) -> None:
        self.log = served.log
        self.offset = self.log.stat().st_size if self.log.exists() else 0

    def since(self) -> list[str]:
        """The lane's lines since the last call: ``answered GET /path``, ``passed …``."""
        with self.log.open("rb") as f:
            f.seek(self.offset)
            text = f.read()
        self.offset += len(text)
        lines = text.decode(errors="replace").splitlines()
        return [line for line in lines if _LANE_LINE.fullmatch(line)]

    def wait_for(self, line: str) -> None:
        """Return once the lane has logged ``line`` (fail after a while)."""
        seen: list[str] = []

        def logged() -> bool:
            seen.extend(self.since())
            return line in seen

        wait_until(logged, what=f"the lane to log {line!r}")


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server for the route tests, with the greeting handlers loaded through ``--app``
    and the lane's log (``lane``)."""
    server = Served(
        tmp_path_factory.mktemp("served") / "alo.db", ["--app", GREETING_APP], lane=True
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def lane(served: Served) -> Lane:
    """The shared server's lane log, from now on."""
    return Lane(served)


@pytest.fixture
def client(served: Served) -> Iterator[httpx.Client]:
    with served.client() as http:
        yield http


@pytest.fixture
def new_id() -> str:
    """An id no other test uses."""
    return f"alo-{uuid.uuid4().hex}"
