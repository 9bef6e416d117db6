"""The Python face of the log tools: timelines, summaries, export, follow, plots."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import msgspec
import pytest

from alo_actor._events import Paused
from alo_actor._machine import AloState
from alo_actor._model import Failure, Status
from alo_actor.logtools import (
    UnknownAlo,
    event_record,
    export,
    follow,
    lifetimes,
    plot_lifetimes,
    render_summary,
    render_timeline,
    shorten,
    state_fields,
    summarize,
    timeline,
    write_jsonl,
)
from eventlog import LogReader
from tests.alo_actor.logtools_support import (
    T0,
    LogBuilder,
    digest,
    plant,
    random_log,
    sound_log,
    started,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    b = sound_log(tmp_path / "log.db")
    b.close()
    return b.path


def test_a_timeline_names_each_event_and_decodes_payloads(db: Path) -> None:
    t = timeline(db, "done")
    assert [(e.position, e.version, e.type) for e in t.entries] == [
        (1, 1, "Started"),
        (3, 2, "Completed"),
    ]
    assert t.entries[0].fields is not None
    assert t.entries[0].fields["input"] == {"name": "Ada"}
    assert t.entries[1].fields == {"result": {"greeting": "hello Ada"}, "result_metadata": {}}
    assert t.entries[1].at == T0 + 2
    assert t.state is not None
    assert t.state.status.value == "completed"
    text = render_timeline(t)
    assert "Started" in text
    assert "Completed" in text
    assert '"hello Ada"' in text


def test_a_timeline_of_an_unknown_alo(db: Path) -> None:
    with pytest.raises(UnknownAlo, match="'ghost'"):
        timeline(db, "ghost")


def test_a_timeline_keeps_an_event_that_does_not_decode(tmp_path: Path) -> None:
    b = LogBuilder(tmp_path / "log.db")
    b.add("a", started("a"))
    b.close()
    plant(b.path, "a", 2, b"\xc1", type_name="Paused")
    t = timeline(b.path, "a")
    assert t.entries[1].fields is None
    assert t.entries[1].error is not None
    assert t.state is None
    assert t.error is not None
    assert "does not decode" in render_timeline(t)


def test_long_payloads_are_shortened_for_display() -> None:
    value = {"text": "x" * 1000, "items": list(range(100)), "blob": b"\0" * 1000}
    short = shorten(value)
    assert short["text"].endswith("… (1000 chars)")
    assert len(short["text"]) < 200
    assert short["items"][-1] == "… 80 more items"
    assert short["blob"].startswith("<1000 bytes: ")


def test_state_fields_are_plain_values_all_the_way_down() -> None:
    payload = {"nested": [1, 2.5, None, True, {"deep": ("a", "b")}], "text": "é"}
    state = AloState(
        "a",
        "op",
        msgspec.Raw(msgspec.msgpack.encode(payload)),
        {"team": "x"},
        ["https://r.example/1"],
        None,
        1.0,
        status=Status.FAILED,
        failure=Failure("boom", "ValueError", details={"why": ["x"]}),
        resolved_urls=("https://r.example/1",),
    )
    fields = state_fields(state)
    assert fields["input"] == {"nested": [1, 2.5, None, True, {"deep": ["a", "b"]}], "text": "é"}
    assert fields["status"] == "failed"
    assert fields["failure"] == {
        "message": "boom",
        "type": "ValueError",
        "details": {"why": ["x"]},
        "stack_trace": None,
    }
    assert fields["resolved_urls"] == ["https://r.example/1"]
    assert (fields["result"], fields["attempt"], fields["created_at"]) == (None, 0, 1.0)
    short = shorten(fields)
    assert short["input"]["nested"][4] == {"deep": "[… 2 items]"}  # deeper than it shows
    del short["input"], fields["input"]
    assert short == fields  # nothing long elsewhere: every value as it was


def test_the_summary_counts_by_status_and_operation(db: Path) -> None:
    s = summarize(db)
    assert (s.events, s.alos, s.first_position, s.last_position) == (24, 9, 1, 24)
    assert (s.first_at, s.last_at) == (T0, T0 + 17)
    assert s.by_status == {
        "completed": 3,
        "timed_out": 2,
        "failed": 1,
        "cancelled": 1,
        "paused": 1,
        "running": 1,
    }
    by_operation = {o.operation: (o.total, o.by_status) for o in s.operations}
    assert by_operation[None] == (1, {"paused": 1})
    assert by_operation["greeting"][0] == 8
    text = render_summary(s)
    assert "(external)" in text
    assert "timed_out" in text


def test_an_empty_log_summarises(tmp_path: Path) -> None:
    LogBuilder(tmp_path / "log.db").close()
    s = summarize(tmp_path / "log.db")
    assert (s.events, s.alos, s.first_at, s.operations) == (0, 0, None, [])
    assert "ALOs         0" in render_summary(s)


def test_export_gives_one_decoded_record_per_event(db: Path) -> None:
    records = list(export(db))
    assert len(records) == 24
    first = records[0]
    assert set(first) == {"position", "stream_id", "version", "type", "recorded_at", "data"}
    assert first["data"]["input"] == {"name": "Ada"}
    assert first["data"]["at"] == T0
    assert [r["position"] for r in export(db, 20, 22)] == [21, 22]
    out = io.BytesIO()
    count = write_jsonl(db, out)
    lines = out.getvalue().splitlines()
    assert (count.events, count.undecodable, len(lines)) == (24, 0, 24)
    assert json.loads(lines[2])["type"] == "Completed"


def test_an_undecodable_event_is_exported_with_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    LogBuilder(path).close()
    plant(path, "a", 1, b"\xc1", type_name="Started")
    with LogReader.open(path) as reader:
        [stored] = reader.read_all()
    record = event_record(stored)
    assert record["data"] is None
    assert record["raw"] == b"\xc1"
    assert "does not decode" in record["error"]


def test_follow_sees_events_appended_later(tmp_path: Path) -> None:
    b = LogBuilder(tmp_path / "log.db")
    b.add("a", started("a"))
    stop = threading.Event()
    read_first = threading.Event()
    seen: list[tuple[str, int]] = []

    def append_later() -> None:
        # Only once follow has read what was there: these come after, by construction.
        if read_first.wait(10):
            b.add("a", Paused(T0 + 1))
            b.add("b", started("b", T0 + 2))

    writer = threading.Thread(target=append_later)
    writer.start()
    watchdog = threading.Timer(10, stop.set)  # ends the follow if they never come
    watchdog.start()
    try:
        for record in follow(b.path, 0, poll_interval=0.01, stop=stop):
            seen.append((record["stream_id"], record["version"]))
            read_first.set()
            if len(seen) == 3:
                stop.set()
    finally:
        watchdog.cancel()
        read_first.set()
        writer.join(10)
        b.close()
    assert seen == [("a", 1), ("a", 2), ("b", 1)]


def test_plot_draws_a_png_of_lifetimes(db: Path, tmp_path: Path) -> None:
    before = digest(db)
    out = tmp_path / "lifetimes.png"
    plot_lifetimes(db, out)
    data = out.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 10_000
    assert digest(db) == before


def test_plot_samples_big_logs(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    random_log(path, alos=120, seed=3)
    drawn = lifetimes(path, max_alos=50)
    assert len(drawn.sample) == 50
    assert drawn.totals.total() == 120
    assert drawn.end is not None
    assert all(life.created_at <= drawn.end for life in drawn.sample)
    out = tmp_path / "sampled.png"
    plot_lifetimes(path, out, max_alos=50)
    assert out.read_bytes().startswith(PNG_SIGNATURE)


def test_plot_of_an_empty_log(tmp_path: Path) -> None:
    LogBuilder(tmp_path / "log.db").close()
    out = tmp_path / "empty.png"
    plot_lifetimes(tmp_path / "log.db", out)
    assert out.read_bytes().startswith(PNG_SIGNATURE)


def test_the_public_surface_changes_only_on_purpose() -> None:
    from alo_actor import logtools

    assert sorted(logtools.__all__) == sorted(
        [
            "ALLOWED_AFTER_TERMINAL",
            "INVARIANTS",
            "MAX_ALOS",
            "TIME_FIELDS",
            "BadPoint",
            "CopyMismatch",
            "CopyReport",
            "ExportCount",
            "InconsistentLog",
            "Lifetime",
            "Lifetimes",
            "LogSource",
            "LogSummary",
            "LogToolsError",
            "OperationCount",
            "Timeline",
            "TimelineEntry",
            "UnknownAlo",
            "Verification",
            "Violation",
            "copy_log",
            "event_fields",
            "event_record",
            "export",
            "follow",
            "format_time",
            "json_times",
            "lifetimes",
            "opened",
            "parse_at",
            "plot_lifetimes",
            "record_json",
            "render_record",
            "render_state",
            "render_state_detail",
            "render_summary",
            "render_timeline",
            "render_violation",
            "replay",
            "replay_alo",
            "shorten",
            "state_fields",
            "summarize",
            "timeline",
            "to_json",
            "verify",
            "write_jsonl",
        ]
    )
    assert all(hasattr(logtools, name) for name in logtools.__all__)
