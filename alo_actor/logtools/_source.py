"""Where the tools read from: a path, opened read-only, or a reader the caller owns."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeAlias

from eventlog import LogReader

LogSource: TypeAlias = "str | os.PathLike[str] | LogReader"


@contextmanager
def opened(source: LogSource) -> Iterator[LogReader]:
    """A reader on ``source``, closed on exit only if it was opened here; raises
    SchemaError or CorruptLog for a path that is not a readable log."""
    if isinstance(source, LogReader):
        yield source
        return
    reader = LogReader.open(source)
    try:
        yield reader
    finally:
        reader.close()
