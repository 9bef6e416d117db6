"""The Nexus routes of ``alo serve`` spoken to directly, as Temporal speaks to them
(the same headers), with a real receiver standing in for the caller's callback."""

from __future__ import annotations

import email.utils
import http.client as http_client
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from alo_actor import SystemClock
from alo_actor.nexus import operation_token
from tests.conftest import wait_until
from tests.http.conftest import Served
from tests.nexus.conftest import NEXUS_APP, ServeFactory
from tests.nexus.support import event_types, gated, marker, release, wait_for_file
from tests.receiver import Receiver, serving

CALLBACK_TOKEN = '{"v":1,"d":"CiQwMWEyM2IyMC01ZmE5"}'


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with serving(SystemClock()) as rec:
        yield rec


def server(tmp_path_factory: pytest.TempPathFactory, *args: str) -> Iterator[Served]:
    served = Served(tmp_path_factory.mktemp("nexus") / "alo.db", ["--app", NEXUS_APP, *args])
    served.start()
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Default window (0.5 s): a held attempt is answered 201."""
    yield from server(tmp_path_factory)


@pytest.fixture(scope="module")
def patient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A long window: whatever settles at once is answered in the start response."""
    yield from server(tmp_path_factory, "--nexus-wait", "30")


@pytest.fixture
def http(served: Served) -> Iterator[httpx.Client]:
    with served.client() as client:
        yield client


def start(
    http: httpx.Client,
    operation: str,
    value: Any = None,
    *,
    request_id: str | None = None,
    callback: str | None = None,
    headers: dict[str, str] | None = None,
    service: str = "alo",
) -> httpx.Response:
    """A start as Temporal sends it (its headers, its callback header)."""
    sent = {
        "Content-Type": "application/json",
        "Nexus-Request-Id": request_id or str(uuid.uuid4()),
        "Operation-Timeout": "44997ms",
        "Request-Timeout": "9999ms",
        "Nexus-Callback-Temporal-Callback-Token": CALLBACK_TOKEN,
        **(headers or {}),
    }
    return http.post(
        f"/nexus/{service}/{operation}",
        params=None if callback is None else {"callback": callback},
        content=json.dumps(value).encode(),
        headers=sent,
    )


def settled(http: httpx.Client, alo_id: str) -> dict[str, Any]:
    answer = http.get(f"/v1/alos/{alo_id}/result", params={"wait": "10s"})
    assert answer.status_code in (200, 424), answer.text
    info: dict[str, Any] = http.get(f"/v1/alos/{alo_id}").json()
    return info


def handler_error(answer: httpx.Response) -> str:
    body = answer.json()
    assert body["metadata"] == {"type": "nexus.HandlerError"}, body
    assert body["message"]
    error_type: str = body["details"]["type"]
    return error_type


# -- async starts and their completions -----------------------------------------------


def test_a_retried_start_is_the_same_start_answered_the_same_and_completed_once(
    http: httpx.Client, receiver: Receiver, tmp_path: Path
) -> None:
    value = gated(tmp_path)
    request_id = str(uuid.uuid4())
    hook = receiver.url(f"/callback/{request_id}")
    first = start(http, "gated", value, request_id=request_id, callback=hook)
    assert first.status_code == 201, first.text
    assert first.json() == {"token": operation_token(request_id), "state": "running"}
    retry = start(http, "gated", value, request_id=request_id, callback=hook)
    assert (retry.status_code, retry.json()) == (201, first.json())
    assert event_types(http, request_id) == ["Started"]

    release(tmp_path, value)
    info = settled(http, request_id)
    receiver.wait_count(f"/callback/{request_id}", 1, "the completion")
    (completion,) = receiver.to(f"/callback/{request_id}")
    assert json.loads(completion.body) == {"greeting": "Hello, Ada!", "attempt": 1}
    headers = completion.headers
    assert headers["temporal-callback-token"] == CALLBACK_TOKEN  # echoed, prefix stripped
    assert headers["content-type"] == "application/json"
    assert headers["nexus-operation-state"] == "succeeded"
    assert headers["nexus-operation-token"] == first.json()["token"]
    started = email.utils.parsedate_to_datetime(headers["nexus-operation-start-time"])
    assert started == datetime.fromisoformat(info["created_at"]).replace(microsecond=0)
    closed = headers["nexus-operation-close-time"]
    assert len(closed) == len("2026-12-03T08:58:29.698Z") and closed.endswith("Z")
    assert datetime.fromisoformat(closed) == datetime.fromisoformat(info["settled_at"]).replace(
        microsecond=datetime.fromisoformat(info["settled_at"]).microsecond // 1000 * 1000
    )
    # A retry after the outcome: still the same answer (the callback was owed it).
    late = start(http, "gated", value, request_id=request_id, callback=hook)
    assert (late.status_code, late.json()) == (201, first.json())
    assert event_types(http, request_id) == [
        "Started",
        "Completed",
        "DeliveriesDue",
        "Delivered",
        "DeliveriesFinished",
    ]


