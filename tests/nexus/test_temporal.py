"""``alo serve`` as a Nexus handler that a real Temporal server calls from workflows.

One dev server and worker for the session (``conftest.temporal``); each test runs its
own ``alo serve`` and a Nexus endpoint pointing at it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.http.conftest import Served
from tests.nexus.conftest import COMPLETED, STARTED, ServeFactory, Temporal
from tests.nexus.support import Call, event_types, marker, release, wait_for_file


def only_alo(served: Served, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """The one Nexus-started ALO of ``served``, as the native listing shows it."""
    with served.client(headers=headers) as http:
        page = http.get("/v1/alos", params={"metadata.nexus.service": "alo"})
    assert page.status_code == 200, page.text
    alos: list[dict[str, Any]] = page.json()["alos"]
    assert len(alos) == 1, alos
    return alos[0]


def test_a_workflow_gets_the_result_of_an_async_operation_and_the_native_routes_show_it(
    temporal: Temporal, serve: ServeFactory, tmp_path: Path
) -> None:
    served = serve()
    # Answered 201 (the attempt is held past the start's window): Temporal says started.
    workflow_id, value = temporal.start_gated(served, tmp_path)
    alo = only_alo(served)
    assert alo["operation"] == "gated"
    assert alo["status"] == "running"
    assert alo["metadata"]["nexus.service"] == "alo"
    assert alo["metadata"]["nexus.link"].startswith("<temporal:///namespaces/default/workflows/")
    assert alo["result_urls"] == [
        f"http://127.0.0.1:{temporal.server.http_port}/namespaces/default/nexus/callback"
    ]
    assert alo["deadline"] is not None  # from Operation-Timeout

    release(tmp_path, value)
    expected = {"greeting": "Hello, Ada!", "attempt": 1}
    assert temporal.result(workflow_id) == {"result": expected}

    with served.client() as http:
        result = http.get(f"/v1/alos/{alo['id']}/result", params={"wait": "10s"})
        assert result.status_code == 200
        assert result.json()["result"] == expected
        assert http.get(f"/v1/alos/{alo['id']}").json()["status"] == "completed"
        # Temporal took the completion (200) and the log says so.
        assert event_types(http, alo["id"]) == [
            "Started",
            "Completed",
            "DeliveriesDue",
            "Delivered",
            "DeliveriesFinished",
        ]
        listed = http.get("/v1/alos", params={"operation": "gated"}).json()["alos"]
        assert [a["id"] for a in listed] == [alo["id"]]


def test_a_handler_failure_reaches_the_workflow_as_a_nexus_operation_error(
    temporal: Temporal, serve: ServeFactory, tmp_path: Path
) -> None:
    served = serve()
    workflow_id, value = temporal.start_gated(served, tmp_path, fail="card declined")
    release(tmp_path, value)
    caught = temporal.result(workflow_id)
    assert caught["error"] == "NexusOperationError"
    assert "card declined" in caught["messages"], caught
    assert only_alo(served)["status"] == "failed"


def test_a_workflow_cancel_cancels_the_alo_and_tells_the_running_attempt(
    temporal: Temporal, serve: ServeFactory, tmp_path: Path
) -> None:
    served = serve()
    workflow_id, value = temporal.start_gated(served, tmp_path)
    wait_for_file(marker(tmp_path, value, "started.1"))

    temporal.cancel(workflow_id)
    assert temporal.outcome(workflow_id)["status"] == "CANCELED"
    # The attempt saw ctx.cancelled (it leaves this marker when told to stop).
    wait_for_file(marker(tmp_path, value, "cancelled"))
    alo = only_alo(served)
    assert alo["status"] == "cancelled"
    assert alo["failure"]["message"] == "cancelled by the Nexus caller"
    with served.client() as http:
        assert event_types(http, alo["id"])[-2:] == ["Delivered", "DeliveriesFinished"]


def test_alo_serve_killed_after_the_start_and_restarted_before_the_outcome_completes_the_workflow(
    temporal: Temporal, serve: ServeFactory, tmp_path: Path
) -> None:
    served = serve()
    workflow_id, value = temporal.start_gated(served, tmp_path)
    wait_for_file(marker(tmp_path, value, "started.1"))

    served.kill()  # SIGKILL: the attempt dies with the process
    served.start()  # same port, same log: the ALO's attempt runs again
    wait_for_file(marker(tmp_path, value, "started.2"))
    release(tmp_path, value)
    assert temporal.result(workflow_id) == {"result": {"greeting": "Hello, Ada!", "attempt": 2}}
    assert only_alo(served)["attempt"] == 2


def test_a_fast_operation_is_answered_in_the_start_response(
    temporal: Temporal, serve: ServeFactory
) -> None:
    served = serve(["--nexus-wait", "30"])
    workflow_id = temporal.start(Call(temporal.endpoint_for(served), "greet", {"name": "Ada"}))
    assert temporal.result(workflow_id) == {"result": {"greeting": "Hello, Ada!"}}
    # Synchronous: Temporal records the completion without a started event...
    types = temporal.event_types(workflow_id)
    assert COMPLETED in types
    assert STARTED not in types
    # ... and the callback is owed nothing (the start's answer was the outcome).
    alo = only_alo(served)
    with served.client() as http:
        assert event_types(http, alo["id"]) == ["Started", "Completed"]


def test_a_fast_failure_is_answered_424_and_reaches_the_workflow(
    temporal: Temporal, serve: ServeFactory
) -> None:
    served = serve(["--nexus-wait", "30"])
    call = Call(temporal.endpoint_for(served), "decline", {"message": "card declined"})
    workflow_id = temporal.start(call)
    caught = temporal.result(workflow_id)
    assert caught["error"] == "NexusOperationError"
    assert "card declined" in caught["messages"], caught
    assert STARTED not in temporal.event_types(workflow_id)
    alo = only_alo(served)
    with served.client() as http:
        assert event_types(http, alo["id"]) == ["Started", "Failed"]


def test_with_a_token_a_workflow_reaches_the_nexus_routes_through_the_target_urls_user_info(
    temporal: Temporal, serve: ServeFactory
) -> None:
    secret = "s3cr:t/+="  # characters that must be escaped in the URL's user info
    served = serve(["--token", secret, "--nexus-wait", "30"])
    endpoint = temporal.endpoint_for(served, secret=secret)
    workflow_id = temporal.start(Call(endpoint, "greet", {"name": "Ada"}))
    assert temporal.result(workflow_id) == {"result": {"greeting": "Hello, Ada!"}}
    bearer = {"Authorization": f"Bearer {secret}"}
    assert only_alo(served, headers=bearer)["status"] == "completed"
    with served.client() as http:
        # The native routes still want the bearer token, and Basic is not it.
        assert http.get("/v1/alos").status_code == 401
        assert http.get("/v1/alos", auth=("nexus", secret)).status_code == 401


def test_without_the_credential_temporal_is_refused_and_the_operation_fails(
    temporal: Temporal, serve: ServeFactory
) -> None:
    served = serve(["--nexus-token", "nexus-only"])
    endpoint = temporal.endpoint_for(served)  # no user info: no Authorization header
    workflow_id = temporal.start(Call(endpoint, "greet", {"name": "Ada"}))
    assert temporal.result(workflow_id)["error"] == "NexusOperationError"
    # UNAUTHENTICATED is not retried: nothing was started.
    with served.client() as http:
        assert http.get("/v1/alos").json()["alos"] == []
