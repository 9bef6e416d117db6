"""The event log's contract, written once as tests; each backend subclasses EventLogContract."""

from __future__ import annotations

import abc
import contextlib
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from eventlog import (
    Append,
    ConcurrencyError,
    EventLog,
    Fenced,
    Head,
    LogClosed,
    NewEvent,
    RecordedEvent,
)
from eventlog._log import STREAMS_PER_READ

# Every wait in these tests gives up after this long; a healthy run needs milliseconds.
WAIT = 10.0


def ev(type_: str, data: bytes = b"") -> NewEvent:
    return NewEvent(type_, data)


class Recorder:
    """A sink that records each call it gets (one list of appends per call)."""

    def __init__(self, probe: Callable[[list[Append]], object] | None = None) -> None:
        self.calls: list[list[Append]] = []
        self.threads: list[int] = []
        self.probed: list[object] = []
        self._probe = probe
        self._cond = threading.Condition()

    def sink(self, appends: list[Append]) -> None:
        probed = self._probe(appends) if self._probe is not None else None
        with self._cond:
            self.calls.append(list(appends))
            self.threads.append(threading.get_ident())
            self.probed.append(probed)
            self._cond.notify_all()

    def acknowledged(self) -> list[Append]:
        with self._cond:
            return [append for call in self.calls for append in call]

    def wait_for(self, count: int) -> list[Append]:
        """Every append acknowledged so far, once there are at least ``count``."""
        with self._cond:
            done = self._cond.wait_for(lambda: sum(map(len, self.calls)) >= count, WAIT)
            assert done, f"only {sum(map(len, self.calls))} of {count} appends acknowledged"
            return [append for call in self.calls for append in call]


@contextmanager
def writer_held(log: EventLog) -> Iterator[None]:
    """Park the writer inside a sink, so that what is submitted meanwhile forms one batch.

    The writer commits whatever has queued when it comes round; the parking append
    itself (one event on a stream of its own) is committed before the block runs.
    """
    parked, release = threading.Event(), threading.Event()

    def park(_: list[Append]) -> None:
        parked.set()
        release.wait(WAIT)

    log.submit(Append(f"gate-{uuid.uuid4()}", 0, [ev("Gate")], park))
    assert parked.wait(WAIT), "the writer never reached the parking sink"
    try:
        yield
    finally:
        release.set()


def run_threads(targets: list[Callable[[], None]]) -> None:
    """Start every target at once (behind a barrier) and join them all, with timeouts."""
    barrier = threading.Barrier(len(targets))
    errors: list[BaseException] = []

    def run(target: Callable[[], None]) -> None:
        try:
            barrier.wait(WAIT)
            target()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t,), daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT * 3)
        assert not thread.is_alive(), "a thread did not finish in time"
    if errors:
        raise errors[0]


