"""``POST /v1/batch`` against a real ``alo serve``: each item answered as its own request
would be, in order; a batch that breaks the document's rules is refused whole."""

from __future__ import annotations

from typing import Any

import httpx

from tests.http.support import INFO_KEYS

JSON = {"content-type": "application/json"}


def batch(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/batch", json=body, headers=JSON)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_starts_completes_and_results_in_one_request(client: httpx.Client, new_id: str) -> None:
    a, b, c = f"{new_id}-a", f"{new_id}-b", f"{new_id}-c"
    first = batch(
        client,
        {
            "starts": [
                {"id": a},
                {"id": b, "operation": "greeting", "input": {"name": "Ada"}},
                {"id": c, "metadata": {"k": "v"}, "timeout": "1h"},
                {"id": f"{new_id}-x", "operation": "no-such-operation"},
            ],
            "completes": [{"id": a, "result": {"n": 1}}, {"id": f"{new_id}-none", "result": 0}],
            "results": [a, b, f"{new_id}-none"],
            "wait": "5s",  # answered as soon as all three are settled (or not found)
        },
    )
    assert [item["status"] for item in first["starts"]] == [201, 201, 201, 404]
    assert set(first["starts"][0]["info"]) == INFO_KEYS
    assert first["starts"][3]["error"]["metadata"]["type"] == "NotFound"
    assert [item["status"] for item in first["completes"]] == [200, 404]
    assert first["completes"][0]["info"]["status"] == "completed"
    statuses = [item["status"] for item in first["results"]]
    assert statuses == [200, 200, 404]
    assert first["results"][0]["result"] == {"n": 1}
    assert first["results"][1]["result"] == {"greeting": "Hello, Ada!"}
    # Again: the same starts are unchanged (200), another with a taken id conflicts.
    again = batch(
        client,
        {"starts": [{"id": a}, {"id": a, "input": 2}], "results": [c]},
    )
    assert [item["status"] for item in again["starts"]] == [200, 409]
    assert again["results"][0]["status"] == 412  # not settled, and no wait asked
    waited = batch(client, {"results": [c, a], "wait": "0.1s"})["results"]
    assert [item["status"] for item in waited] == [408, 200]  # c is still running
    client.post(f"/v1/alos/{c}/cancel", json={}, headers=JSON)
    cancelled = batch(client, {"results": [c]})["results"][0]
    assert cancelled["status"] == 424
    assert cancelled["error"]["metadata"]["type"] == "Cancelled"


def test_a_batch_that_breaks_the_rules_is_refused_whole(client: httpx.Client, new_id: str) -> None:
    bodies: list[dict[str, Any]] = [
        {"starts": [{"id": f"{new_id}-ok"}, {"id": "has space"}]},
        {"results": [".."]},
        {"completes": [{"id": "x", "result": 1, "extra": True}]},
        {"starts": [{"id": f"{new_id}-{n}"} for n in range(1001)]},
        {"wait": "soon"},
        {"unknown": []},
    ]
    for body in bodies:
        response = client.post("/v1/batch", json=body, headers=JSON)
        assert response.status_code == 400, (body, response.text)
    # Nothing of the refused batches was started.
    assert client.get(f"/v1/alos/{new_id}-ok").status_code == 404
    assert client.get(f"/v1/alos/{new_id}-0").status_code == 404
    too_big = {"starts": [{"id": f"{new_id}-big", "input": "x" * (3 * 1024 * 1024)}]}
    answer = batch(client, too_big)
    assert answer["starts"][0]["status"] == 413
