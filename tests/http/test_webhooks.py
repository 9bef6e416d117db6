"""Signed result-URL POSTs from ``alo serve`` (issue 18, point 2): the secret from the
command line or the environment, the API's Failure shape in the body, the payload in
the OpenAPI document, and ``alo_actor.webhooks.verify`` against real deliveries."""

from __future__ import annotations

import json
from collections.abc import Iterator

import jsonschema_rs
import pytest

from alo_actor import SystemClock
from alo_actor.webhooks import WebhookVerificationError, new_secret, verify
from tests.http.conftest import GREETING_APP, Served
from tests.receiver import Receiver, Request, serving

SECRET = new_secret()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with serving(SystemClock()) as rec:
        yield rec


@pytest.fixture(scope="module", params=["option", "environment"])
def signing(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    db = tmp_path_factory.mktemp("signing") / "alo.db"
    if request.param == "option":
        server = Served(db, ["--app", GREETING_APP, "--webhook-secret", SECRET])
    else:
        server = Served(db, ["--app", GREETING_APP], env={"ALO_WEBHOOK_SECRET": SECRET})
    server.start()
    try:
        yield server
    finally:
        server.stop()


def delivered(receiver: Receiver, path: str) -> Request:
    receiver.wait_count(path, 1, f"the POST to {path}")
    [request] = receiver.to(path)
    return request


def test_a_completed_outcome_arrives_signed(
    signing: Served, receiver: Receiver, new_id: str
) -> None:
    hook = f"/{new_id}"
    with signing.client() as http:
        body = {"id": new_id, "operation": "greeting", "input": {"name": "Ada"}}
        assert http.post("/v1/alos", json={**body, "result_urls": [receiver.url(hook)]}).is_success
    request = delivered(receiver, hook)
    assert request.headers["webhook-id"].startswith("msg_")
    outcome = verify(SECRET, request.body, request.headers)
    assert outcome == json.loads(request.body)
    assert (outcome["id"], outcome["status"]) == (new_id, "completed")
    assert outcome["result"] == {"greeting": "Hello, Ada!"} and outcome["failure"] is None


def test_a_failure_in_the_post_is_the_apis_failure(
    signing: Served, receiver: Receiver, new_id: str
) -> None:
    hook = f"/{new_id}"
    with signing.client() as http:
        assert http.post("/v1/alos", json={"id": new_id, "result_urls": [receiver.url(hook)]})
        failure = {
            "message": "card declined",
            "metadata": {"type": "PaymentError"},
            "details": {"code": 7},
        }
        assert http.post(f"/v1/alos/{new_id}/fail", json=failure).is_success
        api_failure = http.get(f"/v1/alos/{new_id}").json()["failure"]
    outcome = verify(SECRET, delivered(receiver, hook).body, delivered(receiver, hook).headers)
    assert outcome["status"] == "failed"
    assert outcome["failure"] == api_failure
    assert outcome["failure"]["metadata"] == {"type": "PaymentError"}


def test_the_openapi_document_describes_the_post(
    signing: Served, receiver: Receiver, new_id: str
) -> None:
    with signing.client() as http:
        document = http.get("/schema/openapi.json").json()
        for n, settle in enumerate(["complete", "cancel"]):
            alo_id = f"{new_id}-{n}"
            body = {"id": alo_id, "result_urls": [receiver.url(f"/{alo_id}")]}
            assert http.post("/v1/alos", json=body).status_code == 201
            assert http.post(f"/v1/alos/{alo_id}/{settle}", json={"result": [1]} if n == 0 else {})
    operation = document["webhooks"]["alo-outcome"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
    assert {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "Nexus-Operation-State",
    } <= headers
    validator = jsonschema_rs.validator_for(schema)
    for n in range(2):
        request = delivered(receiver, f"/{new_id}-{n}")
        validator.validate(json.loads(request.body))
        for name in headers:
            assert name.lower() in request.headers, name
    assert not validator.is_valid({"id": "x", "status": "running"})


def test_verify_refuses_what_was_not_signed_so(
    signing: Served, receiver: Receiver, new_id: str
) -> None:
    hook = f"/{new_id}"
    with signing.client() as http:
        assert http.post("/v1/alos", json={"id": new_id, "result_urls": [receiver.url(hook)]})
        assert http.post(f"/v1/alos/{new_id}/complete", json={"result": "paid"}).is_success
    request = delivered(receiver, hook)
    body, headers = request.body, request.headers
    with pytest.raises(WebhookVerificationError):
        verify(SECRET, body.replace(b"paid", b"free"), headers)
    with pytest.raises(WebhookVerificationError):
        verify(new_secret(), body, headers)
    for missing in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        with pytest.raises(WebhookVerificationError):
            verify(SECRET, body, {k: v for k, v in headers.items() if k != missing})
    with pytest.raises(WebhookVerificationError):
        verify(SECRET, body, {**headers, "webhook-signature": "garbage"})
    with pytest.raises(WebhookVerificationError):
        verify(
            SECRET,
            body,
            {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) - 3600)},
        )
    # Header names in any case, as frameworks hand them over.
    assert verify(SECRET, body, {k.title(): v for k, v in headers.items()})["result"] == "paid"
    with pytest.raises(ValueError, match="Standard Webhooks secret"):
        verify("whsec_", body, headers)


def test_a_secret_that_is_not_one_is_refused_at_once(tmp_path: object) -> None:
    import subprocess
    import sys
    from pathlib import Path

    db = Path(str(tmp_path)) / "alo.db"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from alo_actor.cli import main; main()",
            "serve",
            "--db",
            str(db),
            "--webhook-secret",
            "whsec_",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("alo serve: --webhook-secret:") and "Traceback" not in done.stderr
    assert not db.exists()
