"""The rate chart's arithmetic, over a real events table in SQLite and in PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
import pytest

from alo_actor.http.console._logview import FRAME, RateChart, rate_chart
from eventlog import Backend
from tests.postgres import PostgresServer


class Events:
    """An events table (type, recorded_at) in one of the log's dialects."""

    def __init__(self, conn: Any, dialect: Backend) -> None:
        self.conn = conn
        self.dialect: Backend = dialect

    def add(self, rows: Sequence[tuple[str, float]]) -> None:
        mark = "?" if self.dialect == "sqlite" else "%s"
        sql = f"INSERT INTO events (type, recorded_at) VALUES ({mark}, {mark})"
        if self.dialect == "sqlite":
            self.conn.executemany(sql, rows)
        else:
            with self.conn.cursor() as cursor:
                cursor.executemany(sql, rows)

    def chart(self, **options: Any) -> RateChart | None:
        def query(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
            rows: list[tuple[Any, ...]] = self.conn.execute(sql, params).fetchall()
            return rows

        return rate_chart(query, dialect=self.dialect, **options)


@pytest.fixture(params=["sqlite", "postgresql"])
def events(request: pytest.FixtureRequest) -> Iterator[Events]:
    if request.param == "sqlite":
        conn = sqlite3.connect(":memory:")
        conn.execute(
            "CREATE TABLE events (position INTEGER PRIMARY KEY, type TEXT, recorded_at REAL)"
        )
        try:
            yield Events(conn, "sqlite")
        finally:
            conn.close()
        return
    postgres: PostgresServer = request.getfixturevalue("postgres")
    schema = postgres.new_schema("chart")
    try:
        with psycopg.connect(postgres.url(schema), autocommit=True) as pg:
            pg.execute(
                "CREATE TABLE events (position bigserial PRIMARY KEY, type text, "
                "recorded_at double precision)"
            )
            yield Events(pg, "postgresql")
    finally:
        postgres.drop_schema(schema)


def test_an_empty_log_has_no_chart(events: Events) -> None:
    assert events.chart() is None


def test_one_instant_is_one_bar(events: Events) -> None:
    events.add([("Started", 5.0)] * 3)
    chart = events.chart()
    assert chart is not None
    assert len(chart.bars) == 1
    assert chart.peak == 3.0  # three events in a bucket of one second
    assert chart.bars[0].height == FRAME.bottom - FRAME.top


def test_buckets_count_events_starts_and_settlements(events: Events) -> None:
    # 10 s of log in 10 buckets of 1 s: 4 events in the first second, 1 in the last.
    rows = [("Started", 100.0), ("Started", 100.2), ("Completed", 100.5), ("Failed", 100.9)]
    rows += [("AttemptStarted", 104.5), ("Cancelled", 110.0)]
    events.add(rows)
    chart = events.chart(buckets=10)
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
