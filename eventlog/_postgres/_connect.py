"""Connecting to PostgreSQL with the log's session settings."""

from __future__ import annotations

from typing import Any

import psycopg

from eventlog._location import shown
from eventlog._types import Durability, Unreachable

# A commit is acknowledged once it is flushed to disk (and, for "full", applied on
# every synchronous standby): a host must never act on a commit a crash can take back.
_SYNCHRONOUS_COMMIT = {"normal": "on", "full": "remote_apply"}
CONNECT_TIMEOUT = 10


def connect(
    url: str, *, read_only: bool = False, settings: dict[str, str] | None = None
) -> psycopg.Connection[Any]:
    """A connection in autocommit mode (transactions are explicit), talking UTF-8.

    ``settings`` are the session's (``synchronous_commit``, say). ``read_only`` makes
    every transaction of the session read-only, so that a stray write fails instead
    of racing the writer (or changing a log a tool only reads). Raises
    ``Unreachable`` when the server cannot be reached.
    """
    options = dict(settings or {})
    if read_only:
        options["default_transaction_read_only"] = "on"
    try:
        conn = psycopg.connect(
            url,
            autocommit=True,
            client_encoding="utf8",
            connect_timeout=CONNECT_TIMEOUT,
        )
    except psycopg.OperationalError as exc:
        raise Unreachable(f"cannot connect to {shown(url)}: {first_line(exc)}") from exc
    try:
        for name, value in options.items():
            conn.execute("SELECT set_config(%s, %s, false)", (name, value))
    except BaseException:
        conn.close()
        raise
    return conn


def writer_settings(durability: Durability) -> dict[str, str]:
    """The writer session's settings for ``durability``."""
    return {"synchronous_commit": _SYNCHRONOUS_COMMIT[durability]}


# Reads plan each statement for its own parameters: a listing's best index depends
# on them (a rare status, a common one), and a generic plan would pick one for all.
READER_SETTINGS = {"plan_cache_mode": "force_custom_plan"}


def first_line(error: BaseException) -> str:
    """The first line of an error's text (its class name if it has none)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
