"""What every ``alo`` verb shares: one-line errors instead of tracebacks, paths checked
before SQLite sees them, and output as UTF-8 bytes."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import NoReturn

import typer

from alo_actor._errors import AloError
from alo_actor.logtools import LogToolsError
from eventlog import EventLogError, backend_of

USAGE_ERROR = 2


class CliError(Exception):
    """A mistake of the caller's, said in one line (exit status 2)."""


@contextlib.contextmanager
def cleanly(verb: str) -> Iterator[None]:
    """Bad input ends with one line on stderr and exit status 2, never a traceback."""
    try:
        yield
    except (CliError, AloError, EventLogError, LogToolsError) as exc:
        fail(verb, str(exc))
    except BrokenPipeError:
        # The reader of our output went away (``| head``): stop quietly, and keep
        # the interpreter from complaining again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(1) from None
    except OSError as exc:
        fail(verb, _os_error(exc))


def fail(verb: str, message: str, code: int = USAGE_ERROR) -> NoReturn:
    typer.echo(f"alo {verb}: {message}", err=True)
    raise typer.Exit(code)


def _os_error(exc: OSError) -> str:
    if exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc)


def existing_log(path: str) -> str:
    """``path`` if it can be a log to read; a CliError naming what it is otherwise.

    SQLite's own words for a directory ("disk I/O error") or a missing parent
    ("unable to open database file") say nothing to a user. A PostgreSQL URL is
    returned as it is: the server says whether it holds a log.
    """
    if backend_of(path) == "postgresql":
        return path
    if os.path.isdir(path):
        raise CliError(f"{path} is a directory, not a log file")
    if not os.path.exists(path):
        raise CliError(f"no such file: {path}")
    return path


def log_to_open(path: str) -> str:
    """``path`` if a log can be opened (or created) there; a CliError otherwise (a
    PostgreSQL URL as it is)."""
    if backend_of(path) == "postgresql":
        return path
    if os.path.isdir(path):
        raise CliError(f"{path} is a directory, not a log file")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise CliError(f"cannot create {path}: there is no directory {parent}")
    if not os.path.exists(path) and not os.access(parent, os.W_OK):
        raise CliError(f"cannot create {path}: the directory {parent} is not writable")
    return path


def out(line: str | bytes) -> None:
    """One line to stdout, as UTF-8 (an id no locale can spell still prints); text and
    JSON both go to the byte stream, so they never interleave out of order."""
    data = line if isinstance(line, bytes) else line.encode()
    sys.stdout.buffer.write(data + b"\n")


def parse_pairs(pairs: list[str] | None, option: str) -> dict[str, str]:
    """``KEY=VALUE`` options as a mapping."""
    mapping: dict[str, str] = {}
    for pair in pairs or ():
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise CliError(f"{option} {pair!r} is not KEY=VALUE")
        mapping[key] = value
    return mapping
