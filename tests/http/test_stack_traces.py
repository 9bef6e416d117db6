"""A handler's traceback names the server's files: it stays out of every HTTP answer
(``/result``, the info, the list, ``/events``) unless ``--expose-stack-traces``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.http.conftest import GREETING_APP, Served
from tests.http.support import failure_of, info_of, start


@pytest.fixture(scope="module")
def exposing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    db = Path(tmp_path_factory.mktemp("exposing")) / "alo.db"
    server = Served(db, ["--app", GREETING_APP, "--expose-stack-traces"]).start()
    try:
        yield server
    finally:
        server.stop()


def failures_answered(client: httpx.Client, alo_id: str) -> list[dict[str, Any]]:
    """Every Failure body the API gives for a failed ALO."""
    info_of(start(client, alo_id, operation="decline", input=7, metadata={"case": alo_id}), 201)
    outcome = failure_of(client.get(f"/v1/alos/{alo_id}/result?wait=10s"), 424, "ValueError")
    info = info_of(client.get(f"/v1/alos/{alo_id}"))
    listed = client.get("/v1/alos", params={"metadata.case": alo_id}).json()["alos"]
    events = client.get(f"/v1/alos/{alo_id}/events").json()["events"]
    in_events = [e["data"]["failure"] for e in events if "failure" in e["data"]]
    assert in_events, events
    return [outcome, info["failure"], listed[0]["failure"], *in_events]


def test_stack_traces_are_left_out_by_default(client: httpx.Client, new_id: str) -> None:
    for failure in failures_answered(client, new_id):
        assert "stackTrace" not in failure, failure
        assert failure["message"] == "declined 7"


def test_the_operator_can_ask_for_them(exposing: Served, new_id: str) -> None:
    with exposing.client() as client:
        for failure in failures_answered(client, new_id):
            assert "greeting_app.py" in failure["stackTrace"], failure
