"""``alo_actor.client``: the same calls on an embedded system and on ``alo serve`` give
the same answers (issue 18, point 3), for the sync and the asyncio faces alike."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from alo_actor import AloInfo, AloPage, AloSystem, Failure, InvalidArgument, Status
from alo_actor.client import AloClient, AsyncAloClient, ServiceError
from alo_actor.examples.greeting import register
from tests.conftest import WAIT, wait_until
from tests.http.conftest import GREETING_APP, Served

# One call: a label, the verb, its arguments ("{p}" in a string becomes the run's prefix).
Step = tuple[str, str, tuple[Any, ...], dict[str, Any]]

SCENARIO: list[Step] = [
    ("start", "start", ("{p}-g", "greeting", {"name": "Ada"}), {"metadata": {"team": "{p}"}}),
    ("result", "get_result", ("{p}-g",), {"timeout": WAIT}),
    ("same start", "start", ("{p}-g", "greeting", {"name": "Ada"}), {"metadata": {"team": "{p}"}}),
    ("other input", "start", ("{p}-g", "greeting", {"name": "Bob"}), {"metadata": {"team": "{p}"}}),
    ("missing", "get_info", ("{p}-missing",), {}),
    ("missing result", "get_result", ("{p}-missing",), {"timeout": 1.0}),
    ("unknown operation", "start", ("{p}-u", "no-such-operation"), {}),
    ("bad id", "get_info", ("has space",), {}),
    ("slash id", "get_info", ("a/b",), {}),
    ("bad metadata", "start", ("{p}-m", None), {"metadata": {"k": 7}}),
    ("external", "start", ("{p}-e", None, {"x": [1, 2]}), {"metadata": {"team": "{p}"}}),
    ("not yet", "get_result", ("{p}-e",), {"timeout": 0}),
    ("pause", "pause", ("{p}-e",), {}),
    ("pause again", "pause", ("{p}-e",), {}),
    ("resume", "resume", ("{p}-e",), {}),
    ("complete", "complete", ("{p}-e", {"ok": True}), {"result_metadata": {"k": "v"}}),
    ("complete again", "complete", ("{p}-e", {"ok": False}), {}),
    ("completed result", "get_result", ("{p}-e",), {"timeout": WAIT}),
    ("to fail", "start", ("{p}-f", None), {"metadata": {"team": "{p}"}}),
    (
        "fail",
        "fail",
        ("{p}-f", "card declined"),
        {"type": "PaymentError", "details": {"code": 7}},
    ),
    ("failed result", "get_result", ("{p}-f",), {}),
    ("to cancel", "start", ("{p}-c", None), {"metadata": {"team": "{p}"}}),
    ("cancel", "cancel", ("{p}-c",), {"reason": "user asked"}),
    ("cancelled result", "get_result", ("{p}-c",), {}),
    ("cancel again", "cancel", ("{p}-c",), {}),
    ("timed out", "start", ("{p}-t", None), {"timeout": 0, "metadata": {"team": "{p}"}}),
    ("timed out result", "get_result", ("{p}-t",), {}),
    ("page", "list", (), {"metadata": {"team": "{p}"}, "limit": 2}),
    ("failed ones", "list", (["failed", Status.CANCELLED],), {"metadata": {"team": "{p}"}}),
    ("bad limit", "list", (), {"limit": 0}),
]


def _fill(value: Any, prefix: str) -> Any:
    if isinstance(value, str):
        return value.replace("{p}", prefix)
    if isinstance(value, dict):
        return {k: _fill(v, prefix) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_fill(v, prefix) for v in value)
    return value


def _info(info: AloInfo, prefix: str) -> dict[str, Any]:
    """What must agree: every field but the times' exact values and the stack trace."""
    failure = info.failure
    assert info.settled_at is None or info.settled_at >= info.created_at
    return {
        "id": info.id.replace(prefix, "P"),
        "operation": info.operation,
        "status": info.status,
        "metadata": {k: v.replace(prefix, "P") for k, v in info.metadata.items()},
        "result_urls": info.result_urls,
        "attempt": info.attempt,
        "settled": info.settled_at is not None,
        "deadline": info.deadline is not None,
        "failure": None
        if failure is None
        else (failure.message.replace(prefix, "P"), failure.type, failure.details),
        "result_metadata": info.result_metadata,
        "created": info.created,
    }


