"""Helpers for tests that read log files: damaging one, and finding read-ahead helpers."""

from __future__ import annotations

import os
from pathlib import Path

PAGE = 4096


def damage_a_middle_page(path: Path) -> None:
    """Overwrite the page in the middle of the file with bytes no b-tree page holds."""
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek((size // 2) // PAGE * PAGE)
        f.write(b"\xa5" * PAGE)


def read_ahead_helpers() -> set[int]:
    """The read-ahead helpers this thread has started and not yet reaped (other tests'
    processes may still be around)."""
    task = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children")
    found = set()
    for pid in task.read_text().split():
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        if b"_ahead.py" in command:
            found.add(int(pid))
    return found
