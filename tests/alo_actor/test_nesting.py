"""One nesting limit for stored values: refused past it at every entry, readable up to it.

A value nested deeper than ``MAX_NESTING`` (input, result, failure details) is refused
with InvalidArgument and writes nothing; one at the limit is stored and then read
back by every reader: ``get_result``, ``get_info``, ``list``, and ``alo log
show/export/replay/verify``. (The HTTP readers, ``/result`` and ``/events``, are
checked in ``tests/http/test_bodies.py``.)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from alo_actor import AloSystem, InvalidArgument, OperationFailed, RetryPolicy, Status
from alo_actor._validate import MAX_NESTING
from tests.alo_actor.logtools_support import alo
from tests.conftest import wait_until
from tests.values import depth_of, nested

DEEPEST = nested(MAX_NESTING)
TOO_DEEP = nested(MAX_NESTING + 1)
# Deeper than msgspec can encode at all (its recursion guard): refused just the same.
FAR_TOO_DEEP = nested(5_000)


@pytest.mark.parametrize("value", [TOO_DEEP, FAR_TOO_DEEP], ids=["limit+1", "5000"])
def test_values_nested_too_deep_are_refused_at_every_entry(system: AloSystem, value: Any) -> None:
    system.start("open", None)
    before = system.log.last_position()
    refusals: list[Callable[[], Any]] = [
        lambda: system.start("deep", None, value),
        lambda: system.start("deep", None, {"k": value}),
        lambda: system.complete("open", value),
        lambda: system.fail("open", "no", details=value),
    ]
    for refusal in refusals:
        with pytest.raises(InvalidArgument, match=f"nested more than {MAX_NESTING} deep"):
            refusal()
    assert system.log.last_position() == before
    assert system.get_info("open").status is Status.RUNNING


async def test_the_async_face_refuses_them_too(system: AloSystem) -> None:
    await system.aio.start("open", None)
    before = system.log.last_position()
    with pytest.raises(InvalidArgument, match="nested"):
        await system.aio.start("deep", None, TOO_DEEP)
    with pytest.raises(InvalidArgument, match="nested"):
        await system.aio.complete("open", FAR_TOO_DEEP)
    with pytest.raises(InvalidArgument, match="nested"):
        await system.aio.fail("open", "no", details=TOO_DEEP)
    assert system.log.last_position() == before


def test_values_without_a_json_form_are_refused(system: AloSystem) -> None:
    # msgpack stores them, but no HTTP answer or export could show them.
    for value in ({(1, 2): "tuple key"}, {None: 1}, [msgspec.msgpack.Ext(1, b"x")]):
        with pytest.raises(InvalidArgument, match="no JSON form"):
            system.start("odd", None, value)
    # Keys JSON writes as strings are fine, as are bytes (base64 in JSON).
    assert system.start("fine", None, {1: b"\x00", 2.5: "x"}).created


def test_a_value_at_the_limit_is_read_back_by_every_reader(db_path: str) -> None:
    with AloSystem.open(db_path) as system:
        system.start("in", None, DEEPEST, metadata={"k": "v"})
        system.start("out", None)
        system.complete("out", DEEPEST)
        system.start("failed", None)
        system.fail("failed", "no", details=DEEPEST)
        assert depth_of(system.get_result("out")) == MAX_NESTING
        with pytest.raises(OperationFailed) as raised:
            system.get_result("failed")
        assert depth_of(raised.value.failure.details) == MAX_NESTING
        assert depth_of(system.get_info("failed").failure.details) == MAX_NESTING  # type: ignore[union-attr]
        assert [info.id for info in system.list(metadata={"k": "v"}).items] == ["in"]
        last = str(system.log.last_position())
    readers = [
        ["show", db_path],
        ["show", db_path, "in"],
        ["replay", db_path, "--at", last, "--json", "--full"],
        ["replay", db_path, "failed", "--at", last],
        ["verify", db_path],
    ]
    for args in readers:
        done = alo("log", *args)
        assert done.returncode == 0, (args, done.stderr)
    export = alo("log", "export", db_path)
    assert export.returncode == 0, export.stderr
    records = [json.loads(line) for line in export.stdout.splitlines()]
    inputs = [r for r in records if r["stream_id"] == "in" and r["type"] == "Started"]
    assert depth_of(inputs[0]["data"]["input"]) == MAX_NESTING


def test_a_handler_result_nested_too_deep_fails_the_attempt(system: AloSystem) -> None:
    system.register("deep", lambda ctx, input: nested(input))
    system.start("handler-deep", "deep", MAX_NESTING + 1)
    with pytest.raises(OperationFailed) as raised:
        system.get_result("handler-deep", timeout=10)
    assert raised.value.failure.type == "InvalidArgument"
    assert "nested" in raised.value.failure.message
    system.start("handler-ok", "deep", MAX_NESTING)
    assert depth_of(system.get_result("handler-ok", timeout=10)) == MAX_NESTING


class DetailedError(Exception):
    def __init__(self, details: Any) -> None:
        super().__init__("with details")
        self.details = details


def test_error_details_nested_too_deep_are_dropped_not_stored(system: AloSystem) -> None:
    def raises(ctx: Any, input: Any) -> Any:
        raise DetailedError(nested(input))

    system.register("raises", raises, retry=RetryPolicy(max_attempts=1))
    system.start("kept", "raises", 3)
    system.start("dropped", "raises", MAX_NESTING + 1)
    for alo_id in ("kept", "dropped"):
        wait_until(lambda i=alo_id: system.get_info(i).status is Status.FAILED)  # type: ignore[misc]
    kept = system.get_info("kept").failure
    dropped = system.get_info("dropped").failure
    assert kept is not None and kept.details == nested(3)
    assert dropped is not None and dropped.details is None
    assert dropped.message == "with details"


def test_lone_surrogates_are_refused_wherever_text_is_stored(system: AloSystem) -> None:
    system.start("open", None)
    before = system.log.last_position()
    refusals: list[Callable[[], Any]] = [
        lambda: system.start("x\ud800", None),
        lambda: system.start("m", None, metadata={"k": "\udfff"}),
        lambda: system.start("m", None, metadata={"\ud800": "v"}),
        lambda: system.start("m", None, "\ud800"),
        lambda: system.complete("open", 1, {"k": "\ud800"}),
        lambda: system.fail("open", "\ud800"),
        lambda: system.cancel("open", "\ud800"),
    ]
    for refusal in refusals:
        with pytest.raises(InvalidArgument):
            refusal()
    assert system.log.last_position() == before