def _answer(value: Any, prefix: str) -> Any:
    if isinstance(value, AloInfo):
        return _info(value, prefix)
    if isinstance(value, AloPage):
        return ([_info(i, prefix) for i in value.items], value.next_cursor is not None)
    return value


def _error(exc: Exception, prefix: str) -> Any:
    failure: Failure | None = getattr(exc, "failure", None)
    if isinstance(exc, TimeoutError):
        return ("raises", "TimeoutError")  # worded by the client, not the engine
    if isinstance(exc, InvalidArgument):
        # The server's body validation words some of these its own way.
        return ("raises", "InvalidArgument")
    kept = None if failure is None else (failure.type, failure.details)
    return ("raises", type(exc).__name__, str(exc).replace(prefix, "P"), kept)


def run_sync(api: Any, prefix: str) -> list[tuple[str, Any]]:
    transcript = []
    for label, verb, args, kwargs in SCENARIO:
        try:
            value = getattr(api, verb)(*_fill(args, prefix), **_fill(kwargs, prefix))
        except Exception as exc:
            transcript.append((label, _error(exc, prefix)))
        else:
            transcript.append((label, _answer(value, prefix)))
    return transcript


async def run_async(api: Any, prefix: str) -> list[tuple[str, Any]]:
    transcript = []
    for label, verb, args, kwargs in SCENARIO:
        try:
            value = await getattr(api, verb)(*_fill(args, prefix), **_fill(kwargs, prefix))
        except Exception as exc:
            transcript.append((label, _error(exc, prefix)))
        else:
            transcript.append((label, _answer(value, prefix)))
    return transcript


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[AloSystem]:
    with AloSystem.open(str(tmp_path / "embedded.db")) as system:
        register(system)
        yield system


def test_the_same_calls_give_the_same_answers_embedded_and_remote(
    embedded: AloSystem, served: Served, new_id: str
) -> None:
    expected = run_sync(embedded, f"{new_id}-a")
    with AloClient(served.base_url) as client:
        assert run_sync(client, f"{new_id}-b") == expected
    # Spot checks that the scenario says something.
    answers = dict(expected)
    assert answers["result"] == {"greeting": "Hello, Ada!"}
    assert answers["start"]["created"] is True and answers["same start"]["created"] is False
    assert answers["other input"][1] == "AlreadyExists"
    assert answers["missing"][1] == "NotFound" and answers["bad id"][1] == "InvalidArgument"
    assert answers["not yet"] == ("raises", "TimeoutError")
    assert answers["failed result"][1:3] == ("OperationFailed", "card declined")
    assert answers["cancelled result"][1] == "OperationCancelled"
    assert answers["timed out result"][1] == "OperationTimedOut"
    assert answers["completed result"] == {"ok": True}
    assert len(answers["page"][0]) == 2 and answers["page"][1] is True


def test_the_async_faces_agree_too(embedded: AloSystem, served: Served, new_id: str) -> None:
    async def both() -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
        local = await run_async(embedded.aio, f"{new_id}-a")
        async with AsyncAloClient(served.base_url) as client:
            remote = await run_async(client, f"{new_id}-b")
        return local, remote

    local, remote = asyncio.run(both())
    assert remote == local
    assert local == run_sync(embedded, f"{new_id}-c")


