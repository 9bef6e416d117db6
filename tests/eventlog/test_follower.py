"""The follower thread's own lifetime: what it does when a read fails."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import pytest

from eventlog import Head, LogClosed, RecordedEvent
from eventlog._follow import Follower, Frontier

WAIT = 10.0


def _follower(read_head: object, stopped: threading.Event) -> Follower:
    def consume(events: Sequence[RecordedEvent], head: Head) -> None:
        raise AssertionError("nothing is read, so nothing is handed on")

    return Follower(
        read_head,  # type: ignore[arg-type]
        lambda after, upto: [],
        Frontier(Head(0, 0)),
        consume,
        poll_interval=0.001,
        on_stop=stopped.set,
    )


def test_a_log_closed_under_the_follower_stops_it_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The log's close marks it closed, then stops its follower: a read in between
    # raises LogClosed, which is the end of the follower's work, not a failure.
    reads: list[int] = []

    def read_head() -> Head:
        reads.append(1)
        raise LogClosed("the event log is closed")

    stopped = threading.Event()
    with caplog.at_level(logging.DEBUG, logger="eventlog"):
        follower = _follower(read_head, stopped)
        assert stopped.wait(WAIT), "the follower went on after its log was closed"
        follower.stop()
    assert reads == [1]
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_a_failing_read_is_logged_and_tried_again(caplog: pytest.LogCaptureFixture) -> None:
    tried_twice = threading.Event()
    reads: list[int] = []

    def read_head() -> Head:
        reads.append(1)
        if len(reads) >= 2:
            tried_twice.set()
        raise OSError("disk I/O error")

    stopped = threading.Event()
    with caplog.at_level(logging.ERROR, logger="eventlog"):
        follower = _follower(read_head, stopped)
        try:
            assert tried_twice.wait(WAIT), "the follower gave up after one failed read"
        finally:
            follower.stop()
    assert stopped.is_set()
    assert any("could not read the log" in r.getMessage() for r in caplog.records)
