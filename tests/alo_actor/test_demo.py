"""``alo demo``: the greeting example runs, survives a reopen, and runs again on one file."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from alo_actor import AloSystem, Status

ALO = Path(sys.executable).with_name("alo")
REPO = Path(__file__).resolve().parents[2]


def _demo(db: Path, *extra: str) -> str:
    done = subprocess.run(
        [str(ALO), "demo", "--db", str(db), *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_demo_runs_twice_on_one_file(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    first = _demo(db)
    second = _demo(db, "--name", "Grace")
    ids = []
    for out, name, count in ((first, "Ada", 1), (second, "Grace", 2)):
        match = re.search(r"started: id=(greeting-[0-9a-f]+) .*status=running.*created=True", out)
        assert match, out
        ids.append(match.group(1))
        assert f"result: {{'greeting': 'Hello, {name}!'}}" in out
        assert f"reopened: {match.group(1)} is still completed" in out
        assert "durable" in out and "NOT durable" not in out
        noun = "ALO" if count == 1 else "ALOs"
        assert f"holds {count} {noun} ({count} completed)" in out
    assert ids[0] != ids[1]
    with AloSystem.open(str(db)) as system:
        assert sorted(system.log.stream_ids()) == sorted(ids)
        assert system.get_result(ids[0]) == {"greeting": "Hello, Ada!"}
        assert system.get_result(ids[1]) == {"greeting": "Hello, Grace!"}
        assert system.get_info(ids[1]).status is Status.COMPLETED