def test_a_failed_or_cancelled_operation_is_completed_with_an_operation_error(
    http: httpx.Client, receiver: Receiver, tmp_path: Path
) -> None:
    failing, held = gated(tmp_path, fail="card declined"), gated(tmp_path)
    ids = {}
    for name, value in (("failing", failing), ("held", held)):
        ids[name] = request_id = str(uuid.uuid4())
        answer = start(
            http, "gated", value, request_id=request_id, callback=receiver.url(f"/{name}")
        )
        assert answer.status_code == 201, answer.text
    release(tmp_path, failing)
    cancel = http.post(
        "/nexus/alo/gated/cancel", headers={"Nexus-Operation-Token": operation_token(ids["held"])}
    )
    assert cancel.status_code == 202 and cancel.content == b""
    wait_for_file(marker(tmp_path, held, "cancelled"))  # the attempt saw ctx.cancelled

    receiver.wait_count("/failing", 1, "the failed completion")
    receiver.wait_count("/held", 1, "the cancelled completion")
    (failed,) = receiver.to("/failing")
    assert failed.headers["nexus-operation-state"] == "failed"
    body = json.loads(failed.body)
    assert body["message"] == "card declined"
    assert body["metadata"] == {"type": "nexus.OperationError"}
    assert body["details"] == {"state": "failed"}
    assert body["cause"]["message"] == "card declined"
    assert body["cause"]["metadata"] == {"type": "CardDeclined"}
    assert "CardDeclined: card declined" in body["cause"]["stackTrace"]
    (cancelled,) = receiver.to("/held")
    assert cancelled.headers["nexus-operation-state"] == "canceled"
    body = json.loads(cancelled.body)
    assert body["details"] == {"state": "canceled"}
    assert body["cause"] == {
        "message": "cancelled by the Nexus caller",
        "metadata": {"type": "Cancelled"},
    }


def test_cancel_is_accepted_again_and_after_the_outcome_by_header_or_query(
    http: httpx.Client, tmp_path: Path
) -> None:
    value = gated(tmp_path)
    request_id = str(uuid.uuid4())
    assert start(http, "gated", value, request_id=request_id).status_code == 201
    token = operation_token(request_id)
    for _ in range(2):
        answer = http.post("/nexus/alo/gated/cancel", params={"token": token})
        assert answer.status_code == 202, answer.text
    assert settled(http, request_id)["status"] == "cancelled"
    answer = http.post("/nexus/alo/gated/cancel", headers={"Nexus-Operation-Token": token})
    assert answer.status_code == 202
    assert event_types(http, request_id) == ["Started", "Cancelled"]


def test_the_wait_is_at_most_half_the_callers_request_timeout(
    patient: Served, tmp_path: Path
) -> None:
    value = gated(tmp_path)
    with patient.client() as http:  # whose own timeout (10 s) is shorter than the window
        # A 30 s window, but the caller gives the request 400 ms: answered in time.
        answer = start(http, "gated", value, headers={"Request-Timeout": "400ms"})
        assert answer.status_code == 201, answer.text
    release(tmp_path, value)


