"""Hand-made ALO logs for the log tools' tests: appended through EventLog, or planted raw."""

from __future__ import annotations

import hashlib
import random
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from alo_actor._events import (
    CODEC,
    AloEvent,
    AttemptFailed,
    AttemptStarted,
    Cancelled,
    Completed,
    Delivered,
    DeliveriesDue,
    DeliveriesFinished,
    Failed,
    Paused,
    Resumed,
    Started,
    TimedOut,
)
from alo_actor._machine import AloState, evolve
from alo_actor._model import Failure
from eventlog import EventLog

T0 = 1_700_000_000.0
ALO = str(Path(sys.executable).with_name("alo"))
BOOM = Failure("boom", "ValueError")


def raw(value: Any) -> msgspec.Raw:
    return msgspec.Raw(msgspec.msgpack.encode(value))


def started(
    alo_id: str,
    at: float = T0,
    *,
    operation: str | None = "greeting",
    input: Any = None,
    deadline: float | None = None,
    result_urls: Sequence[str] = (),
) -> Started:
    return Started(at, alo_id, operation, raw(input), {"team": "a"}, list(result_urls), deadline)


def completed(at: float, result: Any = "ok") -> Completed:
    return Completed(at, raw(result), {})


class LogBuilder:
    """Appends events to a real log through ``EventLog``, tracking each stream's version."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.log = EventLog.open(str(path))
        self.versions: dict[str, int] = {}

    def add(self, alo_id: str, *events: AloEvent) -> list[int]:
        version = self.versions.get(alo_id, 0)
        positions = self.log.append(alo_id, version, [CODEC.encode(e) for e in events])
        self.versions[alo_id] = version + len(events)
        return positions

    def close(self) -> None:
        self.log.close()


def plant(
    path: Path,
    stream_id: str,
    version: int,
    event: AloEvent | bytes,
    type_name: str | None = None,
) -> int:
    """Insert one row as it is, past every check of the writer; returns its position."""
    if isinstance(event, bytes):
        data, name = event, type_name or "Started"
    else:
        encoded = CODEC.encode(event)
        data, name = encoded.data, type_name or encoded.type
    with sqlite3.connect(path) as conn:
        cursor = conn.execute(
            "INSERT INTO events (stream_id, version, type, data, recorded_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (stream_id, version, name, data, T0),
        )
        position = cursor.lastrowid
    conn.close()
    assert position is not None
    return position


def sound_log(path: Path) -> LogBuilder:
    """A log that keeps every invariant, with every kind of event; left open to add more."""
    b = LogBuilder(path)
    b.add("done", started("done", T0, input={"name": "Ada"}))
    b.add("retried", started("retried", T0 + 1))
    b.add("done", completed(T0 + 2, {"greeting": "hello Ada"}))
    b.add("retried", AttemptFailed(T0 + 3, 1, BOOM, T0 + 4))
    b.add("retried", AttemptStarted(T0 + 4, 2))
    b.add("failed", started("failed", T0 + 5), Failed(T0 + 6, BOOM))
    b.add("paused", started("paused", T0 + 6, operation=None), Paused(T0 + 7))
    b.add(
        "cancelled", started("cancelled", T0 + 7), Cancelled(T0 + 8, Failure("stop", "Cancelled"))
    )
    b.add("late", started("late", T0 + 8, deadline=T0 + 9), TimedOut(T0 + 9))
    # Created past its deadline: times out at once, at its creation.
    b.add("born-late", started("born-late", T0 + 10, deadline=T0 + 1), TimedOut(T0 + 10))
    url = "https://example.com/hook"
    b.add("hooked", started("hooked", T0 + 11, result_urls=[url]))
    b.add("hooked", completed(T0 + 12), DeliveriesDue(T0 + 12))
    b.add("retried", completed(T0 + 13, "second time lucky"))
    b.add("hooked", Delivered(T0 + 14, url), DeliveriesFinished(T0 + 14))
    b.add("running", started("running", T0 + 15))
    b.add("paused", Resumed(T0 + 16), Paused(T0 + 17))
    return b


def _next_event(name: str, now: float, deadline: float | None) -> AloEvent:
    if name == "TimedOut":
        assert deadline is not None
        # A deadline is exact: the timeout is stamped with it, whenever it is noticed.
        return TimedOut(deadline)
    simple: dict[str, AloEvent] = {
        "Completed": completed(now),
        # Retried at once: the next attempt may come as soon as the next step.
        "AttemptFailed": AttemptFailed(now, 1, BOOM, now),
        "AttemptStarted": AttemptStarted(now, 2),
        "Failed": Failed(now, BOOM),
        "Paused": Paused(now),
        "Resumed": Resumed(now),
        "Cancelled": Cancelled(now, Failure("stop")),
        "DeliveriesDue": DeliveriesDue(now),
        "Delivered": Delivered(now, "https://example.com/h"),
        "DeliveriesFinished": DeliveriesFinished(now),
    }
    return simple[name]


def random_log(path: Path, alos: int, seed: int) -> None:
    """A sound log of ``alos`` interleaved ALOs with every kind of event."""
    rng = random.Random(seed)
    b = LogBuilder(path)
    scripts: dict[str, list[str]] = {}
    deadlines: dict[str, float] = {}
    kinds = [
        ["Completed"],
        ["AttemptFailed", "AttemptStarted", "Completed"],
        ["Failed"],
        ["Paused", "Resumed", "Cancelled"],
        ["TimedOut"],
        ["Completed", "DeliveriesDue", "Delivered", "DeliveriesFinished"],
        [],
    ]
    now = T0
    pending = [f"alo-{n}" for n in range(alos)]
    while pending or scripts:
        now += rng.choice((0.5, 1.0, 1.5))
        if pending and (not scripts or rng.random() < 0.4):
            alo_id = pending.pop()
            script = list(rng.choice(kinds))
            if "TimedOut" in script:
                deadlines[alo_id] = now + 0.25
            urls = ["https://example.com/h"] if "Delivered" in script else []
            b.add(alo_id, started(alo_id, now, deadline=deadlines.get(alo_id), result_urls=urls))
            if script:
                scripts[alo_id] = script
            continue
        alo_id = rng.choice(sorted(scripts))
        name = scripts[alo_id].pop(0)
        if not scripts[alo_id]:
            del scripts[alo_id]
        b.add(alo_id, _next_event(name, now, deadlines.get(alo_id)))
    b.close()


def fold_prefix(
    path: Path, *, position: int | None = None, at: float | None = None
) -> dict[str, AloState]:
    """The reference replay: every event up to the point, folded in memory, per stream."""
    states: dict[str, AloState] = {}
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT position, stream_id, data FROM events ORDER BY position")
        for pos, stream_id, data in rows:
            event = CODEC.decode(data)
            if (position is not None and pos > position) or (at is not None and event.at > at):
                continue
            states[stream_id] = evolve(states.get(stream_id), event)
    conn.close()
    return states


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def alo(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run the real ``alo`` command, as a user would."""
    return subprocess.run(
        [ALO, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
