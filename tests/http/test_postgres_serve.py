"""``alo serve --db postgresql://…``: the service over a real PostgreSQL server."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.http.conftest import GREETING_APP, Served


class ServedOnPostgres(Served):
    """``alo serve`` over a log in PostgreSQL (its output kept in ``tmp``)."""

    def __init__(self, url: str, tmp: Path) -> None:
        super().__init__(tmp / "served.db", ["--app", GREETING_APP])
        self.url = url

    def command(self) -> list[str]:
        command = super().command()
        command[command.index("--db") + 1] = self.url
        return command


def test_serve_over_postgres_survives_a_sigkill(pg_url: str, tmp_path: Path) -> None:
    server = ServedOnPostgres(pg_url, tmp_path).start()
    try:
        with server.client() as client:
            started = client.post(
                "/v1/alos", json={"id": "g", "operation": "greeting", "input": {"name": "Pg"}}
            )
            assert started.status_code == 201, started.text
            result = client.get("/v1/alos/g/result", params={"wait": "10s"})
            assert result.json()["result"] == {"greeting": "Hello, Pg!"}
            assert client.post("/v1/alos", json={"id": "open"}).status_code == 201
            listed = client.get("/v1/alos", params={"status": "running"}).json()
            assert [info["id"] for info in listed["alos"]] == ["open"]
        server.stop(signal.SIGKILL)  # every acknowledged commit is on disk already
        server.start()
        with server.client() as client:
            assert client.get("/v1/alos/g").json()["status"] == "completed"
            assert client.post("/v1/alos/open/complete", json={"result": 1}).status_code == 200
            assert client.get("/v1/alos/open/result").json()["result"] == 1
            assert client.post("/v1/alos", json={"id": "g"}).status_code == 409
    finally:
        server.stop()
