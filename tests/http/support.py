"""Checks shared by the route tests: the Failure body, the info body, a start."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import httpx

INFO_KEYS = {
    "id",
    "operation",
    "status",
    "metadata",
    "result_urls",
    "attempt",
    "created_at",
    "settled_at",
    "deadline",
    "failure",
    "result_metadata",
}
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def failure_of(response: httpx.Response, status: int, type: str | None = None) -> dict[str, Any]:
    """The Failure body of an error response, checked for its shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["metadata"]["type"], str)
    assert "details" in body
    if type is not None:
        assert body["metadata"]["type"] == type, body
    return body


def info_of(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    """An info body, checked for its keys, its times and the Alo-Status header."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == INFO_KEYS
    for key in ("created_at", "settled_at", "deadline"):
        if body[key] is not None:
            assert RFC3339.match(body[key]), body[key]
    assert response.headers["Alo-Status"] == body["status"]
    return body


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def start(client: httpx.Client, alo_id: str, **fields: Any) -> httpx.Response:
    return client.post("/v1/alos", json={"id": alo_id, **fields})
