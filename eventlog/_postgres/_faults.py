"""The PostgreSQL writer's faults that are not a caller's: a server that refuses writes
(read-only, a full disk, shutting down), an I/O error on it, a connection lost or a
server that cannot be reached. Each becomes a ``LogUnwritable`` that names it."""

from __future__ import annotations

import psycopg

from eventlog._postgres._connect import first_line
from eventlog._types import LogUnwritable, Unreachable

# By SQLSTATE (PostgreSQL's appendix A), then by its class (the first two characters).
_CODES = {
    "25006": "the database refuses writes (a read-only transaction: a standby, or "
    "default_transaction_read_only)",
    "53100": "the database server's disk is full",
    "57P01": "the database server is shutting down",
    "57P02": "the database server is shutting down",
    "57P03": "the database server is not accepting connections yet (starting, or in recovery)",
    "XX001": "the database's data is damaged",
    "XX002": "an index of the database is damaged",
}
_CLASSES = {
    "08": "the connection to the database server was lost",
    "53": "the database server is out of resources (memory, connections)",
    "58": "an I/O error on the database server",
}
_LOST = "the connection to the database server was lost"
# Errors that end the session: when it ends in the middle of a batch, its COMMIT may
# have reached the server (the follower then reads what it stored as another
# process's events).
_SESSION_ENDED = ("08", "57P01", "57P02")
_UNKNOWN = "; the last write may or may not have been committed"

# A write that changes nothing the log means, to learn whether the server takes writes.
PROBE = (
    "INSERT INTO meta (key, value) VALUES ('write_probe', %s::text) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)


def unwritable(error: BaseException) -> LogUnwritable | None:
    """The LogUnwritable that ``error`` stands for, or None if it is not such a fault."""
    if isinstance(error, LogUnwritable):
        return error
    if isinstance(error, Unreachable):
        reason = f"the database server cannot be reached ({error})"
    elif isinstance(error, psycopg.Error):
        code = error.sqlstate
        if code is None:  # no answer from the server: the connection went
            if not isinstance(error, psycopg.OperationalError):
                return None
            reason = _LOST + _UNKNOWN
        else:
            reason = _CODES.get(code) or _CLASSES.get(code[:2], "")
            if not reason:
                return None
            if code.startswith(_SESSION_ENDED):
                reason += _UNKNOWN
        reason = f"{reason} ({first_line(error)})"
    else:
        return None
    fault = LogUnwritable(reason)
    fault.__cause__ = error
    return fault
