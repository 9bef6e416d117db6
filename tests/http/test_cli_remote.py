"""``alo start/info/result/complete/fail/cancel/pause/resume/ls`` against a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.http.conftest import GREETING_APP, REPO, Served, free_port
from tests.http.support import RFC3339

WAIT = "10s"


def alo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from alo_actor.cli import main; main()", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def as_json(done: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(done))


def test_the_verbs_drive_one_alo_from_start_to_result(served: Served, new_id: str) -> None:
    url = ("--url", served.base_url)
    started = ok(alo("start", new_id, "greeting", "--input", '{"name": "Ada"}', *url))
    assert started.splitlines()[0] == "started"
    assert f"id           {new_id}" in started
    assert as_json(alo("result", new_id, "--wait", WAIT, *url)) == {"greeting": "Hello, Ada!"}
    again = ok(alo("start", new_id, "greeting", "--input", '{"name": "Ada"}', *url))
    assert again.startswith("unchanged")
    info = as_json(alo("info", new_id, "--json", *url))
    with httpx.Client(base_url=served.base_url) as http:
        assert info == http.get(f"/v1/alos/{new_id}").json()  # the API's own body
    assert info["status"] == "completed" and RFC3339.match(info["created_at"])


def test_an_external_alo_through_pause_resume_complete(served: Served, new_id: str) -> None:
    env = {"ALO_URL": served.base_url}  # the URL from the environment
    meta = ("--metadata", "team=billing", "--metadata", f"run={new_id}")
    assert as_json(alo("start", new_id, *meta, "--timeout", "1h", "--json", env=env))["deadline"]
    assert as_json(alo("pause", new_id, "--json", env=env))["status"] == "paused"
    assert as_json(alo("resume", new_id, "--json", env=env))["status"] == "running"
    done = as_json(
        alo(
            "complete",
            new_id,
            "--result",
            '{"ok": true}',
            "--result-metadata",
            "k=v",
            "--json",
            env=env,
        )
    )
    assert (done["status"], done["result_metadata"]) == ("completed", {"k": "v"})
    assert as_json(alo("result", new_id, env=env)) == {"ok": True}
    listed = as_json(alo("ls", "--metadata", f"run={new_id}", "--json", env=env))
    assert [a["id"] for a in listed["alos"]] == [new_id] and listed["next_cursor"] is None
    table = ok(alo("ls", "--metadata", f"run={new_id}", env=env)).splitlines()
    assert table[0].split()[:2] == ["ID", "STATUS"] and table[1].split()[:2] == [
        new_id,
        "completed",
    ]


@pytest.mark.parametrize(
    ("settle", "status"),
    [
        (("fail", "{id}", "card declined", "--type", "PaymentError"), "failed"),
        (("cancel", "{id}", "--reason", "user asked"), "cancelled"),
    ],
)
def test_an_unsuccessful_result_exits_1_with_its_failure(
    served: Served, new_id: str, settle: tuple[str, ...], status: str
) -> None:
    url = ("--url", served.base_url)
    ok(alo("start", new_id, *url))
    ok(alo(*(a.replace("{id}", new_id) for a in settle), *url))
    shown = alo("result", new_id, *url)
    assert shown.returncode == 1
    assert shown.stderr.startswith(f"alo result: {new_id} {status}:")
    failure = json.loads(alo("result", new_id, "--json", *url).stdout)
    assert set(failure) >= {"message", "metadata", "details"}
    assert failure["message"] in ("card declined", "user asked")


def test_a_wait_that_runs_out_exits_1(served: Served, new_id: str) -> None:
    url = ("--url", served.base_url)
    ok(alo("start", new_id, *url))
    shown = alo("result", new_id, "--wait", "200ms", *url)
    assert shown.returncode == 1 and "did not settle" in shown.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("info", "{id}-missing"), "no ALO with id"),
        (("start", "{id}", "no-such-operation"), "no handler is registered"),
        (("start", "{id}", "--input", "{not json"), "--input is not JSON"),
        (("start", "{id}", "--timeout", "soon"), "--timeout must be a duration"),
        (("start", "{id}", "--metadata", "novalue"), "KEY=VALUE"),
        (("info", "has space"), "id may not contain whitespace"),
        (("ls", "--limit", "0"), "limit"),
    ],
)
def test_refusals_are_one_line_and_exit_2(
    served: Served, new_id: str, args: tuple[str, ...], message: str
) -> None:
    shown = alo(*(a.replace("{id}", new_id) for a in args), "--url", served.base_url)
    assert shown.returncode == 2, shown.stdout + shown.stderr
    assert message in shown.stderr and "Traceback" not in shown.stderr
    assert len(shown.stderr.strip().splitlines()) == 1


def test_a_server_that_is_not_there(new_id: str) -> None:
    shown = alo("info", new_id, "--url", f"http://127.0.0.1:{free_port()}")
    assert shown.returncode == 2
    assert "cannot reach" in shown.stderr and "alo serve" in shown.stderr
    assert "Traceback" not in shown.stderr


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    db = tmp_path_factory.mktemp("cli-guarded") / "alo.db"
    server = Served(db, ["--app", GREETING_APP, "--token", "t0ken"]).start()
    try:
        yield server
    finally:
        server.stop()


def test_the_token_from_the_option_or_the_environment(guarded: Served, new_id: str) -> None:
    url = ("--url", guarded.base_url)
    refused = alo("info", new_id, *url)
    assert refused.returncode == 2 and "bearer token" in refused.stderr
    ok(alo("start", new_id, *url, "--token", "t0ken"))
    assert as_json(alo("info", new_id, "--json", *url, env={"ALO_TOKEN": "t0ken"}))["id"] == new_id


def test_ls_of_a_file_and_of_its_server_print_the_same_json(served: Served, new_id: str) -> None:
    meta = f"run={new_id}"
    with httpx.Client(base_url=served.base_url) as http:
        for n in range(3):
            body = {"id": f"{new_id}-{n}", "metadata": {"run": new_id}}
            assert http.post("/v1/alos", json=body).status_code == 201
        api = http.get("/v1/alos", params={"metadata.run": new_id}).json()
    from_server = as_json(alo("ls", "--url", served.base_url, "--metadata", meta, "--json"))
    from_file = as_json(
        alo("ls", str(served.db), "--metadata", meta, "--json", env={"ALO_URL": "http://x"})
    )
    both = alo("ls", str(served.db), "--url", served.base_url)
    assert both.returncode == 2 and "not both" in both.stderr
    assert from_server == api
    assert {k: v for k, v in from_file.items() if k != "next_cursor"} == {"alos": api["alos"]}
