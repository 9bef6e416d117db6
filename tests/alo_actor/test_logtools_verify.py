"""The verifier: a sound log passes; each invariant of semantics §4 broken on purpose is caught."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from alo_actor._events import (
    AloEvent,
    AttemptFailed,
    AttemptStarted,
    Completed,
    Delivered,
    DeliveriesDue,
    DeliveriesFinished,
    Failed,
    Paused,
    Resumed,
    TimedOut,
)
from alo_actor.logtools import ALLOWED_AFTER_TERMINAL, INVARIANTS, Verification, verify
from tests.alo_actor.logtools_support import (
    BOOM,
    T0,
    LogBuilder,
    completed,
    plant,
    random_log,
    sound_log,
    started,
)

HOOK = "https://example.com/h"


def broken(path: Path) -> set[str]:
    """The invariants the log breaks (each test breaks exactly one)."""
    return {v.invariant for v in verify(path)}


def test_a_sound_log_keeps_every_invariant(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    sound_log(path).close()
    verification = Verification(path)
    assert list(verification) == []
    assert (verification.events, verification.alos, verification.violations) == (24, 9, 0)


def test_a_random_sound_log_keeps_every_invariant(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    random_log(path, alos=300, seed=1)
    assert verify(path) == []


def test_delivery_records_may_follow_the_terminal_event(tmp_path: Path) -> None:
    assert {"DeliveriesDue", "Delivered", "DeliveriesFinished"} <= ALLOWED_AFTER_TERMINAL
    b = LogBuilder(tmp_path / "log.db")
    # Without result URLs too: the verifier then finds the settled stream again in SQL.
    b.add("a", started("a"), completed(T0 + 1), DeliveriesDue(T0 + 1))
    b.close()
    assert verify(b.path) == []


def test_an_empty_log_is_sound(tmp_path: Path) -> None:
    LogBuilder(tmp_path / "log.db").close()
    assert verify(tmp_path / "log.db") == []


# -- one invariant at a time ----------------------------------------------------------


def test_unique_id_a_second_started_in_an_open_alo(tmp_path: Path) -> None:
    b = LogBuilder(tmp_path / "log.db")
    b.add("a", started("a"))
    b.close()
    position = plant(b.path, "a", 2, started("a", T0 + 1))
    [violation] = verify(b.path)
    assert (violation.invariant, violation.position, violation.stream_id) == (
        "unique-id",
        position,
        "a",
    )


def test_unique_id_a_second_started_after_the_alo_settled(tmp_path: Path) -> None:
    b = LogBuilder(tmp_path / "log.db")
    b.add("a", started("a"), completed(T0 + 1))
    b.add("b", started("b", result_urls=["https://example.com/h"]), completed(T0 + 1))
    b.close()
    plant(b.path, "a", 3, started("a", T0 + 2))
    plant(b.path, "b", 3, started("b", T0 + 2))
    assert broken(b.path) == {"unique-id"}
    assert len(verify(b.path)) == 2


def test_unique_id_version_one_stored_twice(tmp_path: Path) -> None:
    b = LogBuilder(tmp_path / "log.db")
    b.add("a", started("a"), completed(T0 + 1))
    b.close()
    with sqlite3.connect(b.path) as conn:
        conn.execute("DROP INDEX events_stream")
    conn.close()
    position = plant(b.path, "a", 1, started("a", T0 + 2))
    [violation] = verify(b.path)
    assert (violation.invariant, violation.position) == ("unique-id", position)


def test_gapless_versions_a_missing_version(tmp_path: Path) -> None:
    b = LogBuilder(tmp_path / "log.db")
    b.add("a", started("a"))
    b.close()
    position = plant(b.path, "a", 3, AttemptStarted(T0 + 1, 2))
    [violation] = verify(b.path)
    assert (violation.invariant, violation.position) == ("gapless-versions", position)
    assert "version 3 follows version 1" in violation.message


def test_gapless_versions_a_first_version_other_than_one(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    LogBuilder(path).close()
    plant(path, "a", 2, started("a"))
    plant(path, "a", 3, completed(T0 + 1))
    assert broken(path) == {"gapless-versions"}
    assert len(verify(path)) == 1


def test_creation_first(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    LogBuilder(path).close()
    plant(path, "a", 1, AttemptStarted(T0, 2))
    plant(path, "a", 2, started("a", T0 + 1))
    [violation] = verify(path)
    assert violation.invariant == "creation-first"
    assert "the first event is AttemptStarted" in violation.message


@pytest.mark.parametrize("version", [1, 2])
def test_creation_first_a_terminal_event(tmp_path: Path, version: int) -> None:
    # A stream whose first event settles it: reported, not a crash of the verifier.
    path = tmp_path / "log.db"
    LogBuilder(path).close()
    plant(path, "a", version, completed(T0))
    plant(path, "a", version + 1, Paused(T0 + 1))
    expected = ["creation-first", "nothing-after-terminal"]
    if version != 1:
        expected.insert(0, "gapless-versions")
    assert [v.invariant for v in verify(path)] == expected


def test_single_terminal(tmp_path: Path) -> None:
    b = LogBuilder(tmp_path / "log.db")
    b.add("a", started("a"), completed(T0 + 1))
    url = "https://example.com/h"
    b.add("b", started("b", result_urls=[url]), completed(T0 + 1), DeliveriesDue(T0 + 1))
    b.close()
    plant(b.path, "a", 3, Failed(T0 + 2, BOOM))
    plant(b.path, "b", 4, Failed(T0 + 2, BOOM))
    plant(b.path, "b", 5, Delivered(T0 + 3, url))
    assert broken(b.path) == {"single-terminal"}
    assert len(verify(b.path)) == 2


def test_nothing_after_terminal(tmp_path: Path) -> None:
    b = LogBuilder(tmp_path / "log.db")
    b.add("a", started("a"), completed(T0 + 1))
    b.close()
    position = plant(b.path, "a", 3, Paused(T0 + 2))
    [violation] = verify(b.path)
    assert (violation.invariant, violation.position) == ("nothing-after-terminal", position)


def test_created_before_settled(tmp_path: Path) -> None:
    b = LogBuilder(tmp_path / "log.db")
    b.add("a", started("a", T0 + 10), completed(T0 + 5))
    b.close()
    assert broken(b.path) == {"created-before-settled"}


def test_settled_by_deadline(tmp_path: Path) -> None:
    b = LogBuilder(tmp_path / "log.db")
    b.add("a", started("a", deadline=T0 + 5), completed(T0 + 5))
    b.add("b", started("b", deadline=T0 + 5), Failed(T0 + 6, BOOM))
    b.close()
    [violation] = verify(b.path)
    assert (violation.invariant, violation.stream_id) == ("settled-by-deadline", "b")


@pytest.mark.parametrize(
    ("deadline", "timed_out_at"),
    [(T0 + 5, T0 + 4), (T0 + 5, T0 + 6), (None, T0 + 5), (T0 - 5, T0 + 1)],
    # A deadline already past at creation times the ALO out at its creation, not later.
    ids=["early", "late", "no-deadline", "deadline-before-creation"],
)
def test_timed_out_at_deadline(tmp_path: Path, deadline: float | None, timed_out_at: float) -> None:
    b = LogBuilder(tmp_path / "log.db")
    b.add("a", started("a", deadline=deadline), TimedOut(timed_out_at))
    b.close()
    assert broken(b.path) == {"timed-out-at-deadline"}


def test_decodes_garbage(tmp_path: Path) -> None:
    b = LogBuilder(tmp_path / "log.db")
    b.add("a", started("a"))
    b.close()
    position = plant(b.path, "a", 2, b"\xc1 not msgpack", type_name="Completed")
    # After the undecodable terminal event the ALO counts as settled.
    plant(b.path, "a", 3, DeliveriesDue(T0 + 2))
    [violation] = verify(b.path)
    assert (violation.invariant, violation.position) == ("decodes", position)


def test_decodes_a_payload_of_another_type(tmp_path: Path) -> None:
    b = LogBuilder(tmp_path / "log.db")
    b.add("a", started("a"))
    b.close()
    plant(b.path, "a", 2, Paused(T0 + 1), type_name="Completed")
    [violation] = verify(b.path)
    assert violation.invariant == "decodes"
    assert "stored as Completed, but the payload is a Paused" in violation.message


def test_started_id(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    LogBuilder(path).close()
    plant(path, "a", 1, started("somebody-else"))
    assert broken(path) == {"started-id"}


IMPOSSIBLE_STEPS: list[tuple[str, list[AloEvent], str]] = [
    ("resumed while running", [Resumed(T0 + 1)], "Resumed while RUNNING"),
    ("paused twice", [Paused(T0 + 1), Paused(T0 + 2)], "Paused while PAUSED"),
    (
        "an attempt skipped",
        [AttemptFailed(T0 + 1, 1, BOOM, T0 + 1), AttemptStarted(T0 + 2, 3)],
        "attempt 3",
    ),
    (
        "a retry too early",
        [AttemptFailed(T0 + 1, 1, BOOM, T0 + 9), AttemptStarted(T0 + 2, 2)],
        "before its retry",
    ),
    (
        "a failure of no attempt",
        [AttemptFailed(T0 + 1, 1, BOOM, T0 + 2), AttemptFailed(T0 + 3, 1, BOOM, T0 + 4)],
        "none runs",
    ),
    ("a delivery before settling", [Delivered(T0 + 1, HOOK)], "before the ALO settled"),
]


@pytest.mark.parametrize(
    ("events", "why"),
    [case[1:] for case in IMPOSSIBLE_STEPS],
    ids=[case[0] for case in IMPOSSIBLE_STEPS],
)
def test_possible_transition(tmp_path: Path, events: list[AloEvent], why: str) -> None:
    """Every §4 invariant holds, yet no command could have made this log."""
    b = LogBuilder(tmp_path / "log.db")
    b.add("a", started("a", result_urls=[HOOK]), *events)
    b.close()
    [violation] = verify(b.path)
    assert violation.invariant == "possible-transition"
    assert why in violation.message, violation.message
    assert violation.position == 1 + len(events)  # the event that could not be


def test_possible_transition_checks_the_delivery_records_of_a_settled_alo(
    tmp_path: Path,
) -> None:
    b = LogBuilder(tmp_path / "log.db")
    b.add("a", started("a", result_urls=[HOOK]), completed(T0 + 1), DeliveriesDue(T0 + 1))
    b.add("b", started("b"), completed(T0 + 2))
    b.add("a", Delivered(T0 + 3, "https://example.com/not-its-own"), DeliveriesFinished(T0 + 4))
    b.close()
    found = [(v.position, v.invariant, v.message) for v in verify(b.path)]
    assert [(p, i) for p, i, _ in found] == [
        (6, "possible-transition"),
        (7, "possible-transition"),
    ]
    assert "not one of the ALO's result URLs" in found[0][2]
    assert "still owed" in found[1][2]


def test_every_invariant_has_a_test() -> None:
    tested = {
        "unique-id",
        "gapless-versions",
        "creation-first",
        "single-terminal",
        "nothing-after-terminal",
        "created-before-settled",
        "settled-by-deadline",
        "timed-out-at-deadline",
        "decodes",
        "started-id",
        "possible-transition",
    }
    assert set(INVARIANTS) == tested


def test_violations_come_in_log_order_with_counts(tmp_path: Path) -> None:
    b = LogBuilder(tmp_path / "log.db")
    b.add("a", started("a"), completed(T0 + 1))
    b.add("b", started("b"))
    b.close()
    with sqlite3.connect(b.path) as conn:
        conn.execute("DROP INDEX events_stream")
    conn.close()
    plant(b.path, "b", 3, Completed(T0 + 2, started("x").input, {}))  # a gap
    plant(b.path, "a", 1, started("a"))  # a duplicate, found by SQL
    plant(b.path, "a", 3, Paused(T0 + 3))  # after the terminal event
    verification = Verification(b.path)
    found = list(verification)
    assert [v.invariant for v in found] == [
        "gapless-versions",
        "unique-id",
        "nothing-after-terminal",
    ]
    assert [v.position for v in found] == sorted(v.position for v in found)
    assert (verification.events, verification.alos, verification.violations) == (6, 2, 3)
