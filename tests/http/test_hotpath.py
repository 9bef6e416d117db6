"""The hot path (``alo_actor.http._hotpath``) answers exactly as the Litestar handler.

Each request is made twice: once in the form the hot path answers itself, once in
an equivalent form it passes on to the handler (a start's body sent chunked, without
a Content-Length; a result's ``wait`` percent-encoded). The two answers must agree
in status, headers and body, with the ALO's id (and the times) told apart.

Which way each request went is read from the server's own log (``Lane``): the lane
writes ``answered`` or ``passed`` before any byte of the answer is sent, so once a
response is in, its line is in the log.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.http.conftest import Lane
from tests.http.support import RFC3339


def _way(form: str) -> str:
    return "answered" if form == "hot" else "passed"


TIMES = ("created_at", "settled_at", "deadline")
JSON = {"content-type": "application/json"}


def _normal(response: httpx.Response, alo_id: str) -> tuple[int, dict[str, str], Any]:
    """Status, headers and body, with the id replaced and times reduced to their form."""
    headers = {
        name: value.replace(alo_id, "ID")
        for name, value in response.headers.items()
        if name not in ("date", "content-length")
    }
    text = response.text.replace(alo_id, "ID")
    body = httpx.Response(200, text=text).json() if text else None
    if isinstance(body, dict):
        for key in TIMES:
            if isinstance(body.get(key), str):
                assert RFC3339.match(body[key]), body
                body[key] = "TIME"
    return response.status_code, headers, body


def _start_body(alo_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": alo_id, "operation": "greeting", "input": {"name": "Ada"}, **fields}


def _chunked(body: bytes) -> Any:
    # An iterator: httpx sends it with Transfer-Encoding: chunked, no Content-Length.
    return iter([body])


STARTS: list[tuple[str, Callable[[str], dict[str, Any]]]] = [
    ("created", lambda i: _start_body(i, timeout="30s", metadata={"k": "v"})),
    ("unknown operation", lambda i: _start_body(i, operation="no-such-op")),
    ("invalid id", lambda i: _start_body(i + " with spaces")),
    ("bad timeout", lambda i: _start_body(i, timeout="soon")),
    ("refused host", lambda i: _start_body(i, result_urls=["http://example.com/hook"])),
    ("input too large", lambda i: _start_body(i, input="x" * (2 * 1024 * 1024 + 10))),
    ("unknown field", lambda i: {**_start_body(i), "colour": "red"}),
    ("wrong type", lambda i: {**_start_body(i), "metadata": {"k": 1}}),
]


# The starts the lane answers itself (the engine's refusals among them), by case; the
# rest (a body msgspec refuses) it passes on, in either form.
LANE_ANSWERS = {
    "created",
    "unknown operation",
    "invalid id",
    "bad timeout",
    "refused host",
    "input too large",
}


@pytest.mark.parametrize(("case", "body_of"), STARTS, ids=[case for case, _ in STARTS])
def test_a_start_answers_as_the_handler_does(
    client: httpx.Client, lane: Lane, case: str, body_of: Callable[[str], dict[str, Any]]
) -> None:
    answers = []
    for form in ("hot", "handler"):
        alo_id = f"hot-{uuid.uuid4().hex}"
        body = httpx.Request("POST", "/", json=body_of(alo_id)).read()
        content = body if form == "hot" else _chunked(body)
        first = client.post("/v1/alos", content=content, headers=JSON)
        way = _way(form) if case in LANE_ANSWERS else "passed"
        assert lane.since() == [f"{way} POST /v1/alos"], (case, form)
        if first.status_code == 201:
            # The greeting handler runs: let it finish, so that the repeated start
            # sees the same status in both forms however fast the handler is.
            assert client.get(f"/v1/alos/{alo_id}/result", params={"wait": "10s"}).status_code
            lane.since()
        again = client.post(
            "/v1/alos", content=content if form == "hot" else _chunked(body), headers=JSON
        )
        assert lane.since() == [f"{way} POST /v1/alos"], (case, form)
        answers.append((_normal(first, alo_id), _normal(again, alo_id)))
    assert answers[0] == answers[1], case
    (status, _, _), (again_status, _, body) = answers[0]
    if case == "created":
        assert (status, again_status, body["status"]) == (201, 200, "completed")


def test_a_start_with_a_conflict_answers_as_the_handler_does(
    client: httpx.Client, lane: Lane
) -> None:
    answers = []
    for form in ("hot", "handler"):
        alo_id = f"hot-{uuid.uuid4().hex}"
        assert client.post("/v1/alos", json=_start_body(alo_id)).status_code == 201
        lane.since()
        body = httpx.Request("POST", "/", json=_start_body(alo_id, input={"name": "Bo"})).read()
        response = client.post(
            "/v1/alos", content=body if form == "hot" else _chunked(body), headers=JSON
        )
        assert lane.since() == [f"{_way(form)} POST /v1/alos"], form
        answers.append(_normal(response, alo_id))
    assert answers[0] == answers[1]
    assert answers[0][0] == 409


MEDIA_TYPES: list[dict[str, str]] = [
    {"content-type": "text/plain"},
    {"content-type": "application/x-www-form-urlencoded"},
    {"content-type": "application/json; charset=latin-1"},
    {},  # no type at all
]


@pytest.mark.parametrize("headers", MEDIA_TYPES, ids=lambda h: h.get("content-type", "none"))
def test_a_start_that_is_not_json_answers_as_the_handler_does(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    answers = []
    for form in ("hot", "handler"):
        alo_id = f"hot-{uuid.uuid4().hex}"
        body = httpx.Request("POST", "/", json=_start_body(alo_id)).read()
        content = body if form == "hot" else _chunked(body)
        response = client.post("/v1/alos", content=content, headers=headers)
        answers.append(_normal(response, alo_id))
        assert client.get(f"/v1/alos/{alo_id}").status_code == 404
    assert answers[0] == answers[1]
    assert answers[0][0] == 415


def _settle(client: httpx.Client, alo_id: str, how: str) -> None:
    start: dict[str, Any]
    if how == "completed":
        start = {"id": alo_id, "operation": "greeting", "input": {"name": "Ada"}}
    elif how == "timed out":
        start = {"id": alo_id, "timeout": 0}
    else:
        start = {"id": alo_id}
    assert client.post("/v1/alos", json=start).status_code == 201
    if how == "failed":
        failure = {"message": "declined", "metadata": {"type": "PaymentError"}, "details": [1]}
        assert client.post(f"/v1/alos/{alo_id}/fail", json=failure).status_code == 200
    elif how == "cancelled":
        assert client.post(f"/v1/alos/{alo_id}/cancel", json={}).status_code == 200
    elif how == "completed by a client":
        body = {"result": {"n": [1, 2.5, None]}, "result_metadata": {"a": "b"}}
        assert client.post(f"/v1/alos/{alo_id}/complete", json=body).status_code == 200


def _percent_encoded(wait: str) -> str:
    return "".join(f"%{ord(c):02X}" for c in wait)


RESULTS = [
    ("completed", "10s"),
    ("completed by a client", "5s"),
    ("failed", "5s"),
    ("cancelled", "5s"),
    ("timed out", "5s"),
    ("running", "200ms"),  # the wait runs out: 408
    ("running", "0"),
    ("running", "later"),  # not a duration: 400
    ("missing", "1s"),  # 404
]


@pytest.mark.parametrize(("how", "wait"), RESULTS, ids=[f"{h}-{w}" for h, w in RESULTS])
def test_a_result_answers_as_the_handler_does(
    client: httpx.Client, lane: Lane, how: str, wait: str
) -> None:
    answers = []
    for form in ("hot", "handler"):
        alo_id = f"hot-{uuid.uuid4().hex}"
        if how != "missing":
            _settle(client, alo_id, how)
        lane.since()
        query = f"wait={wait}" if form == "hot" else f"wait={_percent_encoded(wait)}"
        response = client.get(f"/v1/alos/{alo_id}/result?{query}")
        assert lane.since() == [f"{_way(form)} GET /v1/alos/{alo_id}/result"], form
        answers.append(_normal(response, alo_id))
    assert answers[0] == answers[1]
    status, headers, _ = answers[0]
    expected = {"completed": 200, "completed by a client": 200, "missing": 404}.get(how)
    if expected is None:
        expected = 424 if how != "running" else (400 if wait == "later" else 408)
    assert status == expected, answers[0]
    if how != "missing" and wait != "later":
        assert re.fullmatch(r"[a-z_]+", headers["alo-status"])