def test_the_operation_timeout_is_the_deadline(http: httpx.Client, tmp_path: Path) -> None:
    request_id = str(uuid.uuid4())
    value = gated(tmp_path)
    answer = start(
        http, "gated", value, request_id=request_id, headers={"Operation-Timeout": "100ms"}
    )
    # Timed out within the start's window: the answer is the outcome.
    assert answer.status_code == 424, answer.text
    assert answer.headers["nexus-operation-state"] == "failed"
    body = answer.json()
    assert body["metadata"] == {"type": "nexus.OperationError"}
    assert body["cause"]["metadata"] == {"type": "TimedOut"}
    info = http.get(f"/v1/alos/{request_id}").json()
    assert info["status"] == "timed_out"
    created, deadline = (datetime.fromisoformat(info[k]) for k in ("created_at", "deadline"))
    assert 0 < (deadline - created).total_seconds() <= 0.1


# -- synchronous answers --------------------------------------------------------------


def test_a_fast_operation_is_answered_200_with_its_result_again_on_a_retry(
    patient: Served, receiver: Receiver
) -> None:
    request_id = str(uuid.uuid4())
    with patient.client() as http:
        for _ in range(2):
            answer = start(
                http, "greet", {"name": "Ada"}, request_id=request_id, callback=receiver.url("/s")
            )
            assert answer.status_code == 200, answer.text
            assert answer.headers["nexus-operation-state"] == "succeeded"
            assert answer.headers["content-type"] == "application/json"
            assert answer.json() == {"greeting": "Hello, Ada!"}
        # The callback is owed nothing: the answer was the outcome.
        assert event_types(http, request_id) == ["Started", "Completed"]


def test_a_fast_failure_is_answered_424_with_an_operation_error(patient: Served) -> None:
    with patient.client() as http:
        answer = start(
            http, "decline", {"message": "card declined"}, callback="http://127.0.0.1:1/"
        )
        assert answer.status_code == 424, answer.text
        assert answer.headers["nexus-operation-state"] == "failed"
        body = answer.json()
        assert body["message"] == "card declined"
        assert body["details"] == {"state": "failed"}
        assert body["cause"]["metadata"] == {"type": "CardDeclined"}


@pytest.mark.parametrize(
    ("content_type", "body", "result"),
    [
        ("application/json", b'{"a": [1, 2]}', {"a": [1, 2]}),
        ("application/json; charset=utf-8", b'"x"', "x"),
        ("application/octet-stream", b"\x00\x01", "AAE="),  # bytes, as JSON shows them
        (None, b"", None),
    ],
)
def test_the_input_is_json_bytes_or_nothing(
    patient: Served, content_type: str | None, body: bytes, result: Any
) -> None:
    headers = {"Nexus-Request-Id": str(uuid.uuid4())}
    if content_type is not None:
        headers["Content-Type"] = content_type
    with patient.client() as http:
        answer = http.post("/nexus/alo/echo", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json() == result


# -- refusals -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "headers", "callback", "error_type"),
    [
        ("/nexus/other/greet", {}, None, "NOT_FOUND"),
        ("/nexus/alo/nosuch", {}, None, "NOT_FOUND"),
        ("/nexus/alo/greet", {"Nexus-Request-Id": ""}, None, "BAD_REQUEST"),
        ("/nexus/alo/greet", {"Nexus-Request-Id": "has space"}, None, "BAD_REQUEST"),
        ("/nexus/alo/greet", {"Nexus-Request-Id": "x" * 257}, None, "BAD_REQUEST"),
        ("/nexus/alo/greet", {"Operation-Timeout": "soon"}, None, "BAD_REQUEST"),
        ("/nexus/alo/greet", {"Request-Timeout": "-1s"}, None, "BAD_REQUEST"),
        ("/nexus/alo/greet", {"Content-Type": "text/plain"}, None, "BAD_REQUEST"),
        ("/nexus/alo/greet", {}, "http://example.com/callback", "BAD_REQUEST"),
        ("/nexus/alo/greet", {}, "ftp://127.0.0.1/callback", "BAD_REQUEST"),
        (
            "/nexus/alo/greet",
            {"Nexus-Callback-Content-Type": "text/plain"},
            "http://127.0.0.1:1/",
            "BAD_REQUEST",
        ),
        (
            "/nexus/alo/greet",
            {"Nexus-Callback-Nexus-Operation-State": "succeeded"},
            "http://127.0.0.1:1/",
            "BAD_REQUEST",
        ),
    ],
)
def test_a_bad_start_is_a_handler_error_and_writes_nothing(
    http: httpx.Client,
    path: str,
    headers: dict[str, str],
    callback: str | None,
    error_type: str,
) -> None:
    request_id = str(uuid.uuid4())
    sent = {"Content-Type": "application/json", "Nexus-Request-Id": request_id, **headers}
    if not sent["Nexus-Request-Id"]:
        del sent["Nexus-Request-Id"]
    answer = http.post(
        path,
        params=None if callback is None else {"callback": callback},
        content=b'{"name": "Ada"}',
        headers=sent,
    )
    assert answer.status_code == {"NOT_FOUND": 404, "BAD_REQUEST": 400}[error_type], answer.text
    assert handler_error(answer) == error_type
    assert http.get(f"/v1/alos/{request_id}").status_code == 404


