"""The read model's SQL in each of the log's dialects: SQLite's and PostgreSQL's.

The tables are the same on both; what differs is how a statement is spelt: the
parameter mark (``?``, psycopg's ``%s``), SQLite's index hints (PostgreSQL's planner
has none and needs none: each of its indexes names ``seq`` as its last column, so
an index read in ``seq`` order is what it picks for a page), and the typing a VALUES
row needs on PostgreSQL. A log says which dialect it speaks (``EventLog.dialect``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from eventlog import Backend


class Source(Protocol):
    """Where read-model rows are read from: an ``EventLog``, or a ``LogReader`` (read
    only). ``query`` runs one read-only statement in ``dialect``."""

    @property
    def dialect(self) -> Backend: ...

    def query(self, sql: str, params: Sequence[Any] = ...) -> list[tuple[Any, ...]]: ...


@dataclass(frozen=True)
class Dialect:
    """How the read model's statements are spelt in one of the log's dialects."""

    name: Backend
    # One parameter.
    mark: str

    def marks(self, count: int) -> str:
        """``count`` parameters, comma-separated."""
        return ", ".join([self.mark] * count)

    def indexed_by(self, index: str) -> str:
        """SQLite's hint to read through ``index`` (nothing on PostgreSQL)."""
        return f" INDEXED BY {index}" if self.name == "sqlite" else ""

    @property
    def not_indexed(self) -> str:
        """SQLite's hint to read the table itself in ``seq`` (rowid) order."""
        return " NOT INDEXED" if self.name == "sqlite" else ""

    @property
    def join(self) -> str:
        """A join that reads its left side first (SQLite: CROSS JOIN forces it)."""
        return "CROSS JOIN" if self.name == "sqlite" else "JOIN"


SQLITE = Dialect("sqlite", "?")
POSTGRES = Dialect("postgresql", "%s")

# UPDATE … FROM, which lets the log run one statement for a whole batch's updates
# (see eventlog.Append), needs SQLite 3.33.
SQLITE_UPDATE_FROM = sqlite3.sqlite_version_info >= (3, 33, 0)


def dialect_of(source: Source | Backend) -> Dialect:
    """The dialect of a log, a reader, or a dialect's name."""
    name = source if isinstance(source, str) else source.dialect
    if name == "sqlite":
        return SQLITE
    if name == "postgresql":
        return POSTGRES
    raise ValueError(f"no read model for the dialect {name!r}")
