"""``alo serve`` as a process: the greeting example, restarts, shutdown, token, allow-list."""

from __future__ import annotations

import inspect
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from alo_actor.cli._serve import serve
from tests.http.conftest import GREETING_APP, REPO, Lane, Served


def test_greeting_end_to_end(served: Served) -> None:
    """The design note's example: start, info, result, with the handler from ``--app``."""
    with served.client() as client:
        started = client.post(
            "/v1/alos", json={"id": "greet-ada", "operation": "greeting", "input": {"name": "Ada"}}
        )
        assert started.status_code in (200, 201), started.text
        info = client.get("/v1/alos/greet-ada").json()
        assert info["operation"] == "greeting" and info["attempt"] == 1
        result = client.get("/v1/alos/greet-ada/result", params={"wait": "10s"})
        assert result.status_code == 200
        assert result.json()["result"] == {"greeting": "Hello, Ada!"}
        assert client.get("/v1/alos/greet-ada").json()["status"] == "completed"


def test_alos_outlive_a_restart(tmp_path: Path) -> None:
    server = Served(tmp_path / "alo.db", ["--app", GREETING_APP]).start()
    try:
        with server.client() as client:
            client.post(
                "/v1/alos", json={"id": "g", "operation": "greeting", "input": {"name": "X"}}
            )
            assert client.get("/v1/alos/g/result", params={"wait": "10s"}).status_code == 200
            client.post("/v1/alos", json={"id": "open", "metadata": {"k": "v"}})
            client.post("/v1/alos", json={"id": "done"})
            client.post("/v1/alos/done/complete", json={"result": [1, "two"]})
            client.post("/v1/alos", json={"id": "bad"})
            client.post("/v1/alos/bad/fail", json={"message": "nope", "metadata": {"type": "E"}})
            before = {i: client.get(f"/v1/alos/{i}").json() for i in ("g", "open", "done", "bad")}

        server.restart()

        with server.client() as client:
            after = {i: client.get(f"/v1/alos/{i}").json() for i in ("g", "open", "done", "bad")}
            assert after == before
            assert [a["status"] for a in after.values()] == [
                "completed",
                "running",
                "completed",
                "failed",
            ]
            assert client.get("/v1/alos/g/result").json()["result"] == {"greeting": "Hello, X!"}
            assert client.get("/v1/alos/done/result").json()["result"] == [1, "two"]
            assert client.get("/v1/alos/bad/result").status_code == 424
            # The running one can still be settled, and ids stay taken.
            client.post("/v1/alos/open/complete", json={"result": "late"})
            assert client.get("/v1/alos/open/result").json()["result"] == "late"
            assert client.post("/v1/alos", json={"id": "done", "input": 1}).status_code == 409
    finally:
        server.stop()