def test_malformed_json_input_is_a_bad_request(http: httpx.Client) -> None:
    answer = http.post(
        "/nexus/alo/greet",
        content=b'{"name": ',
        headers={"Content-Type": "application/json", "Nexus-Request-Id": str(uuid.uuid4())},
    )
    assert answer.status_code == 400
    assert handler_error(answer) == "BAD_REQUEST"


def test_the_same_request_id_with_other_input_is_a_conflict(
    http: httpx.Client, tmp_path: Path
) -> None:
    request_id = str(uuid.uuid4())
    value = gated(tmp_path)
    assert start(http, "gated", value, request_id=request_id).status_code == 201
    other = start(http, "gated", {**value, "name": "Bob"}, request_id=request_id)
    assert other.status_code == 409, other.text
    assert handler_error(other) == "CONFLICT"
    release(tmp_path, value)


def test_a_bad_cancel_is_a_handler_error(http: httpx.Client, tmp_path: Path) -> None:
    native_id = f"native-{uuid.uuid4()}"
    assert http.post("/v1/alos", json={"id": native_id}).status_code == 201
    value = gated(tmp_path)
    nexus_id = str(uuid.uuid4())
    assert start(http, "gated", value, request_id=nexus_id).status_code == 201
    token = operation_token(nexus_id)
    cases = [
        ("/nexus/alo/gated/cancel", {}, None, 400),  # no token
        ("/nexus/alo/gated/cancel", {}, "not a token!", 400),
        ("/nexus/alo/gated/cancel", {}, token + "A", 400),  # not one we made
        ("/nexus/alo/gated/cancel", {}, operation_token("nobody"), 404),
        ("/nexus/alo/gated/cancel", {}, operation_token(native_id), 404),  # not a Nexus ALO
        ("/nexus/alo/greet/cancel", {}, token, 404),  # another operation's token
        ("/nexus/other/gated/cancel", {}, token, 404),
        ("/nexus/alo/gated/cancel", {"Nexus-Operation-Token": token}, "other", 400),
    ]
    for path, headers, query, status in cases:
        answer = http.post(
            path, headers=headers, params=None if query is None else {"token": query}
        )
        assert answer.status_code == status, (path, query, answer.text)
        assert handler_error(answer) == {400: "BAD_REQUEST", 404: "NOT_FOUND"}[status]
    assert http.get(f"/v1/alos/{native_id}").json()["status"] == "running"
    assert http.get(f"/v1/alos/{nexus_id}").json()["status"] == "running"
    release(tmp_path, value)


# -- credentials ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from server(tmp_path_factory, "--token", "admin", "--nexus-wait", "30")


