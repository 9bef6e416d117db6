"""The README, run as a new user runs it: each snippet does, and prints, what it says.

A shell line followed by ``# ...`` lines must print those lines (``...`` matches
anything); a Python ``print(...)  # text`` must print ``text``. The snippets run in
the README's order, against a real ``alo serve`` of the built-in greeting app.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.http.conftest import Served

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
ALO = str(Path(sys.executable).with_name("alo"))
GREETING = "alo_actor.examples.greeting:register"
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks(language: str) -> list[str]:
    return [body for lang, body in _FENCE.findall(README) if lang == language]


def block_after(heading: str, language: str) -> str:
    """The first ``language`` block after ``heading``."""
    section = README[README.index(heading) :]
    for lang, body in _FENCE.findall(section):
        if lang == language:
            return str(body)
    raise AssertionError(f"no {language} block after {heading!r}")


def expected_lines(script: str) -> list[tuple[str, list[str]]]:
    """Each command line and the ``# `` lines right after it (its expected output)."""
    steps: list[tuple[str, list[str]]] = []
    for line in script.splitlines():
        if line.startswith("# ") and steps:
            steps[-1][1].append(line[2:])
        elif line.strip() and not line.startswith("#"):
            steps.append((line, []))
    return steps


def matches(output: list[str], expected: list[str]) -> bool:
    for n, pattern in enumerate(expected):
        if pattern == "...":
            return len(output) >= n
        if n >= len(output):
            return False
        regex = ".*".join(re.escape(part) for part in pattern.split("..."))
        if not re.fullmatch(regex, output[n]):
            return False
    return len(output) == len(expected)


def run_shell(script: str, cwd: Path, base_url: str, skip: tuple[str, ...] = ()) -> None:
    """Run each command of a README shell block; check the output it says it prints."""
    port = base_url.rsplit(":", 1)[1]
    env = {**os.environ, "ALO_URL": base_url}
    for command, expected in expected_lines(script):
        if any(word in command for word in skip):
            continue
        line = command.replace("localhost:8080", f"127.0.0.1:{port}")
        line = re.sub(r"(?<![\w/.-])(\.venv/bin/)?alo(?= )", ALO, line)
        done = subprocess.run(
            ["bash", "-c", line],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        if expected:
            assert matches(done.stdout.splitlines(), expected), (command, done.stdout, expected)


def printed_comments(code: str) -> list[str]:
    return [
        match.group(1).strip()
        for match in re.finditer(r"print\(.*\)\s+# (.*)$", code, re.MULTILINE)
    ]


def run_python(code: str, cwd: Path) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.fixture
def greeting_server(tmp_path: Path) -> Iterator[Served]:
    server = Served(tmp_path / "alo.db", ["--app", GREETING]).start()
    try:
        yield server
    finally:
        server.stop()


def test_make_run_serves_the_greeting_and_takes_port_and_db() -> None:
    dry = subprocess.run(
        ["make", "-n", "run", "PORT=9123", "DB=/tmp/other.db"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert dry.returncode == 0, dry.stderr
    assert f"alo serve --db /tmp/other.db --port 9123 --app {GREETING}" in dry.stdout
    assert README.startswith("# alo-actor")
    first = blocks("sh")[0].splitlines()
    assert [line.split()[:2] for line in first] == [["make", "run"], ["make", "test"]]


def test_the_quick_start_the_client_the_verbs_and_the_log_tools(
    greeting_server: Served, tmp_path: Path
) -> None:
    url = greeting_server.base_url
    run_shell(block_after("With it running, from another terminal", "sh"), tmp_path, url)

    client = block_after("## A Python client", "python").replace("http://127.0.0.1:8080", url)
    assert run_python(client, tmp_path) == printed_comments(client)

    verbs = block_after("The same verbs from a shell", "sh")
    run_shell(verbs, tmp_path, url)

    greeting_server.stop()  # the tools below read (and purge) the file on their own
    run_shell(block_after("## Debugging with the log", "sh"), tmp_path, url, skip=("--follow",))
    run_shell(block_after("## Listing and retention", "sh"), tmp_path, url)
    assert (tmp_path / "events.jsonl").stat().st_size > 0
    assert (tmp_path / "lifetimes.png").exists()


def test_your_own_handlers_as_an_app_module(tmp_path: Path) -> None:
    module = block_after("## Your own handlers", "python")
    (tmp_path / "myhandlers.py").write_text(module)
    server = Served(
        tmp_path / "alo.db", ["--app", "myhandlers:register"], env={"PYTHONPATH": str(tmp_path)}
    ).start()
    try:
        script = block_after("## Your own handlers", "sh")
        run_shell(script, tmp_path, server.base_url, skip=("alo serve",))
    finally:
        server.stop()


def test_the_embedding_snippet_prints_what_it_says(tmp_path: Path) -> None:
    code = block_after("## Embedding", "python")
    expected = printed_comments(code)
    assert expected == ["running True", "{'greeting': 'Hello, Ada!'}"]
    assert run_python(code, tmp_path) == expected
    # Run again on the same file: what the paragraph below it says.
    assert run_python(code, tmp_path) == ["completed False", "{'greeting': 'Hello, Ada!'}"]
    assert "the first line says `completed False`" in README


def test_no_link_leaves_the_repository() -> None:
    assert "../shared" not in README and "shared/spec" not in README
    for target in re.findall(r"\]\(([^)#]+)", README):
        if "://" not in target:
            assert (REPO / target).exists(), target
    for doc in (REPO / "docs").glob("*.md"):
        for target in re.findall(r"\]\(([^)#]+)", doc.read_text()):
            if "://" not in target:
                assert (doc.parent / target).exists(), (doc.name, target)
