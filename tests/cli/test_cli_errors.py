"""What a new user's mistakes get from ``alo`` (issue 18, point 5): one clear line, no
traceback, nothing written; and help texts that say what they offer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from alo_actor import AloSystem

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "simpy_shop.py"


def run(*args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=REPO,
        env={**os.environ, "COLUMNS": str(columns)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def alo(*args: str) -> subprocess.CompletedProcess[str]:
    return run(sys.executable, "-c", "from alo_actor.cli import main; main()", *args)


def one_line(done: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    assert done.returncode == code, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "ExceptionGroup" not in done.stderr
    for word in words:
        assert word in done.stderr, done.stderr
    return done.stderr


@pytest.mark.parametrize("where", ["missing-dir", "directory"])
def test_serve_on_a_path_where_no_log_can_be(tmp_path: Path, where: str) -> None:
    db = tmp_path / "no" / "such" / "x.db" if where == "missing-dir" else tmp_path
    said = one_line(alo("serve", "--db", str(db)), 2)
    assert said.startswith("alo serve: ") and len(said.splitlines()) == 1
    assert ("there is no directory" if where == "missing-dir" else "is a directory") in said
    assert not (tmp_path / "no").exists()


def test_serve_on_a_file_that_is_not_a_log(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    said = one_line(alo("serve", "--db", str(notes)), 2, "not an event log")
    assert len(said.splitlines()) == 1
    assert notes.read_text() == "hello\n"


def test_an_app_that_raises_says_what_and_where(tmp_path: Path) -> None:
    said = one_line(
        alo("serve", "--db", str(tmp_path / "alo.db"), "--app", "tests.cli.raising_app:register"),
        3,
        "--app tests.cli.raising_app:register raised RuntimeError: no payment gateway configured",
        "raising_app.py, line 9, in register",
    )
    assert len(said.splitlines()) == 2


def test_an_app_that_fails_to_import_says_so(tmp_path: Path) -> None:
    said = one_line(
        alo("serve", "--db", str(tmp_path / "alo.db"), "--app", "tests.cli.broken_app:register"),
        2,
        "importing 'tests.cli.broken_app' raised ValueError",
        "broken_app.py, line 5",
    )
    assert not (tmp_path / "alo.db").exists()
    assert "Traceback" not in said


@pytest.mark.parametrize(
    "verb",
    [("log", "show"), ("log", "verify"), ("log", "export"), ("log", "tail"), ("ls",)],
)
def test_reading_a_directory_as_a_log(tmp_path: Path, verb: tuple[str, ...]) -> None:
    said = one_line(alo(*verb, str(tmp_path)), 2, "is a directory, not a log file")
    assert "disk I/O error" not in said


def test_a_purge_of_nothing_writes_no_archive(tmp_path: Path) -> None:
    db = tmp_path / "alo.db"
    with AloSystem.open(str(db)) as system:
        system.start("still-open")
    archive = tmp_path / "old.jsonl"
    done = alo("purge", str(db), "--settled-before", "0s", "--archive", str(archive))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("purged 0 ALOs")
    assert not archive.exists()


def test_the_simpy_example_refuses_a_log_it_has_used(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    first = run(sys.executable, str(EXAMPLE), "--db", str(db), "--customers", "3")
    assert first.returncode == 0, first.stderr
    again = run(sys.executable, str(EXAMPLE), "--db", str(db), "--customers", "3")
    assert again.returncode == 2
    assert "already holds a run of the shop" in again.stderr
    assert "Traceback" not in again.stderr


COMMANDS = [
    ("worker",),
    (),
    ("serve",),
    ("demo",),
    ("start",),
    ("info",),
    ("result",),
    ("complete",),
    ("fail",),
    ("cancel",),
    ("pause",),
    ("resume",),
    ("ls",),
    ("purge",),
    ("projection", "rebuild"),
    ("log",),
    ("log", "show"),
    ("log", "replay"),
    ("log", "verify"),
    ("log", "export"),
    ("log", "tail"),
    ("log", "plot"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "alo")
def test_help_fits_80_columns_and_shows_no_markup_or_bool_metavars(
    command: tuple[str, ...],
) -> None:
    done = alo(*command, "--help")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "<bool>" not in text and "…" not in text
    options = [line for line in text.splitlines() if line.lstrip().startswith("-")]
    assert not [line for line in options if "<str>" in line or "<int" in line], text
    assert all(len(line) <= 80 for line in text.splitlines()), text
    assert "shared/" not in text and "http.md" not in text.replace("docs/http.md", "")


def test_help_texts_say_what_they_offer() -> None:
    serve = alo("serve", "--help").stdout
    assert "--allow-callback-host HOST" in serve
    assert "--access-log / --no-access-log" in serve
    assert "--webhook-secret SECRET" in serve and "ALO_WEBHOOK_SECRET" in serve
    assert "--log-format <text|json>" in serve
    assert '{"alos": [info...], "next_cursor"}' in alo("ls", "--help").stdout
    purge = alo("purge", "--help").stdout
    status_help = purge[purge.index("--status") : purge.index("--archive")]
    assert "running" not in status_help and "paused" not in status_help
    assert "completed" in status_help
    flags = alo("serve", "--access-log=yes", "--db", "/nonexistent/x.db")
    assert flags.returncode == 2 and "does not take a value" in flags.stderr


def test_purge_refuses_an_open_status_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "alo.db"
    AloSystem.open(str(db)).close()
    one_line(
        alo("purge", str(db), "--settled-before", "1d", "--status", "running"), 2, "only settled"
    )


def test_an_async_app_is_awaited_before_the_server_listens(tmp_path: Path) -> None:
    from alo_actor.client import AloClient
    from tests.http.conftest import Served

    server = Served(tmp_path / "alo.db", ["--app", "tests.cli.async_app:register"]).start()
    try:
        with AloClient(server.base_url) as client:
            client.start("a", "greeting", {"name": "Ada"})
            assert client.get_result("a", timeout=10) == {"greeting": "Hello, Ada!"}
    finally:
        server.stop()