class Counting(httpx.HTTPTransport):
    """httpx's transport, counting the requests it sends per path."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []
        self.lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.paths.append(request.url.path)
        return super().handle_request(request)

    def count(self, suffix: str) -> int:
        with self.lock:
            return sum(path.endswith(suffix) for path in self.paths)


@pytest.fixture(scope="module")
def short_polls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A server whose long polls end after 0.2 s."""
    db = tmp_path_factory.mktemp("short") / "alo.db"
    server = Served(db, ["--app", GREETING_APP, "--max-wait", "0.2"]).start()
    try:
        yield server
    finally:
        server.stop()


def test_get_result_polls_again_past_the_servers_cap(short_polls: Served, new_id: str) -> None:
    counting = Counting()
    results: list[Any] = []
    with AloClient(short_polls.base_url, transport=counting) as client:
        client.start(new_id)
        waiter = threading.Thread(target=lambda: results.append(client.get_result(new_id, WAIT)))
        waiter.start()
        # Three polls answered 408 by the server, and the client still waits.
        wait_until(lambda: counting.count("/result") >= 3, what="three long polls")
        with AloClient(short_polls.base_url) as other:
            other.complete(new_id, "done")
        waiter.join(WAIT)
    assert results == ["done"]


def test_get_result_gives_up_when_its_own_timeout_is_spent(
    short_polls: Served, new_id: str
) -> None:
    counting = Counting()
    with AloClient(short_polls.base_url, transport=counting) as client:
        client.start(new_id)
        with pytest.raises(TimeoutError, match=r"did not settle within 0\.7"):
            client.get_result(new_id, timeout=0.7)
    assert counting.count("/result") >= 2  # the 0.2 s cap made it ask more than once


def test_iterate_follows_the_cursor_through_every_page(served: Served, new_id: str) -> None:
    with AloClient(served.base_url) as client:
        ids = [f"{new_id}-{n}" for n in range(5)]
        for alo_id in ids:
            client.start(alo_id, metadata={"run": new_id})
        listed = [info.id for info in client.iterate(metadata={"run": new_id}, page_size=2)]
        assert listed == ids
        assert client.get_events(ids[0])[0]["type"] == "Started"

    async def iterate() -> list[str]:
        async with AsyncAloClient(served.base_url) as aclient:
            return [i.id async for i in aclient.iterate(metadata={"run": new_id}, page_size=3)]

    assert asyncio.run(iterate()) == ids


def test_listing_bounds_take_floats_datetimes_and_ages(served: Served, new_id: str) -> None:
    with AloClient(served.base_url) as client:
        info = client.start(new_id, metadata={"run": new_id})

        def listed(**bounds: Any) -> list[str]:
            return [i.id for i in client.list(metadata={"run": new_id}, **bounds).items]

        created = datetime.fromtimestamp(info.created_at, UTC)
        assert listed(created_after=info.created_at) == [new_id]
        assert listed(created_before=info.created_at) == []
        assert listed(created_after=created) == [new_id]
        assert listed(created_after="1h") == [new_id]
        assert listed(created_before="1h") == []


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    db = tmp_path_factory.mktemp("guarded") / "alo.db"
    server = Served(db, ["--app", GREETING_APP], env={"ALO_TOKEN": "s3cret"}).start()
    try:
        yield server
    finally:
        server.stop()


def test_a_token_is_sent_and_a_missing_one_is_a_service_error(guarded: Served, new_id: str) -> None:
    with AloClient(guarded.base_url) as anonymous, pytest.raises(ServiceError) as refused:
        anonymous.get_info(new_id)
    assert refused.value.status_code == 401
    assert refused.value.failure.type == "Unauthorized"
    with AloClient(guarded.base_url, token="s3cret") as client:
        assert client.start(new_id, "greeting", {"name": "Ada"}).created
        assert client.get_result(new_id, timeout=WAIT) == {"greeting": "Hello, Ada!"}


def test_a_server_that_is_not_there_is_a_transport_error() -> None:
    from tests.http.conftest import free_port

    with AloClient(f"http://127.0.0.1:{free_port()}") as client, pytest.raises(httpx.ConnectError):
        client.get_info("anything")
