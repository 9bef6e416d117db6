"""The ``--db``/``DB`` of every command: a SQLite file's path or a PostgreSQL URL."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from eventlog import backend_of
from eventlog._location import shown

DB_HELP = "The log: a SQLite file, or a postgresql:// URL (a database that several hosts share)."
# The --db of the verbs that open a log to run it (serve, worker).
DbOption = Annotated[str, typer.Option("--db", metavar="DB", help=DB_HELP + " Created if missing.")]


def db_location(db: str) -> str:
    """The log's location as a command was given it: a URL as it is, a path absolute."""
    return db if backend_of(db) == "postgresql" else os.path.abspath(db)


def db_shown(db: str) -> str:
    """The log as a message names it (a URL without its password)."""
    return shown(db)


def names_the_log(db: str, path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` (an output the command would write) is the log file ``db``
    itself; never for a log on a server."""
    if backend_of(db) == "postgresql":
        return False
    return os.path.exists(path) and os.path.exists(db) and os.path.samefile(db, path)
