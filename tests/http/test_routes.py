"""Every route of http.md and each of its status codes, against a real ``alo serve``."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest

from alo_actor._validate import MAX_PAYLOAD_BYTES
from tests.http.conftest import Lane
from tests.http.support import RFC3339, failure_of, info_of, start, when


def test_healthz(client: httpx.Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


# -- POST /v1/alos -----------------------------------------------------------------------


def test_start_creates_then_the_same_start_is_unchanged(client: httpx.Client, new_id: str) -> None:
    first = start(client, new_id, metadata={"team": "billing"})
    created = info_of(first, 201)
    assert first.headers["Location"] == f"/v1/alos/{new_id}"
    assert created["status"] == "running"
    assert created["operation"] is None
    assert created["attempt"] == 0
    assert created["metadata"] == {"team": "billing"}
    assert created["settled_at"] is None and created["failure"] is None

    again = info_of(start(client, new_id, metadata={"team": "billing"}), 200)
    assert again == created
    assert "Location" not in start(client, new_id, metadata={"team": "billing"}).headers


def test_start_conflicting_with_the_stored_one_is_409(client: httpx.Client, new_id: str) -> None:
    info_of(start(client, new_id, input=1), 201)
    failure_of(start(client, new_id, input=2), 409, "AlreadyExists")
    failure_of(start(client, new_id, input=1, metadata={"k": "v"}), 409, "AlreadyExists")


def test_start_of_an_unknown_operation_is_404(client: httpx.Client, new_id: str) -> None:
    body = failure_of(start(client, new_id, operation="no.such.thing"), 404, "NotFound")
    assert "no.such.thing" in body["message"]
    failure_of(client.get(f"/v1/alos/{new_id}"), 404)


@pytest.mark.parametrize("bad_id", ["a b", "tab\there", "", "x" * 257, "zero\u200bwidth"])
def test_start_with_an_invalid_id_is_400(client: httpx.Client, bad_id: str) -> None:
    body = failure_of(start(client, bad_id), 400, "InvalidArgument")
    assert "id" in body["message"]


def test_an_unknown_field_is_400_naming_it(client: httpx.Client, new_id: str) -> None:
    body = failure_of(start(client, new_id, colour="red"), 400, "InvalidArgument")
    assert "colour" in body["message"]
    failure_of(client.get(f"/v1/alos/{new_id}"), 404)  # nothing was written


def test_a_wrong_type_is_400_naming_the_field(client: httpx.Client, new_id: str) -> None:
    body = failure_of(start(client, new_id, metadata={"k": 1}), 400, "InvalidArgument")
    assert "metadata" in body["message"]
    body = failure_of(client.post("/v1/alos", json={"id": 7}), 400, "InvalidArgument")
    assert "`id`" in body["message"]
    body = failure_of(client.post("/v1/alos", json={"input": 1}), 400, "InvalidArgument")
    assert "id" in body["message"]


def test_malformed_json_and_a_missing_body_are_400(client: httpx.Client) -> None:
    headers = {"Content-Type": "application/json"}
    body = failure_of(client.post("/v1/alos", content=b'{"id": ', headers=headers), 400)
    assert "JSON" in body["message"]
    failure_of(client.post("/v1/alos", content=b"[1, 2]", headers=headers), 400)
    failure_of(client.post("/v1/alos"), 400)


@pytest.mark.parametrize(
    ("timeout", "seconds"), [("30s", 30), ("500ms", 0.5), ("5m", 300), (30, 30), (1.5, 1.5)]
)
def test_timeout_forms_set_the_deadline(
    client: httpx.Client, new_id: str, timeout: str | float, seconds: float
) -> None:
    info = info_of(start(client, new_id, timeout=timeout), 201)
    span = when(info["deadline"]) - when(info["created_at"])
    assert abs(span - timedelta(seconds=seconds)) < timedelta(milliseconds=50)


@pytest.mark.parametrize("timeout", ["soon", -1, "1y", "", True])
def test_a_bad_timeout_is_400(client: httpx.Client, new_id: str, timeout: object) -> None:
    body = failure_of(start(client, new_id, timeout=timeout), 400, "InvalidArgument")
    assert "timeout" in body["message"]


def test_an_input_over_2_mib_is_413(client: httpx.Client, new_id: str) -> None:
    failure_of(start(client, new_id, input="x" * (MAX_PAYLOAD_BYTES + 1)), 413, "PayloadTooLarge")
    failure_of(client.get(f"/v1/alos/{new_id}"), 404)
    info_of(start(client, new_id, input="x" * (MAX_PAYLOAD_BYTES - 64)), 201)


def test_result_urls_only_for_allowed_hosts(client: httpx.Client, new_id: str) -> None:
    # Refused at start, so nothing is ever sent to the outside host.
    body = failure_of(
        start(client, new_id, result_urls=["http://example.com/hook"]), 400, "InvalidArgument"
    )
    assert "example.com" in body["message"]
    # Loopback is allowed by default (an external promise: nothing is delivered here).
    hook = "http://127.0.0.1:9/hook"
    assert info_of(start(client, new_id, result_urls=[hook]), 201)["result_urls"] == [hook]


# -- GET /v1/alos/{id} -------------------------------------------------------------------


def test_info_and_its_errors(client: httpx.Client, new_id: str) -> None:
    started = info_of(start(client, new_id, operation="linger", input=30, timeout="1h"), 201)
    info = info_of(client.get(f"/v1/alos/{new_id}"))
    assert info["id"] == new_id and info["operation"] == "linger"
    assert info["attempt"] == 1 and info["created_at"] == started["created_at"]
    span = when(info["deadline"]) - when(info["created_at"])
    assert abs(span - timedelta(hours=1)) < timedelta(milliseconds=50)
    client.post(f"/v1/alos/{new_id}/cancel")

    response = client.get("/v1/alos/never-started")
    failure_of(response, 404, "NotFound")
    assert "Alo-Status" not in response.headers
    failure_of(client.get("/v1/alos/a%20b"), 400, "InvalidArgument")


# -- GET /v1/alos/{id}/result --------------------------------------------------------------


def test_greeting_result(client: httpx.Client, new_id: str) -> None:
    info_of(start(client, new_id, operation="greeting", input={"name": "Ada"}), 201)
    response = client.get(f"/v1/alos/{new_id}/result", params={"wait": "10s"})
    assert response.status_code == 200
    assert response.headers["Alo-Status"] == "completed"
    assert response.json() == {"result": {"greeting": "Hello, Ada!"}, "result_metadata": {}}
    # Settled: the same answer without waiting.
    assert client.get(f"/v1/alos/{new_id}/result").json()["result"] == {"greeting": "Hello, Ada!"}


def test_not_settled_is_412_without_wait_and_408_when_the_wait_runs_out(
    client: httpx.Client, new_id: str
) -> None:
    info_of(start(client, new_id), 201)
    response = client.get(f"/v1/alos/{new_id}/result")
    failure_of(response, 412, "NotSettled")
    assert response.headers["Alo-Status"] == "running"

    began = time.monotonic()
    response = client.get(f"/v1/alos/{new_id}/result", params={"wait": "300ms"})
    assert time.monotonic() - began >= 0.25
    failure_of(response, 408, "WaitTimedOut")
    assert response.headers["Alo-Status"] == "running"
    failure_of(client.get(f"/v1/alos/{new_id}/result", params={"wait": "0"}), 408)

    info_of(client.post(f"/v1/alos/{new_id}/pause"))
    response = client.get(f"/v1/alos/{new_id}/result")
    failure_of(response, 412, "NotSettled")
    assert response.headers["Alo-Status"] == "paused"


def test_a_long_poll_wakes_when_the_alo_is_completed(
    client: httpx.Client, lane: Lane, new_id: str
) -> None:
    info_of(start(client, new_id), 201)
    lane.since()

    def complete_soon() -> None:
        # Once the server waits on the ALO (the lane logs as the wait begins).
        lane.wait_for(f"answered GET /v1/alos/{new_id}/result")
        with httpx.Client(base_url=str(client.base_url), timeout=10) as other:
            other.post(
                f"/v1/alos/{new_id}/complete",
                json={"result": [1, 2], "result_metadata": {"a": "b"}},
            )

    helper = threading.Thread(target=complete_soon)
    helper.start()
    # A wait that missed its wake-up would run its 20 s; the client gives up after
    # its own 10 s, and this raises.
    response = client.get(f"/v1/alos/{new_id}/result", params={"wait": "20s"})
    helper.join(10)
    assert response.status_code == 200, response.text
    assert response.json() == {"result": [1, 2], "result_metadata": {"a": "b"}}


@pytest.mark.parametrize(
    ("settle", "status"),
    [
        (("fail", {"message": "card declined", "metadata": {"type": "PaymentError"}}), "failed"),
        (("cancel", {"reason": "user asked"}), "cancelled"),
    ],
)
def test_an_unsuccessful_outcome_is_424_with_the_failure(
    client: httpx.Client, new_id: str, settle: tuple[str, dict[str, Any]], status: str
) -> None:
    info_of(start(client, new_id), 201)
    verb, body = settle
    info_of(client.post(f"/v1/alos/{new_id}/{verb}", json=body))
    for params in ({}, {"wait": "5s"}):
        response = client.get(f"/v1/alos/{new_id}/result", params=params)
        failure = failure_of(response, 424)
        assert response.headers["Alo-Status"] == status
        assert failure == client.get(f"/v1/alos/{new_id}").json()["failure"]


def test_a_timed_out_alo_is_424(client: httpx.Client, new_id: str) -> None:
    info = info_of(start(client, new_id, timeout=0), 201)
    assert info["status"] == "timed_out"
    assert info["settled_at"] == info["created_at"]  # max(deadline, created_at)
    response = client.get(f"/v1/alos/{new_id}/result", params={"wait": "1s"})
    failure_of(response, 424)
    assert response.headers["Alo-Status"] == "timed_out"

    info_of(start(client, f"{new_id}-later", timeout="200ms"), 201)
    response = client.get(f"/v1/alos/{new_id}-later/result", params={"wait": "10s"})
    failure_of(response, 424)
    assert response.headers["Alo-Status"] == "timed_out"


def test_result_of_an_unknown_alo_is_404_and_a_bad_wait_400(client: httpx.Client) -> None:
    failure_of(client.get("/v1/alos/nobody/result"), 404, "NotFound")
    failure_of(client.get("/v1/alos/nobody/result", params={"wait": "1s"}), 404, "NotFound")
    body = failure_of(client.get("/v1/alos/nobody/result", params={"wait": "later"}), 400)
    assert "wait" in body["message"]


# -- settling and steering -------------------------------------------------------------


def test_complete(client: httpx.Client, new_id: str) -> None:
    info_of(start(client, new_id), 201)
    done = info_of(
        client.post(
            f"/v1/alos/{new_id}/complete",
            json={"result": {"ok": True}, "result_metadata": {"k": "v"}},
        )
    )
    assert done["status"] == "completed" and done["result_metadata"] == {"k": "v"}
    assert RFC3339.match(done["settled_at"])
    # First writer wins: a later complete changes nothing.
    assert info_of(client.post(f"/v1/alos/{new_id}/complete", json={"result": 2})) == done
    assert client.get(f"/v1/alos/{new_id}/result").json()["result"] == {"ok": True}

    failure_of(client.post("/v1/alos/nobody/complete", json={"result": 1}), 404, "NotFound")
    body = failure_of(client.post(f"/v1/alos/{new_id}/complete", json={"value": 1}), 400)
    assert "value" in body["message"]


def test_a_result_over_2_mib_is_413(client: httpx.Client, new_id: str) -> None:
    info_of(start(client, new_id), 201)
    big = {"result": "y" * (MAX_PAYLOAD_BYTES + 1)}
    failure_of(client.post(f"/v1/alos/{new_id}/complete", json=big), 413, "PayloadTooLarge")
    assert info_of(client.get(f"/v1/alos/{new_id}"))["status"] == "running"


def test_fail_takes_a_failure(client: httpx.Client, new_id: str) -> None:
    info_of(start(client, new_id), 201)
    failure = {
        "message": "card declined",
        "metadata": {"type": "PaymentError"},
        "details": {"code": 51},
        "stackTrace": "at charge()",
    }
    info = info_of(client.post(f"/v1/alos/{new_id}/fail", json=failure))
    assert info["status"] == "failed"
    # Stack traces stay out of answers unless the server is told to show them
    # (tests/http/test_stack_traces.py).
    assert info["failure"] == {k: v for k, v in failure.items() if k != "stackTrace"}

    failure_of(client.post("/v1/alos/nobody/fail", json={"message": "x"}), 404, "NotFound")
    body = failure_of(
        client.post(f"/v1/alos/{new_id}/fail", json={"message": "x", "metadata": {"kind": "y"}}),
        400,
    )
    assert "kind" in body["message"]
    failure_of(client.post(f"/v1/alos/{new_id}/fail", json={"details": 1}), 400)


def test_cancel_with_and_without_a_reason(client: httpx.Client, new_id: str) -> None:
    info_of(start(client, new_id), 201)
    info = info_of(client.post(f"/v1/alos/{new_id}/cancel", json={"reason": "user asked"}))
    assert info["status"] == "cancelled"
    assert "user asked" in info["failure"]["message"]

    info_of(start(client, f"{new_id}-2"), 201)
    assert info_of(client.post(f"/v1/alos/{new_id}-2/cancel"))["status"] == "cancelled"
    failure_of(client.post("/v1/alos/nobody/cancel"), 404, "NotFound")


def test_pause_and_resume_a_running_handler(client: httpx.Client, new_id: str) -> None:
    info_of(start(client, new_id, operation="linger", input=30), 201)
    assert info_of(client.post(f"/v1/alos/{new_id}/pause"))["status"] == "paused"
    assert info_of(client.post(f"/v1/alos/{new_id}/pause"))["status"] == "paused"
    assert info_of(client.post(f"/v1/alos/{new_id}/resume"))["status"] == "running"
    assert info_of(client.post(f"/v1/alos/{new_id}/cancel"))["status"] == "cancelled"
    # Terminal: unchanged.
    assert info_of(client.post(f"/v1/alos/{new_id}/resume"))["status"] == "cancelled"
    failure_of(client.post("/v1/alos/nobody/pause"), 404, "NotFound")
    failure_of(client.post("/v1/alos/nobody/resume"), 404, "NotFound")


# -- GET /v1/alos/{id}/events -------------------------------------------------------------


def test_events_oldest_first(client: httpx.Client, new_id: str) -> None:
    info_of(start(client, new_id, operation="greeting", input={"name": "Bo"}), 201)
    assert client.get(f"/v1/alos/{new_id}/result", params={"wait": "10s"}).status_code == 200
    response = client.get(f"/v1/alos/{new_id}/events")
    assert response.status_code == 200
    assert response.headers["Alo-Status"] == "completed"
    body = response.json()
    assert body["id"] == new_id
    events = body["events"]
    assert [e["type"] for e in events] == ["Started", "Completed"]
    assert [e["version"] for e in events] == [1, 2]
    assert events[0]["data"]["input"] == {"name": "Bo"}
    assert events[1]["data"]["result"] == {"greeting": "Hello, Bo!"}
    assert all(RFC3339.match(e["at"]) and RFC3339.match(e["recorded_at"]) for e in events)

    failure_of(client.get("/v1/alos/nobody/events"), 404, "NotFound")
