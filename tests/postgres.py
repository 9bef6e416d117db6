"""A throwaway PostgreSQL cluster for the tests: made with initdb, run with pg_ctl.

One cluster per test session, in a temporary directory, listening only on a Unix
socket in that directory (no TCP port at all). Made as the ``postgres`` user when the
tests run as root (initdb refuses root). fsync and synchronous_commit stay as
PostgreSQL ships them (on), so a test that relies on durability tests it for real;
only initdb itself runs with ``--no-sync`` (its files need not survive a power cut),
and the cluster is stopped with ``-m immediate`` (it is deleted right after).
A test gets a fresh log as a schema of its own in one database, which is much
quicker to make than a database.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

DATABASE = "alo_test"
PORT = 5432  # only names the socket file: nothing listens on TCP
_STOP_TIMEOUT = 60


class ServerFailed(RuntimeError):
    """The cluster could not be made or started (the tests fail, never skip)."""


def _bindir() -> Path:
    """Where initdb and pg_ctl are: Debian keeps them out of PATH, by major version."""
    for found in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(found, "initdb")):
            return Path(found)
    initdb = shutil.which("initdb")
    if initdb is None:
        raise ServerFailed("PostgreSQL is not installed (no initdb): apt-get install -y postgresql")
    return Path(os.path.realpath(initdb)).parent


@dataclass
class PostgresServer:
    """A running cluster; ``url(schema)`` names a log in a schema of its own."""

    directory: Path
    bindir: Path
    _schemas: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def url(self, schema: str | None = None, database: str = DATABASE) -> str:
        query = {"host": str(self.directory), "port": str(PORT), "user": "postgres"}
        if schema is not None:
            query["options"] = f"-csearch_path={schema}"
        return f"postgresql:///{database}?{urllib.parse.urlencode(query)}"

    def admin(self, database: str = DATABASE) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url(database=database), autocommit=True)

    def new_schema(self, prefix: str = "t") -> str:
        """A new, empty schema (its name) in the test database."""
        name = f"{prefix}{os.getpid()}_{next(self._schemas)}"
        with self.admin() as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        return name

    def drop_schema(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')

    def terminate(self, application_name: str | None = None) -> int:
        """End every other session of the test database (as a server restart would);
        how many."""
        with self.admin() as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid() "
                "AND (%s::text IS NULL OR application_name = %s)",
                (DATABASE, application_name, application_name),
            ).fetchall()
        return len(rows)


def _as_postgres(args: list[str]) -> list[str]:
    """``args`` as a command run by the ``postgres`` user when we are root."""
    if os.geteuid() != 0:
        return args
    return ["runuser", "-u", "postgres", "--", *args]


def _run(args: list[str], what: str, log: Path | None = None) -> None:
    done = subprocess.run(
        _as_postgres(args), capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
        raise ServerFailed(f"{what} failed ({done.returncode}): {done.stderr}{done.stdout}{tail}")


@contextlib.contextmanager
def running_server() -> Iterator[PostgresServer]:
    """Make, start, and at the end stop and remove a cluster. Raises ServerFailed."""
    bindir = _bindir()
    directory = Path(tempfile.mkdtemp(prefix="alo-pg-"))
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError as exc:
            raise ServerFailed("running as root, and there is no postgres user") from exc
        os.chown(directory, user.pw_uid, user.pw_gid)
    server = PostgresServer(directory, bindir)
    log = directory / "server.log"
    started = False
    try:
        _run(
            [
                str(bindir / "initdb"),
                "-D",
                str(server.data),
                "-E",
                "UTF8",
                "--locale=C",
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
            "initdb",
        )
        options = (
            f"-c listen_addresses='' -c unix_socket_directories='{directory}' -c port={PORT} "
            "-c max_connections=300"
        )
        _run(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(server.data),
                "-l",
                str(log),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ],
            "pg_ctl start",
            log,
        )
        started = True
        with server.admin(database="postgres") as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
        yield server
    finally:
        if started:
            with contextlib.suppress(ServerFailed, subprocess.TimeoutExpired):
                _run(
                    [
                        str(bindir / "pg_ctl"),
                        "-D",
                        str(server.data),
                        "-m",
                        "immediate",
                        "-w",
                        "-t",
                        str(_STOP_TIMEOUT),
                        "stop",
                    ],
                    "pg_ctl stop",
                    log,
                )
        shutil.rmtree(directory, ignore_errors=True)
