"""Helpers for tests that read log files: damaging one, and finding read-ahead helpers."""

from __future__ import annotations

import os
import sqlite3
import sys
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

    A helper that has sent everything and exited is a zombie until its reader reaps
    it, and the command line of a zombie (or of a process exiting) reads empty: it
    counts by its name (the interpreter's), so that the answer does not depend on how
    fast the helper ran.
    """
    task = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children")
    interpreter = Path(sys.executable).name[:15].encode()  # the kernel keeps 15 bytes
    found = set()
    for pid in task.read_text().split():
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
            # "pid (comm) state ...": comm may hold spaces and parentheses.
            stat = Path(f"/proc/{pid}/stat").read_bytes()
        except OSError:
            continue  # gone meanwhile
        comm = stat.partition(b" (")[2].rpartition(b") ")[0]
        # No command line: exited (a zombie), or on its way out (its memory is let go
        # before it turns zombie, and a busy machine can stop it in between).
        exited = not command
        if b"_ahead.py" in command or (exited and comm == interpreter):
            found.add(int(pid))
    return found