@pytest.fixture(scope="module")
def separate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from server(
        tmp_path_factory, "--token", "admin", "--nexus-token", "for-temporal", "--nexus-wait", "30"
    )


@pytest.mark.parametrize(
    ("auth", "status"),
    [
        (None, 401),
        (("nexus", "admin"), 200),
        (("anyone", "admin"), 200),
        (("nexus", "wrong"), 401),
        ("Bearer admin", 200),
        ("Bearer wrong", 401),
        ("Basic !!!", 401),
    ],
)
def test_with_a_token_the_nexus_routes_want_it_as_basic_password_or_bearer(
    guarded: Served, auth: tuple[str, str] | str | None, status: int
) -> None:
    with guarded.client() as http:
        if isinstance(auth, str):
            answer = start(http, "greet", {"name": "Ada"}, headers={"Authorization": auth})
        else:
            with guarded.client(auth=auth) as authed:
                answer = start(authed, "greet", {"name": "Ada"})
    assert answer.status_code == status, answer.text
    if status == 401:
        assert handler_error(answer) == "UNAUTHENTICATED"


def test_the_native_routes_keep_the_bearer_token(guarded: Served) -> None:
    with guarded.client() as http:
        assert http.get("/v1/alos").status_code == 401
        assert http.get("/v1/alos", auth=("nexus", "admin")).status_code == 401
        assert http.get("/v1/alos", headers={"Authorization": "Bearer admin"}).status_code == 200
        # A path that starts like the Nexus routes reaches no native route unguarded
        # (sent as it is: httpx would resolve the dot segments itself).
        for path in ("/nexus/../v1/alos", "/nexus/%2E%2E/v1/alos", "/nexus/..%2Fv1%2Falos"):
            connection = http_client.HTTPConnection("127.0.0.1", guarded.port, timeout=10)
            try:
                connection.request("POST", path, body=b'{"id": "sneaky"}')
                assert connection.getresponse().status in (404, 405), path
            finally:
                connection.close()
        authed = {"Authorization": "Bearer admin"}
        assert http.get("/v1/alos/sneaky", headers=authed).status_code == 404


def test_a_nexus_token_of_its_own_is_the_only_credential_of_the_nexus_routes(
    separate: Served,
) -> None:
    with separate.client(auth=("nexus", "admin")) as http:
        assert start(http, "greet", {"name": "Ada"}).status_code == 401
    with separate.client(auth=("nexus", "for-temporal")) as http:
        assert start(http, "greet", {"name": "Ada"}).status_code == 200
        assert http.get("/v1/alos").status_code == 401
    with separate.client(headers={"Authorization": "Bearer for-temporal"}) as http:
        assert http.get("/v1/alos").status_code == 401


def test_a_completion_cut_off_by_a_crash_is_sent_again_after_the_restart(
    serve: ServeFactory, receiver: Receiver, tmp_path: Path
) -> None:
    served = serve()
    held = threading.Event()
    hook = f"/crash/{uuid.uuid4()}"
    receiver.plans[hook] = [("block", held, 200)]  # the first POST hangs until released
    request_id = str(uuid.uuid4())
    value = gated(tmp_path)
    with served.client() as http:
        assert (
            start(
                http, "gated", value, request_id=request_id, callback=receiver.url(hook)
            ).status_code
            == 201
        )
        release(tmp_path, value)
        receiver.wait_count(hook, 1, "the completion, in flight")
    served.kill()  # SIGKILL while the POST waits for its answer: nothing recorded
    held.set()
    served.start()
    receiver.wait_count(hook, 2, "the completion, sent again after the restart")
    first, again = receiver.to(hook)
    assert (again.headers, again.body) == (first.headers, first.body)
    assert again.headers["temporal-callback-token"] == CALLBACK_TOKEN
    with served.client() as http:
        wait_until(lambda: event_types(http, request_id)[-1] == "DeliveriesFinished")
        assert event_types(http, request_id) == [
            "Started",
            "Completed",
            "DeliveriesDue",
            "Delivered",
            "DeliveriesFinished",
        ]
