"""Paired runs of one measurement at another git revision and in this tree, in fresh
processes, alternately: what ``--against REV`` of a benchmark prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def against(rev: str, script: str, args: list[str], rounds: int) -> list[tuple[Any, Any]]:
    """``script`` (Python source that prints one JSON value as its last line) run in a
    tree exported from ``rev`` and in this one, ``rounds`` times each, the two in turn
    and which goes first alternating, each in a fresh interpreter with ``args`` and a
    new temporary directory as its last argument; the (there, here) value of each round.

    The script runs from the tree under test, its directory first on ``sys.path``, so it
    measures that tree's engine with this interpreter's packages."""
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "rev"
        export.mkdir()
        archive = subprocess.run(
            ["git", "archive", rev], cwd=REPO, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(export)], input=archive, check=True)
        pairs: list[tuple[Any, Any]] = []
        for n in range(rounds):
            values: dict[Path, Any] = {}
            for cwd in (export, REPO) if n % 2 == 0 else (REPO, export):
                work = os.path.join(tmp, f"{n}-{cwd.name}")
                os.mkdir(work)
                child = subprocess.run(
                    [sys.executable, "-c", script, *args, work],
                    cwd=cwd,
                    check=True,
                    capture_output=True,
                    text=True,
                )
                values[cwd] = json.loads(child.stdout.splitlines()[-1])
            pairs.append((values[export], values[REPO]))
    return pairs
