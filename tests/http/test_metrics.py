"""``GET /metrics`` (Prometheus text, behind the token) and ``--log-format json``."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from alo_actor import SystemClock
from tests.conftest import wait_until
from tests.http.conftest import GREETING_APP, Served
from tests.receiver import Receiver, serving

TOKEN = "metrics-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with serving(SystemClock()) as rec:
        rec.defaults["/refuses"] = 400
        yield rec


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    db = tmp_path_factory.mktemp("observed") / "alo.db"
    args = ["--app", GREETING_APP, "--token", TOKEN, "--log-format", "json", "--access-log"]
    args += ["--log-level", "info"]  # access lines are info
    server = Served(db, args).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def http(observed: Served) -> Iterator[httpx.Client]:
    with observed.client(headers=AUTH) as client:
        yield client


def scrape(http: httpx.Client) -> Samples:
    response = http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_want_the_token_and_healthz_does_not(observed: Served) -> None:
    with observed.client() as anonymous:
        assert anonymous.get("/metrics").status_code == 401
        assert anonymous.get("/healthz").status_code == 200


def test_the_counters_follow_what_the_server_did(
    http: httpx.Client, receiver: Receiver, new_id: str
) -> None:
    before = scrape(http)
    greetings = [f"{new_id}-g{n}" for n in range(3)]
    for alo_id in greetings:
        body = {"id": alo_id, "operation": "greeting", "input": {"name": "Ada"}}
        assert http.post("/v1/alos", json=body).status_code == 201
    for alo_id in greetings:
        assert http.get(f"/v1/alos/{alo_id}/result", params={"wait": "10s"}).status_code == 200
    failing = {"id": f"{new_id}-b", "operation": "boom", "result_urls": [receiver.url("/refuses")]}
    assert http.post("/v1/alos", json=failing).status_code == 201
    assert http.get(f"/v1/alos/{new_id}-b/result", params={"wait": "10s"}).status_code == 424
    hooked = {"id": f"{new_id}-h", "result_urls": [receiver.url("/accepts")]}
    assert http.post("/v1/alos", json=hooked).status_code == 201
    assert http.post(f"/v1/alos/{new_id}-h/cancel", json={}).status_code == 200
    receiver.wait_count("/accepts", 1, "the delivery")

    def finished(samples: Samples) -> float:
        return value(samples, "alo_deliveries_total", outcome="delivered") + value(
            samples, "alo_deliveries_total", outcome="abandoned"
        )

    wait_until(lambda: finished(scrape(http)) - finished(before) == 2, what="both deliveries")
    after = scrape(http)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("alo_alos", status="completed") == 3
    assert grew("alo_alos", status="failed") == 1
    assert grew("alo_alos", status="cancelled") == 1
    assert grew("alo_commands_total", command="Start") == 5
    assert grew("alo_commands_total", command="Cancel") == 1
    assert grew("alo_commands_total", command="AttemptSucceeded") == 3
    assert grew("alo_handler_attempts_total", operation="greeting") == 3
    assert grew("alo_handler_attempts_total", operation="boom") == 2
    assert grew("alo_handler_failures_total", operation="boom") == 2
    assert grew("alo_handler_failures_total", operation="greeting") == 0
    assert grew("alo_deliveries_total", outcome="delivered") == 1
    assert grew("alo_deliveries_total", outcome="abandoned") == 1
    assert grew("alo_delivery_failed_posts_total") == 1
    assert value(after, "alo_deliveries_pending") == 0
    # Every command was committed in some transaction; the histograms count them all.
    commits = grew("alo_commits_total")
    assert 1 <= commits <= grew("alo_commands_total", command="Start") * 10
    assert grew("alo_commit_batch_size_count") == commits
    assert grew("alo_commit_seconds_count") == commits
    assert value(after, "alo_commit_batch_size_bucket", le="+Inf") == value(
        after, "alo_commit_batch_size_count"
    )
    assert grew("alo_commit_batch_size_sum") >= commits
    assert value(after, "alo_commit_seconds_sum") > 0


def test_open_long_polls_are_a_gauge(http: httpx.Client, observed: Served, new_id: str) -> None:
    assert http.post("/v1/alos", json={"id": new_id}).status_code == 201
    with httpx.Client(base_url=observed.base_url, headers=AUTH, timeout=30) as poller:
        import threading

        answers: list[int] = []
        poll = threading.Thread(
            target=lambda: answers.append(
                poller.get(f"/v1/alos/{new_id}/result", params={"wait": "20s"}).status_code
            )
        )
        poll.start()
        wait_until(lambda: value(scrape(http), "alo_long_polls_open") >= 1, what="an open poll")
        assert http.post(f"/v1/alos/{new_id}/complete", json={"result": 1}).status_code == 200
        poll.join(30)
    assert answers == [200]
    wait_until(lambda: value(scrape(http), "alo_long_polls_open") == 0, what="no open poll")


def test_json_logs_name_the_alo(
    http: httpx.Client, observed: Served, receiver: Receiver, new_id: str
) -> None:
    refused = [receiver.url("/refuses")]
    assert http.post("/v1/alos", json={"id": new_id, "result_urls": refused}).status_code == 201
    assert http.get(f"/v1/alos/{new_id}").status_code == 200
    assert http.post(f"/v1/alos/{new_id}/cancel", json={}).status_code == 200

    def lines_about() -> list[dict[str, object]]:
        entries = [json.loads(line) for line in observed.output.splitlines() if line.strip()]
        return [e for e in entries if e.get("alo_id") == new_id]

    # The access lines of the two requests with the id in their path, and the
    # dispatcher's warning when the receiver refused the outcome.
    wait_until(lambda: len(lines_about()) == 3, what="the lines about the ALO")
    loggers = sorted(str(entry["logger"]) for entry in lines_about())
    assert loggers == ["alo_actor.delivery", "uvicorn.access", "uvicorn.access"]
    for entry in lines_about():
        assert {"time", "level", "logger", "message"} <= set(entry)
    # Every line of the log is JSON, uvicorn's own included.
    for line in observed.output.splitlines():
        if line.strip():
            json.loads(line)
