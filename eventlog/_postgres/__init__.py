"""The event log on PostgreSQL (psycopg 3): imported only when a log's location is a
``postgresql://`` URL, so the embedded SQLite default never loads psycopg."""

from __future__ import annotations

from eventlog._postgres._log import PostgresEventLog, inspect_postgres, open_postgres
from eventlog._postgres._reader import PostgresLogReader

__all__ = ["PostgresEventLog", "PostgresLogReader", "inspect_postgres", "open_postgres"]
