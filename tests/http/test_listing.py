"""``GET /v1/alos``: pages, filters and refusals, against a real ``alo serve``."""

from __future__ import annotations

import httpx
import pytest

from tests.http.support import INFO_KEYS, failure_of, info_of, start


def test_list_pages_through_the_matching_alos(client: httpx.Client, new_id: str) -> None:
    label = {"metadata.suite": new_id}
    ids = [f"{new_id}-{i}" for i in range(5)]
    for alo_id in ids:
        info_of(start(client, alo_id, metadata={"suite": new_id}), 201)
    info_of(client.post(f"/v1/alos/{ids[1]}/complete", json={"result": 1}))
    info_of(client.post(f"/v1/alos/{ids[3]}/pause"))

    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params = {**label, "limit": "2", **({"cursor": cursor} if cursor else {})}
        response = client.get("/v1/alos", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"alos", "next_cursor"}
        assert all(set(info) == INFO_KEYS for info in page["alos"])
        seen += [info["id"] for info in page["alos"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids

    def listed(**params: str) -> list[str]:
        response = client.get("/v1/alos", params={**label, **params})
        assert response.status_code == 200, response.text
        return [info["id"] for info in response.json()["alos"]]

    assert listed(status="completed") == [ids[1]]
    assert listed(status="running,paused") == [ids[0], ids[2], ids[3], ids[4]]
    assert listed(operation="greeting") == []
    # A created_at read back from the API bounds the listing at that very ALO.
    for i, alo_id in enumerate(ids):
        created = client.get(f"/v1/alos/{alo_id}").json()["created_at"]
        assert listed(created_after=created) == ids[i:]
        assert listed(created_before=created) == ids[:i]
    assert listed(**{"metadata.other": "x"}) == []


@pytest.mark.parametrize(
    "params",
    [
        {"status": "sleeping"},
        {"limit": "0"},
        {"limit": "many"},
        {"cursor": "not-a-cursor"},
        {"created_after": "yesterday"},
        {"created_after": "2026-01-01T00:00:00"},
        {"created_after": "2000", "created_before": "1000"},  # an empty range: a mistake
        {"colour": "red"},
    ],
)
def test_list_refuses_a_bad_filter(client: httpx.Client, params: dict[str, str]) -> None:
    body = failure_of(client.get("/v1/alos", params=params), 400, "InvalidArgument")
    assert next(iter(params)) in body["message"]
