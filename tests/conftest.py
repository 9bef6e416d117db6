"""Fixtures shared by the test suites: real SQLite files in ``tmp_path``, a real PostgreSQL
cluster per session, real systems."""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest

from alo_actor import AloSystem
from tests.postgres import PostgresServer, ServerFailed, running_server

# Every wait in the tests is bounded by this (seconds); a healthy run needs far less.
WAIT = 10.0


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT, what: str = "") -> None:
    """Poll ``predicate`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(0.005)


def read_line(stream: IO[str], timeout: float = WAIT, what: str = "a line") -> str:
    """The next line a child process writes to ``stream`` (its stdout pipe), stripped;
    fail the test if none comes within ``timeout`` seconds (the child prints whole
    lines and flushes)."""
    ready, _, _ = select.select([stream], [], [], timeout)
    if not ready:
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")
    return stream.readline().strip()


def waiters(system: AloSystem, alo_id: str) -> int:
    """How many callers wait on the ALO's outcome, as its supervisor knows them.

    For a test that must act only once a waiter is registered (a wait that began
    after the act would see the outcome at once, and test nothing). The entities
    are read through the host actor (pykka gets the attribute on its thread).
    """
    entities = system._ref.proxy().entities.get(timeout=WAIT)
    entity = entities.get(alo_id)
    attached = None if entity is None else entity.attached
    return 0 if attached is None else len(attached.waiters)


def wait_for_waiters(system: AloSystem, alo_id: str, count: int = 1) -> None:
    """Return once ``count`` callers wait on the ALO's outcome (fail after WAIT)."""
    wait_until(lambda: waiters(system, alo_id) >= count, what=f"{count} waiter(s) on {alo_id!r}")


def actor_thread_names() -> set[str]:
    """Names of the live pykka actor threads of the ALO supervisor (pykka names a
    thread after its actor class: ``EntityHost-N``)."""
    return {t.name for t in threading.enumerate() if t.name.startswith("EntityHost")}


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "alo.db")


@pytest.fixture
def system(db_path: str) -> Iterator[AloSystem]:
    opened = AloSystem.open(db_path)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """An event blocking handlers wait on; set at teardown so no handler outlives its test."""
    event = threading.Event()
    try:
        yield event
    finally:
        event.set()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster of this test session's own (see ``tests.postgres``). A test
    that needs one fails, never skips, when it cannot start."""
    try:
        context = running_server()
        server = context.__enter__()
    except ServerFailed as exc:
        pytest.fail(f"PostgreSQL could not start: {exc}")
    try:
        yield server
    finally:
        context.__exit__(None, None, None)


@pytest.fixture
def pg_url(postgres: PostgresServer) -> Iterator[str]:
    """The URL of a log in a fresh schema of its own, dropped after the test."""
    schema = postgres.new_schema()
    try:
        yield postgres.url(schema)
    finally:
        postgres.drop_schema(schema)