class EventLogContract(abc.ABC):
    """Every promise of the event log, for any backend.

    A subclass provides ``open_log``. The tests assume only what the contract says,
    plus one property of group commit: appends queued while the writer is busy are
    committed together as one batch (up to the batch size).
    """

    _opened: list[EventLog]

    @abc.abstractmethod
    def open_log(self, name: str, **options: Any) -> EventLog:
        """Open (creating if needed) the log ``name`` in this test's own scratch space.

        The same name within one test opens the same stored log again (as another
        process would); every test starts with no logs at all.
        """

    @pytest.fixture(autouse=True)
    def _close_opened_logs(self) -> Iterator[None]:
        self._opened = []
        yield
        for log in self._opened:
            log.close()

    def open(self, name: str = "log", **options: Any) -> EventLog:
        log = self.open_log(name, **options)
        self._opened.append(log)
        return log

    @pytest.fixture
    def log(self) -> EventLog:
        return self.open()

    # -- appending and reading back ---------------------------------------------

    def test_a_fresh_log_is_empty(self, log: EventLog) -> None:
        assert log.last_position() == 0
        assert list(log.read_all()) == []
        assert log.read_stream("nobody") == []
        assert log.stream_version("nobody") == 0
        assert log.stream_ids() == []

    def test_append_then_read_back(self, log: EventLog) -> None:
        before = time.time()
        first = log.append("a", 0, [ev("Started", b"a1"), ev("Ran", b"a2"), ev("Ran", b"a3")])
        second = log.append("b", 0, [ev("Started", b"b1"), ev("Ran", b"b2")])
        third = log.append("a", 3, [ev("Completed", b"a4")])
        after = time.time()

        assert first == [1, 2, 3]
        assert second == [4, 5]
        assert third == [6]
        assert log.last_position() == 6
        assert log.stream_version("a") == 4
        assert log.stream_version("b") == 2

        stream_a = log.read_stream("a")
        assert [(e.position, e.stream_id, e.version, e.type, e.data) for e in stream_a] == [
            (1, "a", 1, "Started", b"a1"),
            (2, "a", 2, "Ran", b"a2"),
            (3, "a", 3, "Ran", b"a3"),
            (6, "a", 4, "Completed", b"a4"),
        ]
        assert all(before - 1 <= e.recorded_at <= after + 1 for e in stream_a)
        assert [e.version for e in log.read_stream("a", from_version=3)] == [3, 4]
        assert log.read_stream("a", from_version=5) == []

        everything = list(log.read_all())
        assert [e.position for e in everything] == [1, 2, 3, 4, 5, 6]
        assert [(e.stream_id, e.version) for e in everything] == [
            ("a", 1),
            ("a", 2),
            ("a", 3),
            ("b", 1),
            ("b", 2),
            ("a", 4),
        ]
        assert all(isinstance(e, RecordedEvent) for e in everything)

    def test_read_streams_reads_many_streams_as_read_stream_does(self, log: EventLog) -> None:
        # More streams than one query reads, their events interleaved in the log.
        count = STREAMS_PER_READ * 2 + 3
        names = [f"s{n}" if n % 7 else f"o'dd \u00fc {n}" for n in range(count)]
        recorder = Recorder()
        with writer_held(log):
            for name in names:
                log.submit(Append(name, 0, [ev("A", name.encode())], recorder.sink))
        recorder.wait_for(count)
        for name in names[::3]:
            log.append(name, 1, [ev("B"), ev("C")])
        log.delete_streams([names[5]])
        asked = ["nobody", *reversed(names), names[1]]  # unknown, out of order, repeated
        got = list(log.read_streams(asked))
        assert [stream_id for stream_id, _ in got] == asked
        assert got == [(name, log.read_stream(name)) for name in asked]
        assert dict(got)["nobody"] == dict(got)[names[5]] == []
        assert [e.type for e in dict(got)[names[3]]] == ["A", "B", "C"]
        assert list(log.read_streams([])) == []

    def test_types_and_data_are_stored_byte_for_byte(self, log: EventLog) -> None:
        events = [
            ev("Empty", b""),
            ev("Binary", bytes(range(256)) * 3),
            ev("Nul", b"\x00\x00tail\x00"),
            ev("Großes Ereignis ✓", b"x" * 300_000),
        ]
        log.append("stream with spaces/und Ümlaute", 0, events)
        stored = log.read_stream("stream with spaces/und Ümlaute")
        assert [NewEvent(e.type, e.data) for e in stored] == events
        assert all(type(e.data) is bytes for e in stored)

    def test_a_multi_event_append_is_never_seen_in_part(self, log: EventLog) -> None:
        recorder = Recorder()
        appends = [
            Append("atomic", 5 * i, [ev("Part", b"%d" % j) for j in range(5)], recorder.sink)
            for i in range(100)
        ]
        torn: list[int] = []
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                seen = len(log.read_stream("atomic"))
                total = sum(1 for _ in log.read_all())
                if seen % 5 or total % 5:
                    torn.append(seen)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            for append in appends:
                log.submit(append)
            acknowledged = recorder.wait_for(len(appends))
        finally:
            done.set()
            watcher.join(WAIT)
        assert not watcher.is_alive()
        assert torn == []
        assert all(a.error is None for a in acknowledged)
        assert [e.version for e in log.read_stream("atomic")] == list(range(1, 501))

    # -- optimistic concurrency -------------------------------------------------

    @pytest.mark.parametrize("expected", [0, 1])
    def test_a_stale_expected_version_is_refused(self, log: EventLog, expected: int) -> None:
        log.append("s", 0, [ev("One"), ev("Two")])
        with pytest.raises(ConcurrencyError) as raised:
            log.append("s", expected, [ev("Late", b"late"), ev("Later")])
        assert raised.value.stream_id == "s"
        assert raised.value.expected_version == expected
        assert [e.type for e in log.read_stream("s")] == ["One", "Two"]
        assert log.last_position() == 2

    @pytest.mark.parametrize(("stream", "expected"), [("s", 3), ("s", 10), ("empty", 1)])
    def test_an_expected_version_ahead_of_the_stream_is_refused(
        self, log: EventLog, stream: str, expected: int
    ) -> None:
        log.append("s", 0, [ev("One"), ev("Two")])
        with pytest.raises(ConcurrencyError) as raised:
            log.append(stream, expected, [ev("Gap")])
        assert raised.value.expected_version == expected
        assert log.read_stream("empty") == []
        assert [e.version for e in log.read_stream("s")] == [1, 2]
        assert log.last_position() == 2
        # The refused append left no trace: the next event still gets the next position.
        assert log.append("s", 2, [ev("Three")]) == [3]

    def test_a_conflict_fails_only_its_own_append_in_a_batch(self, log: EventLog) -> None:
        log.append("old", 0, [ev("Old1"), ev("Old2")])
        recorder = Recorder()
        sink = recorder.sink
        with writer_held(log):
            base = log.last_position()
            fresh = Append("fresh", 0, [ev("F1"), ev("F2")], sink)
            stale = Append("old", 1, [ev("Stale")], sink)
            gap = Append("new", 1, [ev("Gap")], sink)
            follows = Append("fresh", 2, [ev("F3")], sink)  # continues `fresh`, same batch
            twin = Append("fresh", 0, [ev("Twin")], sink)  # races `fresh` in the same batch
            extends = Append("old", 2, [ev("Old3"), ev("Old4")], sink)
            batch = [fresh, stale, gap, follows, twin, extends]
            for append in batch:
                log.submit(append)
        assert recorder.wait_for(len(batch)) == batch
        assert len(recorder.calls) == 1

        assert fresh.error is None
        assert list(fresh.positions) == [base + 1, base + 2]
        assert follows.error is None
        assert list(follows.positions) == [base + 3]
        assert extends.error is None
        assert list(extends.positions) == [base + 4, base + 5]
        for failed, expected in [(stale, 1), (gap, 1), (twin, 0)]:
            assert isinstance(failed.error, ConcurrencyError)
            assert failed.error.expected_version == expected
            assert list(failed.positions) == []

        assert [e.type for e in log.read_stream("fresh")] == ["F1", "F2", "F3"]
        assert [e.type for e in log.read_stream("old")] == ["Old1", "Old2", "Old3", "Old4"]
        assert log.read_stream("new") == []
        # Positions stay gapless even though the failed appends were rolled back.
        assert [e.position for e in log.read_all()] == list(range(1, base + 6))

    def test_threads_racing_on_one_stream_each_land_exactly_once(self, log: EventLog) -> None:
        per_thread = 15

        def writer(name: str) -> Callable[[], None]:
            def run() -> None:
                written = 0
                while written < per_thread:
                    version = log.stream_version("counter")
                    try:
                        log.append("counter", version, [ev("Inc", name.encode())])
                    except ConcurrencyError:
                        continue  # someone else got there first: read the version again
                    written += 1

            return run

        names = [f"t{i}" for i in range(4)]
        run_threads([writer(name) for name in names])
        stored = log.read_stream("counter")
        assert [e.version for e in stored] == list(range(1, 4 * per_thread + 1))
        assert sorted(e.data.decode() for e in stored) == sorted(names * per_thread)

    # -- sinks ------------------------------------------------------------------

    def test_a_sink_is_called_once_per_batch_with_its_own_appends(self, log: EventLog) -> None:
        mine, theirs = Recorder(), Recorder()
        token = object()
        with writer_held(log):
            # `mine.sink` is a new bound-method object each time: the same sink all the same.
            a = Append("a", 0, [ev("A")], mine.sink, token=token)
            b = Append("b", 0, [ev("B")], theirs.sink)
            c = Append("c", 0, [ev("C1"), ev("C2")], mine.sink)
            d = Append("d", 0, [ev("D")], theirs.sink)
            e = Append("e", 0, [ev("E")], mine.sink)
            for append in (a, b, c, d, e):
                log.submit(append)
        assert mine.wait_for(3) == [a, c, e]
        assert theirs.wait_for(2) == [b, d]
        assert [len(call) for call in mine.calls] == [3]
        assert [len(call) for call in theirs.calls] == [2]
        assert a.token is token
        assert mine.threads[0] != threading.get_ident()

    def test_a_sink_runs_once_the_events_are_readable_elsewhere(self, log: EventLog) -> None:
        other = self.open("log")

        def probe(appends: list[Append]) -> object:
            from_another_thread: list[list[str]] = []
            reader = threading.Thread(
                target=lambda: from_another_thread.append(
                    [e.type for a in appends for e in log.read_stream(a.stream_id)]
                )
            )
            reader.start()
            reader.join(WAIT)
            from_another_log = [e.type for a in appends for e in other.read_stream(a.stream_id)]
            return from_another_thread, from_another_log

        recorder = Recorder(probe)
        log.submit(Append("seen", 0, [ev("One"), ev("Two")], recorder.sink))
        recorder.wait_for(1)
        assert recorder.probed == [([["One", "Two"]], ["One", "Two"])]

    def test_an_unhashable_sink_is_grouped_by_identity(self, log: EventLog) -> None:
        @dataclass  # eq without hash: unhashable
        class Sink:
            calls: list[list[Append]]

            def __call__(self, appends: list[Append]) -> None:
                self.calls.append(appends)

        first, second = Sink([]), Sink([])  # equal, yet two sinks
        with writer_held(log):
            for i, sink in enumerate([first, second, first]):
                log.submit(Append(f"s{i}", 0, [ev("E")], sink))
        log.append("after", 0, [ev("E")])  # acknowledged after the batch above
        assert [[a.stream_id for a in call] for call in first.calls] == [["s0", "s2"]]
        assert [[a.stream_id for a in call] for call in second.calls] == [["s1"]]

    def test_a_failing_sink_does_not_stop_the_writer(self, log: EventLog) -> None:
        def broken(_: list[Append]) -> None:
            raise RuntimeError("a broken sink")

        log.submit(Append("x", 0, [ev("X")], broken))
        assert log.append("y", 0, [ev("Y")]) == [2]
        assert [e.stream_id for e in log.read_all()] == ["x", "y"]

    def test_a_malformed_append_is_refused_without_harming_its_batch(self, log: EventLog) -> None:
        recorder = Recorder()
        with writer_held(log):
            good = Append("good", 0, [ev("Good")], recorder.sink)
            log.submit(good)
            with pytest.raises(TypeError):
                log.submit(Append("bad", 0, [NewEvent("Bad", {"no": "bytes"})], recorder.sink))  # type: ignore[arg-type]
            with pytest.raises(TypeError):
                log.submit(Append("bad", 0, [NewEvent("Bad", None)], recorder.sink))  # type: ignore[arg-type]
            also = Append("also", 0, [ev("Also")], recorder.sink)
            log.submit(also)
        assert recorder.wait_for(2) == [good, also]
        assert good.error is None
        assert also.error is None
        assert log.read_stream("bad") == []

    # -- reading everything -----------------------------------------------------

    @pytest.mark.parametrize("chunk", [1, 3, 4, 10_000])
    def test_read_all_from_a_position_with_a_limit(self, log: EventLog, chunk: int) -> None:
        for i in range(6):
            log.append(f"s{i}", 0, [ev("E", b"%d-%d" % (i, j)) for j in range(4)])
        assert log.last_position() == 24

        assert [e.position for e in log.read_all(chunk=chunk)] == list(range(1, 25))
        assert [e.position for e in log.read_all(7, chunk=chunk)] == list(range(8, 25))
        assert [e.position for e in log.read_all(7, limit=8, chunk=chunk)] == list(range(8, 16))
        assert [e.position for e in log.read_all(0, limit=12, chunk=chunk)] == list(range(1, 13))
        assert [e.position for e in log.read_all(20, limit=100, chunk=chunk)] == [21, 22, 23, 24]
        assert list(log.read_all(0, limit=0, chunk=chunk)) == []
        assert list(log.read_all(24, chunk=chunk)) == []
        assert list(log.read_all(1000, chunk=chunk)) == []
        assert [(e.stream_id, e.data) for e in log.read_all(4, limit=2, chunk=chunk)] == [
            ("s1", b"1-0"),
            ("s1", b"1-1"),
        ]

    def test_tail_follows_new_events_until_stopped(self, log: EventLog) -> None:
        log.append("a", 0, [ev("A1"), ev("A2")])
        seen: queue.Queue[RecordedEvent] = queue.Queue()
        stop = threading.Event()

        def follow() -> None:
            for event in log.tail(1, poll_interval=0.01, stop=stop):
                seen.put(event)

        follower = threading.Thread(target=follow, daemon=True)
        follower.start()
        try:
            assert seen.get(timeout=WAIT)[:4] == (2, "a", 2, "A2")
            log.append("b", 0, [ev("B1")])
            assert seen.get(timeout=WAIT)[:4] == (3, "b", 1, "B1")
            # Another log on the same storage stands in for another process.
            self.open("log").append("a", 2, [ev("A3"), ev("A4")])
            assert [seen.get(timeout=WAIT).type for _ in range(2)] == ["A3", "A4"]
        finally:
            stop.set()
            follower.join(WAIT)
        assert not follower.is_alive(), "tail did not stop"
        assert seen.empty()

    def test_tail_with_stop_already_set_yields_nothing(self, log: EventLog) -> None:
        log.append("a", 0, [ev("A1")])
        stop = threading.Event()
        stop.set()
        assert list(log.tail(0, poll_interval=0.01, stop=stop)) == []

    # -- recovery ---------------------------------------------------------------

    def test_stream_ids_leaves_out_streams_with_a_given_type(self, log: EventLog) -> None:
        log.append("done", 0, [ev("Started"), ev("Completed")])
        log.append("open", 0, [ev("Started")])
        log.append("cancelled", 0, [ev("Started")])
        log.append("busy", 0, [ev("Started"), ev("Ran"), ev("Ran")])
        log.append("cancelled", 1, [ev("Cancelled")])

        assert sorted(log.stream_ids()) == ["busy", "cancelled", "done", "open"]
        assert sorted(log.stream_ids(where_type_not_in=["Completed", "Cancelled"])) == [
            "busy",
            "open",
        ]
        assert sorted(log.stream_ids(where_type_not_in=["Nothing"])) == sorted(log.stream_ids())
        assert log.stream_ids(where_type_not_in=["Started"]) == []

    # -- lifetime ---------------------------------------------------------------

    def test_close_is_idempotent_and_refuses_later_appends(self, log: EventLog) -> None:
        log.append("a", 0, [ev("A")])
        log.close()
        log.close()
        assert log.closed
        recorder = Recorder()
        with pytest.raises(LogClosed):
            log.submit(Append("a", 1, [ev("B")], recorder.sink))
        with pytest.raises(LogClosed):
            log.append("a", 1, [ev("B")])
        assert recorder.calls == []
        assert [e.type for e in self.open("log").read_stream("a")] == ["A"]

    def test_close_while_other_threads_read_ends_their_reads_with_log_closed(self) -> None:
        log = self.open("log")
        log.append("a", 0, [ev("A")])
        reading = threading.Barrier(5)
        endings: list[BaseException | None] = []

        def read_on() -> None:
            reading.wait(WAIT)
            try:
                for _ in range(1_000_000):
                    assert [e.type for e in log.read_stream("a")] == ["A"]
                    log.head()
            except BaseException as error:  # the ending is what the test checks
                endings.append(error)
            else:
                endings.append(None)

        threads = [threading.Thread(target=read_on) for _ in range(4)]
        for thread in threads:
            thread.start()
        reading.wait(WAIT)
        log.close()
        for thread in threads:
            thread.join(WAIT)
        assert not any(thread.is_alive() for thread in threads)
        assert [type(error) for error in endings] == [LogClosed] * 4
        with pytest.raises(LogClosed):
            log.read_stream("a")

    def test_close_commits_everything_already_submitted(self) -> None:
        log = self.open("log", batch_size=16)
        recorder = Recorder()
        appends = [Append(f"s{i}", 0, [ev("E"), ev("F")], recorder.sink) for i in range(300)]
        for append in appends:
            log.submit(append)
        log.close()
        assert recorder.acknowledged() == appends
        assert all(a.error is None for a in appends)
        assert sum(1 for _ in self.open("log").read_all()) == 600

    def test_a_log_is_a_context_manager(self) -> None:
        with self.open("log") as log:
            log.append("a", 0, [ev("A")])
        assert log.closed

    def test_threads_appending_to_distinct_streams_all_land_once(self, log: EventLog) -> None:
        threads, streams = 8, 40
        returned: dict[tuple[str, int], int] = {}
        lock = threading.Lock()

        def writer(t: int) -> Callable[[], None]:
            def run() -> None:
                recorder = Recorder()
                for s in range(streams):
                    sid = f"t{t}-s{s}"
                    positions = log.append(sid, 0, [ev("E", b"%d" % v) for v in (1, 2)])
                    log.submit(Append(sid, 2, [ev("E", b"3")], recorder.sink))
                    with lock:
                        returned.update(
                            {(sid, v): p for v, p in zip((1, 2), positions, strict=True)}
                        )
                for append in recorder.wait_for(streams):
                    assert append.error is None
                    with lock:
                        returned[(append.stream_id, 3)] = append.positions[0]

            return run

        run_threads([writer(t) for t in range(threads)])
        total = threads * streams * 3
        stored = list(log.read_all())
        assert [e.position for e in stored] == list(range(1, total + 1))
        assert {(e.stream_id, e.version): e.position for e in stored} == returned
        assert all(e.data == b"%d" % e.version for e in stored)

    def test_full_durability_appends_and_reads(self) -> None:
        log = self.open("full", durability="full")
        assert log.durability == "full"
        assert log.append("a", 0, [ev("A"), ev("B")]) == [1, 2]
        assert [e.type for e in log.read_stream("a")] == ["A", "B"]

    def test_an_unknown_durability_is_refused(self) -> None:
        with pytest.raises(ValueError, match="durability"):
            self.open("log", durability="sometimes")

    # -- shards, leases and fencing (several processes over one log) ---------------------

    def test_a_stream_has_one_shard_everywhere(self, log: EventLog) -> None:
        other = self.open("log")
        assert log.shard_count == other.shard_count >= 1
        ids = [f"alo-{i}" for i in range(500)] + ["", "ü/x", "\udc80"]
        shards = [log.shard_of(i) for i in ids]
        assert shards == [other.shard_of(i) for i in ids]
        assert all(0 <= shard < log.shard_count for shard in shards)
        assert len(set(shards)) == log.shard_count  # 500 ids reach every one of 64

    def test_the_shard_count_is_fixed_when_the_log_is_made(self) -> None:
        assert self.open("few", shards=4).shard_count == 4
        assert self.open("few", shards=16).shard_count == 4
        with pytest.raises(ValueError, match="shards"):
            self.open("bad", shards=0)

    def test_a_fresh_log_has_free_leases(self, log: EventLog) -> None:
        leases = log.leases()
        assert [lease.shard for lease in leases] == list(range(log.shard_count))
        assert all(lease.owner is None and lease.expires_at == 0 for lease in leases)

    def test_a_heartbeat_lists_live_members_and_renews_their_leases(self, log: EventLog) -> None:
        seen = log.heartbeat("a", '{"pid": 1}', ttl=30)
        assert [m.id for m in seen.members] == ["a"]
        assert seen.members[0].info == '{"pid": 1}'
        assert seen.members[0].expires_at == pytest.approx(seen.now + 30, abs=1)
        [claim] = log.claim("a", {3: seen.leases[3].epoch}, ttl=1)
        assert claim.lease.owner == "a"
        assert claim.lease.epoch == seen.leases[3].epoch + 1
        other = self.open("log")
        again = other.heartbeat("b", "{}", ttl=30)
        assert [m.id for m in again.members] == ["a", "b"]
        assert again.leases[3] == claim.lease
        renewed = log.heartbeat("a", '{"pid": 1}', ttl=60)
        assert renewed.leases[3].epoch == claim.lease.epoch  # renewing claims nothing
        assert renewed.leases[3].expires_at == pytest.approx(renewed.now + 60, abs=1)

    def test_a_lapsed_member_drops_out(self, log: EventLog) -> None:
        log.heartbeat("gone", "{}", ttl=0.05)
        deadline = time.monotonic() + WAIT
        while "gone" in [m.id for m in log.heartbeat("here", "{}", ttl=30).members]:
            assert time.monotonic() < deadline, "a lapsed member stayed listed"
            time.sleep(0.01)

    def test_only_one_of_two_claims_from_one_epoch_wins(self, log: EventLog) -> None:
        epoch = log.leases()[5].epoch
        other = self.open("log")
        results: dict[str, int] = {}

        def claim(member: str, on: EventLog) -> Callable[[], None]:
            return lambda: results.__setitem__(member, len(on.claim(member, {5: epoch}, 30)))

        run_threads([claim("a", log), claim("b", other)])
        assert sorted(results.values()) == [0, 1]
        [winner] = [m for m, n in results.items() if n]
        assert log.leases()[5].owner == winner
        assert log.leases()[5].epoch == epoch + 1

    def test_a_claim_returns_the_head_it_was_made_at(self, log: EventLog) -> None:
        log.append("s", 0, [ev("A"), ev("B")])
        [claim] = log.claim("a", {0: 0}, 30)
        assert claim.head == 2
        log.append("s", 2, [ev("C")])
        assert log.claim("a", {1: 0, 2: 0}, 30)[1].head == 3

    def test_a_fenced_append_fails_alone_once_its_lease_moved(self, log: EventLog) -> None:
        [mine] = log.claim("a", {7: 0}, 30)
        fence = (7, mine.lease.epoch)
        recorder = Recorder()
        log.submit(Append("held", 0, [ev("Ok")], recorder.sink, fence=fence))
        [held] = recorder.wait_for(1)
        assert held.error is None
        # Another process claims shard 7 (the lease lapsed, or a is thought dead).
        other = self.open("log")
        [theirs] = other.claim("b", {7: mine.lease.epoch}, 30)
        with writer_held(log):
            late = Append("held", 1, [ev("Late")], recorder.sink, fence=fence)
            free = Append("free", 0, [ev("Free")], recorder.sink)
            current = Append("b-s", 0, [ev("B")], recorder.sink, fence=(7, theirs.lease.epoch))
            for append in (late, free, current):
                log.submit(append)
        recorder.wait_for(4)
        assert isinstance(late.error, Fenced)
        assert (late.error.shard, late.error.epoch) == fence
        assert list(late.positions) == []
        assert free.error is None and current.error is None
        assert [e.type for e in log.read_stream("held")] == ["Ok"]
        # Ok, the writer's gate, Free, B: the fenced append took no position.
        assert [e.type for e in log.read_all()] == ["Ok", "Gate", "Free", "B"]
        assert [e.position for e in log.read_all()] == [1, 2, 3, 4]

    def test_a_released_lease_fences_its_old_holder(self, log: EventLog) -> None:
        [mine] = log.claim("a", {1: 0, 2: 0}, 30)[:1]
        log.release("a", [1])
        lease = log.leases()[1]
        assert lease.owner is None and lease.epoch == mine.lease.epoch + 1
        assert log.leases()[2].owner == "a"
        with pytest.raises(Fenced):
            _append_fenced(log, "s", (1, mine.lease.epoch))
        log.leave("a")
        assert log.leases()[2].owner is None
        assert "a" not in [m.id for m in log.heartbeat("b", "{}", 30).members]

    def test_fencing_holds_when_a_conflict_sends_the_batch_one_by_one(self, log: EventLog) -> None:
        [mine] = log.claim("a", {4: 0}, 30)
        log.append("taken", 0, [ev("First")])
        self.open("log").claim("b", {4: mine.lease.epoch}, 30)
        recorder = Recorder()
        with writer_held(log):
            stale = Append("taken", 0, [ev("Twin")], recorder.sink)  # a conflict
            fenced = Append("f", 0, [ev("F")], recorder.sink, fence=(4, mine.lease.epoch))
            fine = Append("g", 0, [ev("G")], recorder.sink)
            for append in (stale, fenced, fine):
                log.submit(append)
        recorder.wait_for(3)
        assert isinstance(stale.error, ConcurrencyError)
        assert isinstance(fenced.error, Fenced)
        assert fine.error is None
        assert log.read_stream("f") == []

    # -- following the others' writes -------------------------------------------------------

    def test_head_counts_positions_given_and_deletions(self, log: EventLog) -> None:
        assert log.head() == Head(0, 0)
        log.append("a", 0, [ev("A1"), ev("A2")])
        log.append("b", 0, [ev("B")])
        assert log.head() == Head(3, 0)
        assert log.delete_streams(["b"]) == 1
        assert log.head() == Head(3, 1)  # the position is not given back
        assert log.delete_streams(["nobody"]) == 0
        assert log.head() == Head(3, 1)
        assert self.open("log").head() == Head(3, 1)

    def test_a_log_knows_its_own_commits(self, log: EventLog) -> None:
        log.append("a", 0, [ev("A1"), ev("A2")])
        assert log.frontier.covers(log.head())
        log.delete_streams(["a"])
        assert log.frontier.covers(log.head())
        self.open("log").append("b", 0, [ev("B")])
        assert not log.frontier.covers(log.head())

    def test_the_follower_hands_on_only_the_others_events(self, log: EventLog) -> None:
        other = self.open("log")
        got: queue.Queue[tuple[list[RecordedEvent], Head]] = queue.Queue()

        def consume(events: Sequence[RecordedEvent], head: Head) -> None:
            got.put((list(events), head))
            log.frontier.applied(head)

        log.append("mine", 0, [ev("M1")])
        follower = log.follow(consume, poll_interval=0.01)
        try:
            other.append("theirs", 0, [ev("T1"), ev("T2")])
            log.append("mine", 1, [ev("M2")])
            other.append("theirs", 2, [ev("T3")])
            log.append("mine", 2, [ev("M3")])
            seen: list[str] = []
            deadline = time.monotonic() + WAIT
            while not log.frontier.covers(log.head()):
                assert time.monotonic() < deadline, "the follower never caught up"
                try:
                    events, head = got.get(timeout=0.1)
                except queue.Empty:
                    continue
                seen.extend(e.type for e in events)
            # The consumer queues before it applies: once covered, all is queued.
            while not got.empty():
                seen.extend(e.type for e in got.get_nowait()[0])
            assert seen == ["T1", "T2", "T3"]
            other.delete_streams(["theirs"])
            deleted = log.head()
            deadline = time.monotonic() + WAIT
            while not log.frontier.covers(deleted):
                assert time.monotonic() < deadline, "the deletion was never handed on"
                with contextlib.suppress(queue.Empty):
                    events, head = got.get(timeout=0.1)
                    assert events == []
            while not got.empty():
                events, head = got.get_nowait()
                assert events == []
            assert head.deletions == 1
        finally:
            follower.stop()
        with pytest.raises(RuntimeError):
            log.follow(consume)

    def test_a_poked_follower_looks_at_once(self, log: EventLog) -> None:
        other = self.open("log")
        got = threading.Event()

        def consume(events: Sequence[RecordedEvent], head: Head) -> None:
            got.set()
            log.frontier.applied(head)

        follower = log.follow(consume, poll_interval=3600)
        try:
            other.append("theirs", 0, [ev("T")])
            follower.poke()
            assert got.wait(WAIT)
            assert log.frontier.wait_covers(log.head(), WAIT)
        finally:
            follower.stop()

    def test_a_reader_waits_until_the_frontier_covers_a_head(self, log: EventLog) -> None:
        other = self.open("log")
        other.append("theirs", 0, [ev("T")])
        head = log.head()
        assert not log.frontier.wait_covers(head, 0.01)
        waiting = threading.Thread(target=lambda: log.frontier.wait_covers(head, WAIT))
        waiting.start()
        log.frontier.applied(head)
        waiting.join(WAIT)
        assert not waiting.is_alive()
        assert log.frontier.covers(head)

    def test_wait_past_returns_once_a_commit_moves_the_frontier(self, log: EventLog) -> None:
        log.append("a", 0, [ev("A")])
        start = log.head().position
        got: list[int] = []
        waiting = threading.Thread(target=lambda: got.append(log.frontier.wait_past(start, WAIT)))
        waiting.start()
        [position] = log.append("b", 0, [ev("B")])
        waiting.join(WAIT)
        assert got == [position]
        assert log.frontier.wait_past(position, 0) == position  # not past it: at once

    def test_submit_many_queues_in_order_and_refuses_once_closed(self, log: EventLog) -> None:
        recorder = Recorder()
        appends = [Append(f"m{i}", 0, [ev("E"), ev("F")], recorder.sink) for i in range(5)]
        log.submit_many(appends)
        recorder.wait_for(5)
        assert [list(a.positions) for a in appends] == [[2 * i + 1, 2 * i + 2] for i in range(5)]
        assert all(a.error is None for a in appends)
        log.close()
        with pytest.raises(LogClosed):
            log.submit_many([Append("late", 0, [ev("E")], recorder.sink)])

    # -- health and counters --------------------------------------------------------

    def test_a_writable_log_probes_clean(self, log: EventLog) -> None:
        assert log.unwritable is None
        assert log.probe() is None
        assert log.unwritable is None
        assert list(log.read_all()) == []  # the probe wrote no event
        log.close()
        fault = log.probe()
        assert fault is not None and "closed" in fault.reason

    def test_commit_stats_count_commits_and_appends(self, log: EventLog) -> None:
        log.append("a", 0, [ev("A")])
        log.append("b", 0, [ev("B")])
        recorder = Recorder()
        with writer_held(log):  # its parking append is a commit of its own
            for i in range(3):
                log.submit(Append(f"c{i}", 0, [ev("C")], recorder.sink))
        recorder.wait_for(3)
        stats = log.commit_stats
        assert (stats.commits, stats.appends, stats.failed_commits) == (4, 6, 0)
        assert sum(stats.batch_counts) == sum(stats.seconds_counts) == 4
        assert stats.batch_counts[0] == 3  # three commits of one append
        assert stats.batch_counts[stats.batch_buckets.index(5)] == 1  # and one of three
        assert stats.seconds_sum > 0


def _append_fenced(log: EventLog, stream_id: str, fence: tuple[int, int]) -> None:
    done = threading.Event()
    append = Append(stream_id, 0, [ev("E")], lambda _: done.set(), fence=fence)
    log.submit(append)
    assert done.wait(WAIT)
    if append.error is not None:
        raise append.error
