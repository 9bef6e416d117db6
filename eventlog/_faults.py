"""The SQLite writer's faults that are not a caller's: a full disk, a read-only file,
I/O errors, a WAL file deleted under the open log. Each becomes a ``LogUnwritable``
that names it, instead of an SQLite message or the error of a ROLLBACK that hid it
(PostgreSQL's are in ``eventlog._postgres._faults``)."""

from __future__ import annotations

import logging
import os
import sqlite3
import time

from eventlog._types import LogUnwritable

_log = logging.getLogger("eventlog")

# Primary result codes (the low byte of an extended code) of errors that say the file
# cannot take a write now, whatever was being written.
_REASONS = {
    sqlite3.SQLITE_FULL: "the disk is full (or the file is at its size limit)",
    sqlite3.SQLITE_READONLY: "the database file is read-only",
    sqlite3.SQLITE_IOERR: "an I/O error on the database file",
    sqlite3.SQLITE_CANTOPEN: "a file of the database cannot be opened",
    sqlite3.SQLITE_PERM: "permission to write the database file is denied",
    sqlite3.SQLITE_CORRUPT: "the database file is damaged",
    sqlite3.SQLITE_NOTADB: "the file is no longer a database",
    sqlite3.SQLITE_BUSY: "another process holds the database's write lock",
}
_MOVED = "the database file was moved or deleted while open"

# A write that changes nothing the log means, to learn whether the file takes writes
# (a value that differs each time: SQLite skips writing a page that would not change).
_PROBE = "INSERT OR REPLACE INTO meta (key, value) VALUES ('write_probe', ?)"


def unwritable(error: BaseException) -> LogUnwritable | None:
    """The LogUnwritable that ``error`` stands for, or None if it is not such a fault."""
    if isinstance(error, LogUnwritable):
        return error
    if not isinstance(error, sqlite3.Error):
        return None
    code = getattr(error, "sqlite_errorcode", None)
    if not isinstance(code, int):
        return None
    if code == sqlite3.SQLITE_READONLY_DBMOVED:
        reason = _MOVED
    else:
        reason = _REASONS.get(code & 0xFF, "")
        if not reason:
            return None
    fault = LogUnwritable(f"{reason} ({error})")
    fault.__cause__ = error
    return fault


def probe_statement() -> tuple[str, tuple[str]]:
    """A statement whose commit shows whether the log takes writes again."""
    return _PROBE, (repr(time.time()),)


def rollback(conn: sqlite3.Connection) -> None:
    """Roll back what is left of a failed transaction without hiding why it failed.

    After SQLITE_FULL or an I/O error SQLite has often rolled back already, and a
    ROLLBACK then fails with "no transaction is active", which used to replace the
    real error.
    """
    if not conn.in_transaction:
        return
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        _log.warning("ROLLBACK after a failed write failed too: %s", exc)


class WalWatch:
    """Notices that the log's WAL file was deleted or replaced while the log is open.

    SQLite keeps writing through its open handle to the unlinked file, so commits go
    on succeeding into a file nobody can read back: a crash then loses everything
    committed since (and since the last checkpoint). ``check`` compares the path's
    device and inode with those of the file the log opened (an ``os.stat``, ~1-2 us:
    once per batch, not per append). On the first mismatch it copies what the lost
    file holds into the database (a checkpoint through the still open handle), and
    from then on refuses every write: the log must be reopened.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._lost: str | None = None  # why, once the WAL file is lost
        self._path = ""
        self._identity: tuple[int, int] | None = None
        for _, name, file in conn.execute("PRAGMA database_list").fetchall():
            if name == "main" and file:
                self._path = f"{file}-wal"
        self._identity = self._stat()

    def _stat(self) -> tuple[int, int] | None:
        if not self._path:
            return None
        try:
            st = os.stat(self._path)
        except FileNotFoundError:
            return None
        return st.st_dev, st.st_ino

    def check(self) -> None:
        """Raise LogUnwritable if the WAL file is not the one the log opened."""
        if self._lost is not None:
            raise LogUnwritable(self._lost)  # a new error each time: many threads raise it
        if not self._path:
            return
        now = self._stat()
        if self._identity is None:
            # Not created yet when the log opened (SQLite makes it on the first write).
            self._identity = now
            return
        if now == self._identity:
            return
        lost = f"the WAL file {self._path} was deleted or replaced while the log was open"
        try:
            self._conn.execute("PRAGMA wal_checkpoint(FULL)")
        except sqlite3.Error as exc:
            self._lost = (
                f"{lost}, and copying it into the database failed ({exc}): writes "
                "acknowledged since the last checkpoint are lost when this process ends"
            )
        else:
            self._lost = (
                f"{lost}; what it held was copied into the database, and no more writes "
                "are taken until the log is reopened"
            )
        _log.error("the event log cannot be written: %s", self._lost)
        raise LogUnwritable(self._lost)
