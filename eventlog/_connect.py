"""Opening SQLite connections to a log file with the log's pragmas."""

from __future__ import annotations

import sqlite3

from eventlog._types import Durability

BUSY_TIMEOUT_MS = 30_000


def connect(path: str, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit)."""
    if readonly:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
        )
    else:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    # Nothing here may read the file (it may not be a database at all) or write it (it
    # may not be ours): ensure_schema checks it first, then switches it to WAL.
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


def set_durability(conn: sqlite3.Connection, durability: Durability) -> None:
    conn.execute(f"PRAGMA synchronous = {'FULL' if durability == 'full' else 'NORMAL'}")
