"""Retention: purge settled ALOs (their events and their rows), optionally archived first.

A purge deletes through the log's writer (``EventLog.delete_streams``), so it never
races an append, and deletes each ALO's projection rows in the same transaction as
its events. It works in chunks, one transaction each, so that appends wait for one
chunk at most. An ALO whose outcome some result URL is still owed is kept until the
delivery is recorded. A purged id answers NotFound, and may be started again.
"""

from __future__ import annotations

import datetime
import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import IO, Any

from alo_actor._clock import Clock
from alo_actor._errors import InvalidArgument
from alo_actor._model import TERMINAL
from alo_actor._timers import Timers
from alo_actor._wire import info_body
from alo_actor.readmodel._dialect import Dialect, dialect_of
from alo_actor.readmodel._listing import StatusFilter, TimeBound, check_time, parse_statuses
from alo_actor.readmodel._projection import SELECT_COLUMNS, info_of_row
from eventlog import EventLog, Statement

CHUNK = 5000
# A running purge is looked for at most this often, however long the retention.
MAX_INTERVAL = 60.0

_TERMINAL_WORDS = tuple(s.value for s in TERMINAL)
_log = logging.getLogger("alo_actor")

# Settled ALOs in (settled_at, seq) order after a key, through the partial index;
# ``owed`` is 1 for one whose outcome a result URL still waits for.
_SELECT = f"""
SELECT {SELECT_COLUMNS},
    result_urls != '[]'
    AND EXISTS (SELECT 1 FROM events WHERE stream_id = alos.id AND type = 'DeliveriesDue')
    AND NOT EXISTS (SELECT 1 FROM events WHERE stream_id = alos.id
                    AND type = 'DeliveriesFinished') AS owed
FROM alos{{hint}}
WHERE settled_at IS NOT NULL AND settled_at < {{p}} AND (settled_at, seq) > ({{p}}, {{p}})
    AND status IN ({{marks}})
ORDER BY settled_at, seq
LIMIT {{p}}
"""
_DELETE_ROW = "DELETE FROM alos WHERE seq = {p}"
_DELETE_PAIR = "DELETE FROM alo_metadata WHERE seq = {p} AND key = {p} AND value = {p}"

Forget = Callable[[list[str]], None]


def purge(
    log: EventLog,
    settled_before: TimeBound,
    *,
    status: StatusFilter = None,
    archive: str | os.PathLike[str] | None = None,
    forget: Forget | None = None,
) -> int:
    """Delete the ALOs that settled before ``settled_before``; returns how many.

    ``status`` narrows it to some terminal statuses (all of them by default).
    ``archive`` names a JSON Lines file that gets each purged ALO (its info and its
    decoded events) before it is deleted; the file is appended to. ``forget(ids)``
    is told each chunk's ids once they are gone (a host's caches).
    """
    before = check_time(settled_before, "settled_before")
    if before is None:
        raise InvalidArgument("settled_before is required: purge what settled before when?")
    words = _terminal_words(status)
    d = dialect_of(log)
    sql = _SELECT.format(hint=d.indexed_by("alos_settled"), p=d.mark, marks=d.marks(len(words)))
    out: IO[bytes] | None = None
    try:
        key: tuple[float, int] = (-float("inf"), 0)
        purged = 0
        while True:
            rows = log.query(sql, (before, *key, *words, CHUNK))
            if not rows:
                return purged
            key = (rows[-1][6], rows[-1][0])  # settled_at, seq
            chosen = [row[:-1] for row in rows if not row[-1]]
            if not chosen:
                continue
            if archive is not None:
                # Opened for the first ALO it gets: a purge of nothing leaves no file.
                out = out or _open_archive(archive)
                _archive(log, chosen, out)
            ids = [row[1] for row in chosen]
            purged += log.delete_streams(ids, _row_deletions(d, chosen))
            if forget is not None:
                forget(ids)
    finally:
        if out is not None:
            out.close()


