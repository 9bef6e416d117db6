"""Reading ahead: a log's rows stepped by SQLite in a helper process, on another core.

A scan of millions of events in one process pays SQLite's row stepping and the
sqlite3 module's per-row work (a GIL release and re-take, a tuple, an object per
column) on the same core as the work it feeds: about a third of a replay. Run as a
script, this module does that part in a second process and streams the rows to
the reader as ``marshal`` messages of columns (frames, below), which the reader
turns back into the same row tuples in a few C calls.

    python -I -S _ahead.py URI SQL FIRST UNTIL CHUNK BUSY_TIMEOUT_MS

It imports only the standard library, so the helper starts in milliseconds, and
opens the file as the reader does (a ``mode=ro`` URI), so it never writes to it.
On stdout, each frame is a 4-byte little-endian length and a ``marshal`` payload:
a tuple of column tuples (some rows, transposed: as many as make about
``FRAME_BYTES``, up to a chunk); then ``None`` (the end), or a ``str`` (an SQLite
error) instead. A stream without either was cut short. It stops when the reader
stops reading: the next write fails and it exits.
"""

from __future__ import annotations

import gc
import marshal
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

# The next position after a given one: how a chunked scan steps over gaps.
NEXT_POSITION = "SELECT MIN(position) FROM events WHERE position > ?"
# The frame header: a payload's length.
HEADER = 4
# A frame's size to aim at: a chunk of rows of any size stays this small, in the
# helper and in the reader, give or take one row (events may hold megabytes).
FRAME_BYTES = 1 << 20
# Rows in the first frame, before the rows' size is known.
FIRST_FRAME_ROWS = 100
# marshal's version 2: no back-references, so no table of every object it writes.
_MARSHAL_VERSION = 2


def chunk_ranges(
    next_position: Callable[[int], int | None], first: int, until: int, chunk: int
) -> Iterator[tuple[int, int]]:
    """Ranges ``(after, last)`` of at most ``chunk`` positions covering ``first < p <= until``.

    Chunks are ranges of positions, so a chunk need not be read to the end to know
    where the next begins; ``next_position`` (the first position after its
    argument, or ``None``) skips any gap.
    """
    position = first
    while position < until:
        following = next_position(position)
        if following is None or following > until:
            return
        position = min(following - 1 + chunk, until)
        yield following - 1, position


def _send(out: BinaryIO, value: tuple[Any, ...] | str | None) -> int:
    """Write ``value`` as one frame; returns its payload's size."""
    payload = marshal.dumps(value, _MARSHAL_VERSION)
    out.write(len(payload).to_bytes(HEADER, "little"))
    out.write(payload)
    return len(payload)


def _send_rows(out: BinaryIO, cursor: sqlite3.Cursor, rows_per_frame: int, chunk: int) -> int:
    """Send ``cursor``'s rows as frames of about ``FRAME_BYTES``; returns how many
    rows the next frame should take, learnt from the size of this one's rows."""
    while rows := cursor.fetchmany(rows_per_frame):
        size = _send(out, tuple(zip(*rows, strict=True)))
        rows_per_frame = max(1, min(chunk, len(rows) * FRAME_BYTES // max(size, 1)))
    return rows_per_frame


def serve(uri: str, sql: str, first: int, until: int, chunk: int, busy_ms: int) -> int:
    """Send every chunk of ``sql``'s rows to stdout; the exit status."""
    # Nothing here forms a cycle, and the collector would walk every row tuple.
    gc.disable()
    out = sys.stdout.buffer
    try:
        try:
            conn = sqlite3.connect(uri, uri=True, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")

            def next_position(position: int) -> int | None:
                found: int | None = conn.execute(NEXT_POSITION, (position,)).fetchone()[0]
                return found

            rows_per_frame = min(chunk, FIRST_FRAME_ROWS)
            for after, last in chunk_ranges(next_position, first, until, chunk):
                rows_per_frame = _send_rows(
                    out, conn.execute(sql, (after, last)), rows_per_frame, chunk
                )
            _send(out, None)
        except sqlite3.Error as exc:
            _send(out, str(exc))
        out.flush()
    except BrokenPipeError:
        # The reader stopped reading, or died: nothing is left to do. Point stdout
        # at nothing, so that the interpreter's own flush at exit cannot fail too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    uri, sql, first, until, chunk, busy = sys.argv[1:7]
    sys.exit(serve(uri, sql, int(first), int(until), int(chunk), int(busy)))
