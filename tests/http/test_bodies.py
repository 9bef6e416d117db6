"""Request bodies: JSON only (415 otherwise), bad bytes and deep nesting refused with
400 on every route that takes one, and every value accepted answered back."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from alo_actor._validate import MAX_NESTING
from tests.http.support import failure_of, info_of, start
from tests.values import depth_of, nested

JSON = {"content-type": "application/json"}


def raw(client: httpx.Client, path: str, body: bytes, headers: dict[str, str] = JSON) -> Any:
    """POST ``body`` as it is, once with a Content-Length (the start's hot path) and
    once chunked (the handler); the first answer, after checking that the second
    agrees (a start that created its ALO is then repeated: 200)."""
    first = client.post(path, content=body, headers=headers)
    second = client.post(path, content=iter([body]), headers=headers)
    expected = 200 if first.status_code == 201 else first.status_code
    assert second.status_code == expected, (first.text, second.text)
    return first


def body_routes(alo_id: str) -> list[tuple[str, bytes]]:
    return [
        ("/v1/alos", json.dumps({"id": alo_id}).encode()),
        (f"/v1/alos/{alo_id}/complete", b'{"result": 1}'),
        (f"/v1/alos/{alo_id}/fail", b'{"message": "no"}'),
        (f"/v1/alos/{alo_id}/cancel", b'{"reason": "no"}'),
    ]


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", None],
)
def test_a_body_that_is_not_json_is_415_on_every_route(
    client: httpx.Client, new_id: str, content_type: str | None
) -> None:
    info_of(start(client, new_id), 201)
    headers = {} if content_type is None else {"content-type": content_type}
    for path, body in [*body_routes(f"{new_id}-new"), *body_routes(new_id)[1:]]:
        failure_of(raw(client, path, body, headers), 415, "UnsupportedMediaType")
    # Routes without a body refuse one that is not JSON just the same.
    failure_of(client.post(f"/v1/alos/{new_id}/pause", content=b"x", headers=headers), 415)
    failure_of(client.get(f"/v1/alos/{f'{new_id}-new'}"), 404)
    assert client.get(f"/v1/alos/{new_id}").json()["status"] == "running"


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "Application/JSON", "application/vnd.alo+json"],
)
def test_json_types_are_taken(client: httpx.Client, new_id: str, content_type: str) -> None:
    headers = {"content-type": content_type}
    info_of(raw(client, "/v1/alos", json.dumps({"id": new_id}).encode(), headers), 201)


def test_a_request_without_a_body_needs_no_type(client: httpx.Client, new_id: str) -> None:
    info_of(start(client, new_id), 201)
    info_of(client.post(f"/v1/alos/{new_id}/pause"))
    info_of(client.post(f"/v1/alos/{new_id}/cancel"))


def test_invalid_utf8_is_400_on_every_route(client: httpx.Client, new_id: str) -> None:
    info_of(start(client, new_id), 201)
    bodies = [
        ("/v1/alos", b'{"id": "bad\xff"}'),
        ("/v1/alos", b'{"id": "' + new_id.encode() + b'-x", "input": "\xc3\x28"}'),
        (f"/v1/alos/{new_id}/complete", b'{"result": "\xed\xa0\x80"}'),  # an encoded surrogate
        (f"/v1/alos/{new_id}/fail", b'{"message": "\xff"}'),
        (f"/v1/alos/{new_id}/cancel", b'{"reason": "\xfe"}'),
    ]
    for path, body in bodies:
        failure = failure_of(raw(client, path, body), 400, "InvalidArgument")
        assert "UTF-8" in failure["message"] or "malformed" in failure["message"], failure
    # A lone surrogate written as an escape is no better.
    failure_of(raw(client, "/v1/alos", b'{"id": "x\\ud800"}'), 400)
    assert client.get(f"/v1/alos/{new_id}").json()["status"] == "running"


@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 1_000, 100_000])
def test_values_nested_too_deep_are_400_on_every_route(
    client: httpx.Client, new_id: str, depth: int
) -> None:
    info_of(start(client, new_id), 201)
    deep = ("[" * depth + "]" * depth).encode()
    bodies = [
        ("/v1/alos", b'{"id": "' + new_id.encode() + b'-deep", "input": ' + deep + b"}"),
        (f"/v1/alos/{new_id}/complete", b'{"result": ' + deep + b"}"),
        (f"/v1/alos/{new_id}/fail", b'{"message": "no", "details": ' + deep + b"}"),
    ]
    for path, body in bodies:
        failure = failure_of(raw(client, path, body), 400, "InvalidArgument")
        assert "nest" in failure["message"], failure
    failure_of(client.get(f"/v1/alos/{new_id}-deep"), 404)
    assert client.get(f"/v1/alos/{new_id}").json()["status"] == "running"


def test_values_at_the_limit_are_answered_by_every_route(client: httpx.Client, new_id: str) -> None:
    deepest = nested(MAX_NESTING)
    info_of(start(client, f"{new_id}-in", input=deepest, metadata={"case": new_id}), 201)
    info_of(start(client, f"{new_id}-out"), 201)
    info_of(client.post(f"/v1/alos/{new_id}-out/complete", json={"result": deepest}))
    info_of(start(client, f"{new_id}-failed"), 201)
    failed = {"message": "no", "details": deepest}
    info = info_of(client.post(f"/v1/alos/{new_id}-failed/fail", json=failed))
    assert depth_of(info["failure"]["details"]) == MAX_NESTING
    result = client.get(f"/v1/alos/{new_id}-out/result")
    assert result.status_code == 200 and depth_of(result.json()["result"]) == MAX_NESTING
    failure = failure_of(client.get(f"/v1/alos/{new_id}-failed/result"), 424)
    assert depth_of(failure["details"]) == MAX_NESTING
    for suffix in ("in", "out", "failed"):
        events = client.get(f"/v1/alos/{new_id}-{suffix}/events")
        assert events.status_code == 200, events.text
    started = client.get(f"/v1/alos/{new_id}-in/events").json()["events"][0]
    assert depth_of(started["data"]["input"]) == MAX_NESTING
    listed = client.get("/v1/alos", params={"metadata.case": new_id})
    assert [info["id"] for info in listed.json()["alos"]] == [f"{new_id}-in"]


def test_dot_ids_are_refused(client: httpx.Client) -> None:
    for alo_id in (".", ".."):
        failure = failure_of(start(client, alo_id), 400, "InvalidArgument")
        assert repr(alo_id) in failure["message"]


def test_a_duplicate_key_counts_once_the_last_wins(client: httpx.Client, new_id: str) -> None:
    # msgspec cannot refuse duplicate keys; the README says the last one counts.
    body = f'{{"id": "{new_id}-first", "id": "{new_id}"}}'.encode()
    info = info_of(raw(client, "/v1/alos", body), 201)
    assert info["id"] == new_id
    failure_of(client.get(f"/v1/alos/{new_id}-first"), 404)


def test_integers_beyond_64_bits_are_read_as_doubles(client: httpx.Client, new_id: str) -> None:
    # As a JSON reader in JavaScript reads them: stored whether written 2**70 or 1.18e21.
    big = 2**70
    body = f'{{"id": "{new_id}", "input": [{big}, {{"n": -{big}}}, 1]}}'.encode()
    info_of(raw(client, "/v1/alos", body), 201)
    started = client.get(f"/v1/alos/{new_id}/events").json()["events"][0]
    assert started["data"]["input"] == [float(big), {"n": -float(big)}, 1]
    complete = f'{{"result": {big}}}'.encode()
    info_of(client.post(f"/v1/alos/{new_id}/complete", content=complete, headers=JSON))
    assert client.get(f"/v1/alos/{new_id}/result").json()["result"] == float(big)
    info_of(start(client, f"{new_id}-f"), 201)
    fail = f'{{"message": "no", "details": {{"code": {big}}}}}'.encode()
    info = info_of(client.post(f"/v1/alos/{new_id}-f/fail", content=fail, headers=JSON))
    assert info["failure"]["details"] == {"code": float(big)}