def _terminal_words(status: StatusFilter) -> tuple[str, ...]:
    words = parse_statuses(status)
    if words is None:
        return _TERMINAL_WORDS
    open_ones = [word for word in words if word not in _TERMINAL_WORDS]
    if open_ones:
        raise InvalidArgument(
            f"only settled ALOs can be purged, not {', '.join(open_ones)}: "
            f"choose among {', '.join(_TERMINAL_WORDS)}"
        )
    return words


def _row_deletions(d: Dialect, rows: Sequence[tuple[Any, ...]]) -> list[Statement]:
    delete_row, delete_pair = _DELETE_ROW.format(p=d.mark), _DELETE_PAIR.format(p=d.mark)
    statements: list[Statement] = []
    for row in rows:
        info = info_of_row(row)
        seq = row[0]
        statements.append((delete_row, (seq,)))
        statements.extend((delete_pair, (seq, k, v)) for k, v in info.metadata.items())
    return statements


def _open_archive(archive: str | os.PathLike[str]) -> IO[bytes]:
    try:
        return open(archive, "ab")
    except OSError as exc:
        raise InvalidArgument(f"cannot write the archive: {exc}") from exc


def _archive(log: EventLog, rows: Sequence[tuple[Any, ...]], out: IO[bytes]) -> None:
    """One line per ALO: ``{"id", "info", "events"}``, durable before anything is deleted.

    The info as the HTTP API shows it, the events as ``alo log export`` writes them:
    times in RFC 3339.
    """
    # Here, not at the top: the logtools package loads its renderers and verifier,
    # which ``import alo_actor`` has no use for unless a purge archives.
    from alo_actor.logtools import event_record, record_json, to_json

    for row in rows:
        info = info_of_row(row)
        events = [record_json(event_record(stored)) for stored in log.read_stream(info.id)]
        line = {"id": info.id, "info": info_body(info), "events": events}
        out.write(to_json(line) + b"\n")
    out.flush()
    os.fsync(out.fileno())


# -- the automatic policy ---------------------------------------------------------------


def retention_seconds(retention: float | datetime.timedelta) -> float:
    """A retention period in seconds; InvalidArgument unless positive and finite."""
    seconds = retention.total_seconds() if isinstance(retention, datetime.timedelta) else retention
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise InvalidArgument(f"retention must be seconds or a timedelta, not {retention!r}")
    if not 0 < seconds < float("inf"):
        raise InvalidArgument(f"retention must be positive and finite, not {retention!r}")
    return float(seconds)


class AutoPurge:
    """Purges, on the system's clock, what settled more than ``retention`` s ago.

    Every ``min(retention, MAX_INTERVAL)`` clock seconds, on a thread of its own so
    that a long purge delays no deadline or retry timer.
    """

    def __init__(
        self, retention: float, clock: Clock, timers: Timers, purge: Callable[[float], int]
    ) -> None:
        self.retention = retention
        self.interval = min(retention, MAX_INTERVAL)
        self._clock = clock
        self._timers = timers
        self._purge = purge
        self._lock = threading.Lock()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._schedule()

    def _schedule(self) -> None:
        self._timers.schedule(self._clock.now() + self.interval, self._fire)

    def _fire(self, _: object, done: Callable[[], None]) -> None:
        with self._lock:
            if self._closed:
                done()
                return
            self._thread = threading.Thread(
                target=self._run, args=(done,), name="alo-retention", daemon=True
            )
            self._thread.start()

    def _run(self, done: Callable[[], None]) -> None:
        try:
            purged = self._purge(self._clock.now() - self.retention)
            if purged:
                _log.info("retention purged %d settled ALOs", purged)
        except Exception:
            if not self._closed:
                _log.exception("retention purge failed; trying again at the next interval")
        finally:
            done()
            if not self._closed:
                self._schedule()

    def close(self) -> None:
        """Stop; wait for a purge in progress (it finishes its chunk)."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(30)