def test_a_client_abandoning_a_long_poll_leaves_the_server_healthy(
    served: Served, lane: Lane
) -> None:
    with served.client() as client:
        assert client.post("/v1/alos", json={"id": "abandoned"}).status_code in (200, 201)
        for _ in range(5):
            with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
                sock.sendall(
                    b"GET /v1/alos/abandoned/result?wait=30s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                )
                # The lane logs as it begins the wait: the server waits on the ALO now.
                lane.wait_for("answered GET /v1/alos/abandoned/result")
        assert client.get("/healthz").status_code == 200
        assert client.get("/v1/alos/abandoned/result", params={"wait": "200ms"}).status_code == 408
        done = client.post("/v1/alos/abandoned/complete", json={"result": "fine"})
        assert done.json()["status"] == "completed"
        assert client.get("/v1/alos/abandoned/result").json()["result"] == "fine"
    assert "Traceback" not in served.output


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_ends_long_polls_then_closes_the_system(tmp_path: Path, sig: int) -> None:
    server = Served(tmp_path / "alo.db", lane=True).start()
    with server.client() as client:
        assert client.post("/v1/alos", json={"id": "pending"}).status_code == 201
    lane = Lane(server)
    answers: list[httpx.Response] = []

    def long_poll() -> None:
        with server.client() as client:
            answers.append(client.get("/v1/alos/pending/result", params={"wait": "50s"}))

    poller = threading.Thread(target=long_poll)
    poller.start()
    # The lane logs as it begins the wait, and the poll is registered with the
    # service before the server's loop runs anything else: the signal must end it.
    lane.wait_for("answered GET /v1/alos/pending/result")
    began = time.monotonic()
    status = server.stop(sig)
    poller.join(10)
    assert time.monotonic() - began < 15
    assert status in (0, 1, -sig, 128 + sig), server.output
    assert [a.status_code for a in answers] == [408]
    assert "shutting down" in answers[0].json()["message"]
    assert "Traceback" not in server.output

    server.start()  # the log was closed cleanly: it opens again with the ALO in it
    try:
        with server.client() as client:
            assert client.get("/v1/alos/pending").json()["status"] == "running"
    finally:
        server.stop()


@pytest.mark.parametrize("how", ["option", "env"])
def test_bearer_token(tmp_path: Path, how: str) -> None:
    if how == "option":
        server = Served(tmp_path / "alo.db", ["--token", "s3cret"])
    else:
        server = Served(tmp_path / "alo.db", env={"ALO_TOKEN": "s3cret"})
    server.start()
    try:
        with server.client() as anonymous:
            assert anonymous.get("/healthz").status_code == 200
            assert anonymous.get("/readyz").status_code == 200
            # The document holds no data, and a browser opening it sends no token.
            assert anonymous.get("/schema/openapi.json").status_code == 200
            for method, path in [
                ("POST", "/v1/alos"),
                ("GET", "/v1/alos/x"),
                ("GET", "/v1/alos/x/result"),
                ("GET", "/v1/alos/x/result?wait=1s"),
                ("GET", "/v1/alos/x/events"),
                ("POST", "/v1/alos/x/cancel"),
                # Before routing: an outsider learns nothing of which routes exist.
                ("GET", "/no/such/route"),
                ("DELETE", "/v1/alos/x"),
                ("HEAD", "/v1/alos/x"),
                ("OPTIONS", "/v1/alos"),
                ("PUT", "/healthz/x"),
            ]:
                response = anonymous.request(method, path, json={"id": "x"})
                assert response.status_code == 401, (method, path)
                if method != "HEAD":
                    assert response.json()["metadata"]["type"] == "Unauthorized"
                assert response.headers["WWW-Authenticate"] == "Bearer"
            wrong = anonymous.get("/v1/alos/x", headers={"Authorization": "Bearer s3cre"})
            assert wrong.status_code == 401
            basic = anonymous.get("/v1/alos/x", headers={"Authorization": "Basic s3cret"})
            assert basic.status_code == 401
        with server.client(headers={"Authorization": "Bearer s3cret"}) as client:
            assert client.post("/v1/alos", json={"id": "x"}).status_code == 201
            assert client.get("/v1/alos/x").status_code == 200
            assert client.get("/schema/openapi.json").status_code == 200
            # With the token, routing answers as it does without one configured.
            assert client.get("/no/such/route").status_code == 404
            assert client.delete("/v1/alos/x").status_code == 405
    finally:
        server.stop()


def test_allow_listed_callback_hosts_and_the_wait_cap(tmp_path: Path) -> None:
    # Only addresses on this machine: URLs of external promises, never settled, so
    # nothing is posted anywhere; the refused ones are refused at start.
    server = Served(
        tmp_path / "alo.db", ["--allow-callback-host", "127.0.0.2", "--max-wait", "0.5"]
    ).start()
    try:
        with server.client() as client:

            def start(alo_id: str, url: str) -> httpx.Response:
                return client.post("/v1/alos", json={"id": alo_id, "result_urls": [url]})

            assert start("a", "http://127.0.0.2:9/hook").status_code == 201
            assert start("b", "http://127.0.0.1:9/hook").status_code == 201  # loopback stays
            refused = start("c", "http://127.0.0.3:9/hook")
            assert refused.status_code == 400
            assert "127.0.0.3" in refused.json()["message"]
            assert client.get("/v1/alos/c").status_code == 404

            began = time.monotonic()
            assert client.get("/v1/alos/a/result", params={"wait": "30s"}).status_code == 408
            # Capped: the client's own 10 s timeout would end a 30 s wait first.
            assert time.monotonic() - began > 0.4
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("app", "complaint"),
    [
        ("tests.http.no_such_module:register", "cannot import"),
        ("tests.http.greeting_app:no_such_name", "no attribute"),
        ("no-colon", "module:callable"),
    ],
)
def test_a_bad_app_reference_stops_serve_at_once(tmp_path: Path, app: str, complaint: str) -> None:
    server = Served(tmp_path / "alo.db", ["--app", app])
    finished = subprocess.run(
        server.command(), cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert finished.returncode != 0
    assert complaint in finished.stderr + finished.stdout


def test_an_app_that_fails_at_startup_exits_with_status_3(tmp_path: Path) -> None:
    module = tmp_path / "broken_app.py"
    module.write_text("def register(system):\n    raise RuntimeError('no handlers today')\n")
    server = Served(tmp_path / "alo.db", ["--app", "broken_app:register"])
    finished = subprocess.run(
        server.command(), cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert finished.returncode == 3
    assert "no handlers today" in finished.stderr


def test_serve_defaults_follow_the_spec() -> None:
    parameters: dict[str, Any] = {
        name: p.default for name, p in inspect.signature(serve).parameters.items()
    }
    assert parameters["host"] == "127.0.0.1"
    assert parameters["port"] == 8080
    assert parameters["db"] == "alo.db"
    help_text = subprocess.run(
        [sys.executable, "-c", "from alo_actor.cli import main; main()", "serve", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    for option in ("--db", "--host", "--port", "--token", "--allow-callback-h", "--app"):
        assert option in help_text
