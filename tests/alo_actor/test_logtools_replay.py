"""Replay: the state of every ALO at a position or a time is the fold of that prefix."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest

import eventlog._sqlite_reader
from alo_actor._events import AttemptStarted
from alo_actor._machine import AloState
from alo_actor._model import Status
from alo_actor.logtools import (
    BadPoint,
    InconsistentLog,
    LogSource,
    UnknownAlo,
    Violation,
    parse_at,
    replay,
    replay_alo,
    verify,
)
from alo_actor.logtools._replay import _replay
from eventlog import LogReader
from tests.alo_actor.logtools_support import (
    T0,
    LogBuilder,
    completed,
    fold_prefix,
    plant,
    random_log,
    sound_log,
    started,
)
from tests.eventlog.support import read_ahead_helpers


@pytest.fixture(scope="module")
def random_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("replay") / "log.db"
    random_log(path, alos=60, seed=7)
    return path


def by_id(source: LogSource, at: int | float | None = None) -> dict[str, AloState]:
    states = list(replay(source, at))
    assert len({s.id for s in states}) == len(states), "an ALO was yielded twice"
    return {s.id: s for s in states}


def test_replay_at_every_position_is_the_fold_of_the_prefix(random_db: Path) -> None:
    with LogReader.open(random_db) as reader:
        last = reader.last_position()
        for position in range(last + 1):
            assert by_id(reader, position) == fold_prefix(random_db, position=position), position


def test_replay_at_times_is_the_fold_of_the_events_up_to_then(random_db: Path) -> None:
    with sqlite3.connect(random_db) as conn:
        [(events,)] = conn.execute("SELECT COUNT(*) FROM events").fetchall()
    conn.close()
    for at in [T0 - 1, T0, T0 + 0.75, T0 + 10, T0 + 33.3, T0 + events / 2, T0 + 10 * events]:
        assert by_id(random_db, at) == fold_prefix(random_db, at=at), at


def test_replay_to_the_end_is_replay_at_the_last_position(random_db: Path) -> None:
    everything = by_id(random_db)
    assert len(everything) == 60
    assert everything == fold_prefix(random_db)


def test_states_come_as_they_become_final(tmp_path: Path) -> None:
    b = sound_log(tmp_path / "log.db")
    b.close()
    order = [s.id for s in replay(b.path)]
    # Settled ALOs come when they settle (one with result URLs once its last
    # delivery record is folded); the open ones at the end, in creation order.
    assert order[:2] == ["done", "failed"]
    assert order[-2:] == ["paused", "running"]
    hooked = next(s for s in replay(b.path) if s.id == "hooked")
    assert hooked.resolved_urls == ("https://example.com/hook",)
    assert hooked.version == 5


def test_replay_one_alo(tmp_path: Path) -> None:
    b = sound_log(tmp_path / "log.db")
    b.close()
    state = replay_alo(b.path, "retried")
    assert state is not None
    assert (state.status, state.attempt, state.version) == (Status.COMPLETED, 2, 4)
    at_four = replay_alo(b.path, "retried", 4)
    assert at_four is not None
    assert (at_four.status, at_four.retry_at) == (Status.RUNNING, T0 + 4)
    before = replay_alo(b.path, "retried", T0 + 3.5)
    assert before is not None
    assert before.version == 2
    assert replay_alo(b.path, "running", 3) is None, "not created yet"
    assert replay_alo(b.path, "running", T0 + 14.0) is None
    with pytest.raises(UnknownAlo, match="nobody"):
        replay_alo(b.path, "nobody")


@pytest.mark.parametrize(
    ("text", "point"),
    [
        ("0", 0),
        ("17", 17),
        (" 17 ", 17),
        ("1700000000.5", T0 + 0.5),
        ("1700000000.", T0),
        ("2023-11-14T22:13:20Z", T0),
        ("2023-11-14T22:13:20.250+00:00", T0 + 0.25),
        ("2023-11-14T23:13:20+01:00", T0),
    ],
)
def test_parse_at(text: str, point: int | float) -> None:
    parsed = parse_at(text)
    assert parsed == point
    assert type(parsed) is type(point)


@pytest.mark.parametrize("text", ["", "soon", "2023-11-14T22:13:20", "1e9", "12abc"])
def test_parse_at_refuses_what_is_neither(text: str) -> None:
    with pytest.raises(BadPoint):
        parse_at(text)


def test_a_position_outside_the_log_is_refused(random_db: Path) -> None:
    with LogReader.open(random_db) as reader:
        last = reader.last_position()
    for position in (-1, last + 1):
        with pytest.raises(BadPoint, match=f"0..{last}"):
            list(replay(random_db, position))
        with pytest.raises(BadPoint):
            replay_alo(random_db, "alo-1", position)
    with pytest.raises(BadPoint):
        list(replay(random_db, math.nan))


def test_an_event_before_started_is_inconsistent(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    LogBuilder(path).close()
    plant(path, "a", 1, AttemptStarted(T0, 2))
    with pytest.raises(InconsistentLog, match="never started"):
        list(replay(path))
    with pytest.raises(InconsistentLog, match="position 1"):
        replay_alo(path, "a")


def test_an_event_that_does_not_decode_is_inconsistent(tmp_path: Path) -> None:
    b = LogBuilder(tmp_path / "log.db")
    b.add("a", started("a"))
    b.close()
    plant(b.path, "a", 2, b"\xc1", type_name="Completed")
    with pytest.raises(InconsistentLog, match=r"position 2: .* does not decode"):
        list(replay(b.path))
    with pytest.raises(InconsistentLog, match="does not decode"):
        replay_alo(b.path, "a")


def test_events_after_the_terminal_one_leave_the_state_alone(tmp_path: Path) -> None:
    b = LogBuilder(tmp_path / "log.db")
    b.add("a", started("a"), completed(T0 + 1, "first"))
    b.close()
    plant(b.path, "a", 3, completed(T0 + 2, "second"))
    [state] = replay(b.path)
    assert (state.status, state.settled_at) == (Status.COMPLETED, T0 + 1)


def test_gaps_in_positions_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    random_log(path, alos=40, seed=11)
    # Retention purges settled ALOs whole, leaving gaps in the positions.
    with sqlite3.connect(path) as conn:
        settled = [
            row[0]
            for row in conn.execute(
                "SELECT stream_id FROM events WHERE type IN ('Completed', 'Failed') LIMIT 10"
            )
        ]
        conn.executemany("DELETE FROM events WHERE stream_id = ?", [(s,) for s in settled])
    conn.close()
    with LogReader.open(path) as reader:
        rows = [row for chunk in reader.read_columns(("stream_id",), chunk=3) for row in chunk]
        assert [r[0] for r in rows] == [e.position for e in reader.read_all()]
        assert not {r[1] for r in rows} & set(settled)
    assert by_id(path) == fold_prefix(path)


def test_replay_and_verify_read_ahead_as_they_read_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "log.db"
    random_log(path, alos=300, seed=5)
    with sqlite3.connect(path) as conn:
        [(first,)] = conn.execute("SELECT MIN(stream_id) FROM events")
        conn.execute("DELETE FROM events WHERE stream_id = ?", (first,))  # a gap
    conn.close()
    plant(path, "stray", 2, completed(T0 + 5))  # never started
    plant(path, "junk", 1, b"\xc1 not msgpack")

    def outcome() -> tuple[dict[str, AloState], list[Violation]]:
        with LogReader.open(path) as reader:
            until = reader.last_position() - 2  # before the planted rows
            # By id: the order of settled ALOs with result URLs follows the chunks.
            return {s.id: s for s in _replay(reader, until)}, verify(path)

    here = outcome()
    assert len(here[0]) == 299
    assert [v.invariant for v in here[1]] == ["gapless-versions", "creation-first", "decodes"]
    monkeypatch.setattr(eventlog._sqlite_reader, "AHEAD_MIN_ROWS", 1)
    with LogReader.open(path) as reader:
        states = _replay(reader, None)
        next(states)
        assert read_ahead_helpers(), "no helper reads ahead"
        with pytest.raises(InconsistentLog, match="never started"):
            list(states)
    assert outcome() == here
