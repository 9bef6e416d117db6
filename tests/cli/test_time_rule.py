"""One convention for time (issue 18, point 6): every JSON the ``alo`` command writes
shows times in RFC 3339, and every time it reads may be RFC 3339, Unix seconds or an
age; ``alo_actor._times`` is the rule, and the HTTP API's own form."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from alo_actor import AloSystem, InvalidArgument
from alo_actor._times import parse_duration, parse_time, rfc3339
from alo_actor._wire import info_body
from alo_actor.http import create_app
from alo_actor.logtools import TIME_FIELDS, to_json
from tests.alo_actor.logtools_support import alo
from tests.http.support import RFC3339

PAYLOAD = {"at": 5, "deadline": 1.5, "created_at": "not mine"}  # a user's: left alone


def test_rfc3339_is_the_http_apis_form() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00Z"
    assert rfc3339(1769860800.25) == "2026-01-31T12:00:00.250000Z"
    assert datetime.fromisoformat(rfc3339(1769860800.123456)).timestamp() == 1769860800.123456
    assert rfc3339(1e20) == "9999-12-31T23:59:59.999999Z"  # past the calendar: "never"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2026-01-31T12:00:00Z", 1769860800.0 - 0.5e-6),
        ("2026-01-31T14:00:00+02:00", 1769860800.0 - 0.5e-6),
        ("1769860800", 1769860800.0),
        ("1769860800.5", 1769860800.5),
        ("90s", 1000.0 - 90),
        ("15m", 1000.0 - 900),
        ("500ms", 999.5),
        ("1d", 1000.0 - 86400),
        ("2w", 1000.0 - 2 * 604800),
    ],
)
def test_a_time_is_rfc3339_unix_seconds_or_an_age(text: str, seconds: float) -> None:
    assert parse_time(text, "t", now=1000.0) == seconds


@pytest.mark.parametrize("text", ["soon", "2026-01-31T12:00:00", "7y", "", "nan", "inf"])
def test_anything_else_is_refused_by_name(text: str) -> None:
    with pytest.raises(InvalidArgument, match="--created-after"):
        parse_time(text, "--created-after")


def test_durations_take_the_same_units() -> None:
    assert [parse_duration(d) for d in ("500ms", "30s", "5m", "1h", "7d", "2w", "42")] == [
        0.5,
        30.0,
        300.0,
        3600.0,
        604800.0,
        1209600.0,
        42.0,
    ]


def test_an_info_in_json_is_the_http_apis_body(tmp_path: Path) -> None:
    def setup(system: AloSystem) -> None:
        system.start("a", None, PAYLOAD, metadata={"k": "v"}, timeout=3600)
        system.fail("a", "no", type="Nope", details={"n": 1})

    app = create_app(str(tmp_path / "alo.db"), setup=setup)
    with TestClient(app) as client:
        body = client.get("/v1/alos/a").json()
        info = app.state.service.system.get_info("a")
    assert json.loads(to_json(info_body(info))) == body


def times_in(value: Any, path: str = "") -> list[tuple[str, Any]]:
    """Every value under a time-named key, except inside payloads (input, result)."""
    found: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("input", "result"):
                continue
            if key in TIME_FIELDS:
                found.append((f"{path}.{key}", item))
            found.extend(times_in(item, f"{path}.{key}"))
    elif isinstance(value, list):
        for n, item in enumerate(value):
            found.extend(times_in(item, f"{path}[{n}]"))
    return found


def test_every_json_output_shows_times_in_rfc3339(tmp_path: Path) -> None:
    db = str(tmp_path / "alo.db")
    with AloSystem.open(db) as system:
        system.register("echo", lambda ctx, input: input)
        system.start("done", "echo", PAYLOAD, timeout=3600)
        assert system.get_result("done", timeout=10) == PAYLOAD
        system.start("open", None, PAYLOAD, timeout=3600)
        system.start("gone", None)
        system.cancel("gone")
    archive = tmp_path / "purged.jsonl"
    outputs: dict[str, Any] = {}
    commands = {
        "ls": ["ls", db, "--json"],
        "show": ["log", "show", db, "--json"],
        "timeline": ["log", "show", db, "done", "--json"],
        "replay": ["log", "replay", db, "--at", "0s", "--json"],
        "replay one": ["log", "replay", db, "open", "--at", "0s", "--json"],
        "replay before": ["log", "replay", db, "open", "--at", "1h", "--json"],
        "tail": ["log", "tail", db, "-n", "3", "--json"],
        "export": ["log", "export", db],
    }
    for name, args in commands.items():
        done = alo(*args)
        assert done.returncode == 0, (name, done.stderr)
        outputs[name] = [json.loads(line) for line in done.stdout.splitlines()]
    later = repr(time.time() + 3600)
    purged = alo("purge", db, "--settled-before", later, "--archive", str(archive))
    assert purged.returncode == 0 and purged.stdout.startswith("purged 2 ALOs"), purged.stderr
    outputs["archive"] = [json.loads(line) for line in archive.read_text().splitlines()]

    assert outputs.pop("replay before") == [None]  # an hour ago, it did not exist yet
    for name, lines in outputs.items():
        times = times_in(lines)
        assert times, name
        for where, value in times:
            assert value is None or (isinstance(value, str) and RFC3339.match(value)), (
                name,
                where,
                value,
            )
    # A payload is the user's, whatever its keys are called.
    export = outputs["export"]
    assert export[0]["data"]["input"] == PAYLOAD
    assert outputs["archive"][0]["events"][0]["data"]["input"] == PAYLOAD
    # The archive's info is the listing's (and the API's) form.
    listed = {info["id"]: info for info in outputs["ls"][0]["alos"]}
    assert [line["info"] for line in outputs["archive"]] == [listed["done"], listed["gone"]]


def test_the_same_instant_reads_back_in_every_form(tmp_path: Path) -> None:
    db = str(tmp_path / "alo.db")
    with AloSystem.open(db) as system:
        created = system.start("a", None).created_at
    shown = json.loads(alo("ls", db, "--json").stdout)["alos"][0]["created_at"]
    assert shown == rfc3339(created)
    for bound in (shown, repr(created), "1h"):
        listed = json.loads(alo("ls", db, "--created-after", bound, "--json").stdout)
        assert [a["id"] for a in listed["alos"]] == ["a"], bound
    assert json.loads(alo("ls", db, "--created-before", shown, "--json").stdout)["alos"] == []
    assert datetime.fromisoformat(shown).tzinfo == UTC
