"""Helpers for tests that read log files: damaging one, and finding read-ahead helpers."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path


def damage_a_middle_page(path: Path) -> None:
    """Overwrite the middle one of the events table's leaf pages with bytes no b-tree
    page holds (found with SQLite's dbstat table, whatever else the file holds)."""
    with sqlite3.connect(path) as conn:
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = [
            row[0]
            for row in conn.execute(
                "SELECT pageno FROM dbstat WHERE name = 'events' AND pagetype = 'leaf' "
                "ORDER BY pageno"
            )
        ]
    conn.close()
    with open(path, "r+b") as f:
        f.seek((pages[len(pages) // 2] - 1) * size)
        f.write(b"\xa5" * size)


def read_ahead_helpers() -> set[int]:
    """The read-ahead helpers this thread has started and not yet reaped (other tests'
    processes may still be around).

    A helper that has sent everything and exited is a zombie until it is reaped: its
    command line is gone then, so a zombie child counts as one too (this thread's other
    children, started with ``subprocess``, are reaped when they are waited for).
    """
    task = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children")
    found = set()
    for pid in task.read_text().split():
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue  # gone meanwhile
        if b"_ahead.py" in command or state == "Z":
            found.add(int(pid))
    return found
