"""``alo serve --db postgresql://…``: the service over a real PostgreSQL server."""

from __future__ import annotations

import re
import signal
from pathlib import Path

from tests.http.conftest import GREETING_APP, Served


def test_serve_over_postgres_survives_a_sigkill(pg_url: str, tmp_path: Path) -> None:
    server = Served(tmp_path / "served.db", ["--app", GREETING_APP], location=pg_url).start()
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
            # What reads the log itself, beside the API: readiness, metrics, the console.
            assert client.get("/readyz").status_code == 200
            metrics = client.get("/metrics").text
            assert 'alo_alos{status="completed"} 2.0' in metrics, metrics
            page = client.get("/ui/log")
            assert page.status_code == 200, page.text
            assert len(re.findall(r'<rect class="bar" x=', page.text)) == 60 + 1
            png = client.get("/ui/log/lifetimes.png")
            assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    finally:
        server.stop()
