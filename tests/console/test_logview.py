"""The rate chart's arithmetic, over a real SQLite events table."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from alo_actor.http.console._logview import FRAME, rate_chart


@pytest.fixture
def events() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE events (position INTEGER PRIMARY KEY, type TEXT, recorded_at REAL)")
    try:
        yield conn
    finally:
        conn.close()


def query_of(conn: sqlite3.Connection) -> Any:
    def query(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return conn.execute(sql, params).fetchall()

    return query


def test_an_empty_log_has_no_chart(events: sqlite3.Connection) -> None:
    assert rate_chart(query_of(events)) is None


def test_one_instant_is_one_bar(events: sqlite3.Connection) -> None:
    events.executemany(
        "INSERT INTO events (type, recorded_at) VALUES (?, ?)", [("Started", 5.0)] * 3
    )
    chart = rate_chart(query_of(events))
    assert chart is not None
    assert len(chart.bars) == 1
    assert chart.peak == 3.0  # three events in a bucket of one second
    assert chart.bars[0].height == FRAME.bottom - FRAME.top


def test_buckets_count_events_starts_and_settlements(events: sqlite3.Connection) -> None:
    # 10 s of log in 10 buckets of 1 s: 4 events in the first second, 1 in the last.
    rows = [("Started", 100.0), ("Started", 100.2), ("Completed", 100.5), ("Failed", 100.9)]
    rows += [("AttemptStarted", 104.5), ("Cancelled", 110.0)]
    events.executemany("INSERT INTO events (type, recorded_at) VALUES (?, ?)", rows)
    chart = rate_chart(query_of(events), buckets=10)
    assert chart is not None
    assert len(chart.bars) == 10
    assert chart.seconds == 1.0
    assert chart.total == 6
    assert chart.peak == 4.0
    heights = [bar.height for bar in chart.bars]
    full = FRAME.bottom - FRAME.top
    assert heights[0] == full
    assert heights[4] == full / 4
    assert heights[9] == full / 4  # the last event falls in the last bucket, not past it
    assert [h for i, h in enumerate(heights) if i not in (0, 4, 9)] == [0] * 7
    assert "2.0 started/s, 2.0 settled/s" in chart.bars[0].title
    assert "0.0 started/s, 1.0 settled/s" in chart.bars[9].title
    started = [float(point.split(",")[1]) for point in chart.started.split()]
    assert started[0] == FRAME.bottom - full / 2  # 2 starts/s against a peak of 4
    assert started[1:] == [FRAME.bottom] * 9
